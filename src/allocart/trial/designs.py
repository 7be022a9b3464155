"""The protocol's ``design:`` section and the design object of :mod:`allocart.design` it names.

A protocol names one of the designs of the design library and its options:

========== ==============================================================================
name       design (options besides ``target``, cohort size, number of cohorts, start dose)
========== ==============================================================================
3+3        :class:`~allocart.design.ThreePlusThree` (``expand_mtd``)
boin       :class:`~allocart.design.BOIN` (``n_earlystop``, ``cutoff_eli``, ``extrasafe``)
bf-boin    :class:`~allocart.design.BFBOIN` (BOIN's, ``backfill_cap``,
           ``backfill_requires_response``)
boin12     :class:`~allocart.design.BOIN12` (``efficacy_target``, ``efficacy_endpoint``,
           ``utility``, ``n_earlystop``)
tite-boin  :class:`~allocart.design.TITEBOIN` (BOIN's, ``max_pending_fraction``)
crm        :class:`~allocart.design.CRM` (``skeleton``, ``prior_sd``, ``stop_cutoff``)
========== ==============================================================================

An option given to a design that does not use it is refused, naming the option and the design,
so that a protocol never carries a setting that silently does nothing.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from allocart.design import BFBOIN, BOIN, BOIN12, CRM, TITEBOIN, AbstractDesign, ThreePlusThree
from allocart.errors import DesignError

__all__ = [
    "DesignSpec",
    "Utility",
    "SUPPORTED_DESIGNS",
    "DESIGN_OPTIONS",
    "build_design",
    "check_design_options",
]

#: Designs a protocol may name (the design library's names).
SUPPORTED_DESIGNS = ("3+3", "boin", "bf-boin", "boin12", "tite-boin", "crm")

_BOIN_OPTIONS = ("n_earlystop", "cutoff_eli", "extrasafe")

#: The 3+3's DLT target when none is given: 1/3, the rate its rules are built around (Storer
#: 1989); it only marks overdosing in the results.
THREE_PLUS_THREE_TARGET = 1.0 / 3.0

#: Options (besides ``name`` and ``target``) that each design uses.
DESIGN_OPTIONS: dict[str, tuple[str, ...]] = {
    "3+3": ("expand_mtd",),
    "boin": _BOIN_OPTIONS,
    "bf-boin": (*_BOIN_OPTIONS, "backfill_cap", "backfill_requires_response"),
    "boin12": ("efficacy_target", "efficacy_endpoint", "utility", "n_earlystop"),
    "tite-boin": (*_BOIN_OPTIONS, "max_pending_fraction"),
    "crm": ("skeleton", "prior_sd", "stop_cutoff"),
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Utility(_Frozen):
    """BOIN12 utilities (0-100) of the four (response, DLT) outcomes."""

    response_no_dlt: int = Field(100, description="Fixed at 100 by BOIN12.")
    response_dlt: int = Field(60, ge=0, le=100)
    no_response_no_dlt: int = Field(40, ge=0, le=100)
    no_response_dlt: int = Field(0, description="Fixed at 0 by BOIN12.")

    @model_validator(mode="after")
    def _fixed_ends(self) -> Utility:
        if self.response_no_dlt != 100:
            raise ValueError(
                f"response_no_dlt is fixed at 100 by BOIN12, got {self.response_no_dlt!r}"
            )
        if self.no_response_dlt != 0:
            raise ValueError(
                f"no_response_dlt is fixed at 0 by BOIN12, got {self.no_response_dlt!r}"
            )
        return self


class DesignSpec(_Frozen):
    """The dose-finding design and its options (see the module docstring for which design uses which)."""

    name: str = Field(..., description="One of 3+3, boin, bf-boin, boin12, tite-boin, crm.")
    target: float | None = Field(
        None,
        gt=0,
        lt=0.7,
        description="Target (highest acceptable) DLT probability; the 3+3 uses it only to "
        "report overdosing (default 1/3 there), every other design needs it.",
    )
    efficacy_target: float | None = Field(
        None, gt=0, lt=1, description="BOIN12: lowest acceptable response probability (phi_E)."
    )
    efficacy_endpoint: str | None = Field(
        None, description="BOIN12: the response used for dosing decisions, e.g. doris_m6."
    )
    utility: Utility | None = Field(None, description="BOIN12 utilities.")
    n_earlystop: int | None = Field(
        None, ge=1, description="BOIN family, BOIN12: stop once this many are treated at a dose."
    )
    cutoff_eli: float | None = Field(
        None, gt=0.5, lt=1, description="BOIN family: posterior probability eliminating a dose."
    )
    extrasafe: bool | None = Field(None, description="BOIN family: extra-safe stopping rule.")
    expand_mtd: bool | None = Field(
        None, description="3+3: six patients at a dose before it is declared the MTD."
    )
    backfill_cap: int | None = Field(
        None, ge=0, le=60, description="BF-BOIN: most patients at a dose for backfilling to go on."
    )
    backfill_requires_response: bool | None = Field(
        None, description="BF-BOIN: backfill a dose only after a response there."
    )
    max_pending_fraction: float | None = Field(
        None, ge=0, le=1, description="TITE-BOIN: suspend accrual above this pending fraction."
    )
    skeleton: tuple[float, ...] | None = Field(
        None, description="CRM: prior DLT probabilities, one per dose level, increasing."
    )
    prior_sd: float | None = Field(None, gt=0, le=10, description="CRM: prior SD of a.")
    stop_cutoff: float | None = Field(
        None, gt=0.5, lt=1, description="CRM: stop when Pr(p_1 > target) exceeds it."
    )

    @model_validator(mode="before")
    @classmethod
    def _three_plus_three_target(cls, data: Any) -> Any:
        """The 3+3's target defaults to 1/3 (used only to report overdosing), as in the library."""
        if (
            isinstance(data, dict)
            and isinstance(data.get("name"), str)
            and data["name"].lower() == "3+3"
            and data.get("target") is None
        ):
            return {**data, "target": THREE_PLUS_THREE_TARGET}
        return data

    @field_validator("name", mode="before")
    @classmethod
    def _known(cls, v: Any) -> Any:
        key = str(v).lower() if isinstance(v, str) else v
        if key not in SUPPORTED_DESIGNS:
            raise ValueError(f"{v!r} is not one of {', '.join(SUPPORTED_DESIGNS)}")
        return key


#: Every design option, in the order they are checked.
DESIGN_OPTIONS_ALL = tuple(dict.fromkeys(o for opts in DESIGN_OPTIONS.values() for o in opts))


def check_design_options(
    spec: DesignSpec,
    *,
    cohort_size: int,
    start_dose: int,
    max_sample_size: int,
    n_doses: int,
    columns: list[str],
    yes_no: list[str],
) -> None:
    """Refuse an option the design does not use, a missing target, and settings of the protocol
    the design cannot run with.

    Parameters
    ----------
    spec : DesignSpec
    cohort_size, start_dose, max_sample_size, n_doses : int
        The protocol's (``start_dose`` 1-based).
    columns, yes_no : list of str
        The protocol's endpoint columns, and those that are yes/no outcomes.

    Raises
    ------
    ValueError
        One line starting with the field, e.g. ``design.backfill_cap: only bf-boin use it, ...``
        (a protocol-level rule, so that the message names the field as the YAML reads).
    """
    used = DESIGN_OPTIONS[spec.name]
    for field in DESIGN_OPTIONS_ALL:
        if getattr(spec, field) is not None and field not in used:
            users = [n for n, opts in DESIGN_OPTIONS.items() if field in opts]
            raise ValueError(
                f"design.{field}: only {', '.join(users)} use it, the design is {spec.name!r}"
            )
    if spec.target is None and spec.name != "3+3":
        raise ValueError(f"design.target: {spec.name} needs the target DLT probability")
    if spec.target is not None and spec.target * 1.4 >= 1 and spec.name not in ("crm", "3+3"):
        raise ValueError(f"design.target: {spec.target!r} must be below 1/1.4 for BOIN boundaries")
    if spec.name == "boin12":
        if spec.efficacy_target is None:
            raise ValueError(
                "design.efficacy_target: BOIN12 needs the lowest acceptable response rate"
            )
        if spec.efficacy_endpoint is None:
            raise ValueError(f"design.efficacy_endpoint: BOIN12 needs one of {columns}")
        if spec.efficacy_endpoint not in yes_no:
            raise ValueError(
                f"design.efficacy_endpoint: {spec.efficacy_endpoint!r} is not a yes/no endpoint "
                f"of this protocol; choose one of {yes_no}"
            )
    if spec.name == "3+3":
        if cohort_size != 3:
            raise ValueError(f"cohort_size: the 3+3 treats cohorts of 3, got {cohort_size}")
        if start_dose != 1:
            raise ValueError(f"start_dose: the 3+3 starts at level 1, got {start_dose}")
        if max_sample_size < 6 * n_doses:
            raise ValueError(
                f"max_sample_size: the 3+3 may treat 6 patients at each of the {n_doses} dose "
                f"levels; give at least {6 * n_doses}, got {max_sample_size}"
            )
    if spec.name == "crm" and spec.skeleton is not None and len(spec.skeleton) != n_doses:
        raise ValueError(
            f"design.skeleton: {len(spec.skeleton)} values for {n_doses} dose levels; "
            "give one per level"
        )


def build_design(
    spec: DesignSpec, *, cohort_size: int, n_cohorts: int, start_dose: int, n_doses: int
) -> AbstractDesign:
    """The design object of :mod:`allocart.design` that ``spec`` describes.

    Parameters
    ----------
    spec : DesignSpec
    cohort_size, n_cohorts : int
        Patients per cohort and most cohorts (``max_sample_size / cohort_size``).
    start_dose : int
        0-based starting dose level.
    n_doses : int
        Number of dose levels (sizes a CRM skeleton).

    Raises
    ------
    DesignError
        Naming ``design`` when the design library refuses the options.
    """
    opts = {f: getattr(spec, f) for f in DESIGN_OPTIONS[spec.name] if getattr(spec, f) is not None}
    common: dict[str, Any] = {
        "target": spec.target,
        "cohort_size": cohort_size,
        "n_cohorts": n_cohorts,
        "start_dose": start_dose,
    }
    try:
        if spec.name == "3+3":
            if cohort_size != 3:
                raise DesignError(f"cohort_size is {cohort_size}; the 3+3 treats cohorts of 3")
            if start_dose != 0:
                raise DesignError("the 3+3 starts at dose level 1: set start_dose to 1")
            target: dict[str, Any] = {} if spec.target is None else {"target": spec.target}
            return ThreePlusThree(**target, **opts)
        if spec.name == "boin12":
            u = opts.pop("utility", None) or Utility()
            opts.pop("efficacy_endpoint", None)
            return BOIN12(
                eff_lower=opts.pop("efficacy_target"),
                u_resp_tox=u.response_dlt,
                u_none=u.no_response_no_dlt,
                **common,
                **opts,
            )
        if spec.name == "crm":
            if "skeleton" in opts and len(opts["skeleton"]) != n_doses:
                raise DesignError(
                    f"skeleton has {len(opts['skeleton'])} values for {n_doses} dose levels"
                )
            return CRM(**common, **opts)
        cls = {"boin": BOIN, "bf-boin": BFBOIN, "tite-boin": TITEBOIN}[spec.name]
        return cls(**common, **opts)
    except DesignError as exc:
        raise DesignError(f"design: {' '.join(str(exc).split())}") from None
