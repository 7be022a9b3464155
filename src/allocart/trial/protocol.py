"""The protocol of a virtual trial: a YAML file validated into a frozen object.

A protocol says what an investigator-initiated dose-finding trial would write down: the
product and lymphodepletion regimen, the dose levels, cohort size and maximum sample size, the
dose-finding design and its targets, the DLT definition and window, the schedule of
assessments, the endpoints and their time points, the accrual rate, supportive care (G-CSF)
and, for the simulation, the number of replicate trials and the seed. Every error names the
field and its value and is raised as :class:`~allocart.errors.DesignError`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from allocart.clinical.dlt import DltOptions
from allocart.design import AbstractDesign
from allocart.errors import AllocartError, DesignError
from allocart.files import is_file, load_yaml
from allocart.model import list_products, list_regimens, load_product, load_regimen, parse_dose
from allocart.trial.calendar import Accrual, Calendar
from allocart.trial.designs import (
    SUPPORTED_DESIGNS,
    DesignSpec,
    Utility,
    build_design,
    check_design_options,
)
from allocart.trial.parameter_scenarios import load_parameter_scenario

if TYPE_CHECKING:
    from allocart.model import Dose

__all__ = [
    "Protocol",
    "DesignSpec",
    "DltSpec",
    "Endpoint",
    "Comparator",
    "SupportiveCare",
    "load_protocol",
    "protocol_from_dict",
    "SUPPORTED_DESIGNS",
    "Utility",
    "Accrual",
    "Calendar",
    "ENDPOINTS",
    "SCORE_ENDPOINTS",
    "DAYS_PER_MONTH",
    "DOSE_RANGE_FLAT",
    "DOSE_RANGE_PER_KG",
    "NAME_PATTERN",
    "POOL_VERSION",
]

#: Days in one month of follow-up (365.25 / 12): month 3 is day 91, month 6 day 183.
DAYS_PER_MONTH = 365.25 / 12

#: Endpoints the virtual patients report, with the months at which they are assessed.
ENDPOINTS: dict[str, str] = {
    "sri4": "SLE Responder Index 4 (response yes/no)",
    "doris": "DORIS remission (yes/no)",
    "lldas": "Lupus Low Disease Activity State (yes/no)",
    "sledai2k": "SLEDAI-2K score (points)",
    "b_cell_aplasia": "B cells below the aplasia threshold (yes/no)",
    "anti_dsdna_negative": "anti-dsDNA below the assay cut-off (yes/no)",
    "c3_normal": "C3 within the normal range (yes/no)",
    "flare": "SLE flare (yes/no)",
}

#: Endpoints that are scores rather than yes/no outcomes (reported as means, never as rates).
SCORE_ENDPOINTS = ("sledai2k",)

#: Plausible dose levels, cells. The calibration targets (population/resources/targets.yaml) span
#: 7.5e7 flat (relma-cel, Wang 2025; the KYSA-1 middle level) to 3.6e8 flat (FT819 dose level
#: 1), and 1e6/kg (Erlangen, the pooled review, TyU19) to 3e6/kg (the CD19/BCMA cCAR series).
#: The ranges allow four orders of magnitude below and above those doses, so that dose-finding
#: and negative-control scenarios fit, and refuse typing slips (1e30, "3e8/kg") before any
#: virtual patient is simulated.
DOSE_RANGE_FLAT = (1e3, 1e11)
DOSE_RANGE_PER_KG = (1e2, 1e9)

#: A protocol name names its run folder (runs/<name>): letters, digits, "-", "_" and ".", not
#: starting with "." (no hidden folders, no "..", no path separators), 1-100 characters.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$")

#: Version of how pools are simulated from a protocol; part of :meth:`Protocol.hash`, so that a run
#: folder whose pools were simulated otherwise (version 1: visits on a fixed schedule, not the
#: protocol's ``schedule_days``) is not resumed with them.
POOL_VERSION = 2


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DltSpec(_Frozen):
    """DLT definition: the window and the clinical DLT rules (``allocart.clinical`` ``dlt`` options)."""

    window_days: int = Field(28, ge=1, le=180)
    rules: dict[str, Any] = Field(
        default_factory=dict, description="Options of the clinical `dlt` standard."
    )

    @field_validator("rules")
    @classmethod
    def _rules(cls, v: dict[str, Any]) -> dict[str, Any]:

        try:
            DltOptions(**v)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(x) for x in err["loc"])
            raise ValueError(f"rule {loc!r}: {err['msg']} (got {err.get('input')!r})") from None
        return dict(v)

    def options(self) -> dict[str, Any]:
        """The clinical DLT options: the rules, with the window's last day set."""
        return {**self.rules, "window_end_day": self.window_days}


class Endpoint(_Frozen):
    """An endpoint and the months at which it is assessed."""

    name: str
    months: tuple[int, ...] = (3, 6)

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in ENDPOINTS:
            raise ValueError(f"must be one of {', '.join(ENDPOINTS)}, got {v!r}")
        return v

    @field_validator("months")
    @classmethod
    def _months(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v:
            raise ValueError("give at least one month")
        bad = [m for m in v if not 1 <= m <= 12]
        if bad:
            raise ValueError(f"assessment months must lie in 1..12, got {bad[0]!r}")
        twice = sorted({m for m in v if list(v).count(m) > 1})
        if twice:
            raise ValueError(
                f"month {twice[0]} is given twice in {list(v)!r}; give each month once"
            )
        return tuple(sorted(v))

    def columns(self) -> list[str]:
        """Column names ``<name>_m<month>`` in the patient outcomes."""
        return [f"{self.name}_m{m}" for m in self.months]


def _check_doses(v: Any) -> Any:
    """Dose levels: readable, all flat or all per kg, plausible, strictly increasing."""

    if not isinstance(v, (list, tuple)):
        raise ValueError(f"must be a list of doses such as ['3e8', '4.5e8'], got {v!r}")
    out = []
    parsed: list[tuple[str | int | float, Dose]] = []
    for x in v:
        if isinstance(x, bool) or not isinstance(x, (str, int, float)):
            raise ValueError(f"dose {x!r} must be a number of cells such as '3e8' or '1e6/kg'")
        try:
            dose = parse_dose(x)
        except AllocartError as exc:
            raise ValueError(f"dose {_short(x)} cannot be read: {exc}") from None
        except OverflowError:  # an integer beyond the largest float
            raise ValueError(
                f"dose {_short(x)} lies outside the plausible range; check the exponent"
            ) from None
        lo, hi = DOSE_RANGE_PER_KG if dose.per_kg else DOSE_RANGE_FLAT
        unit = "cells/kg" if dose.per_kg else "cells (flat)"
        if not lo <= dose.value <= hi:
            raise ValueError(
                f"dose {x!r} lies outside the plausible range {lo:g} to {hi:g} {unit}; "
                "check the exponent"
            )
        if parsed and dose.per_kg != parsed[0][1].per_kg:
            first = parsed[0][0]
            raise ValueError(
                f"dose {x!r} mixes units with {first!r}: give every level flat ('3e8') or "
                "every level per kg ('1e6/kg')"
            )
        if parsed and not dose.value > parsed[-1][1].value:
            raise ValueError(
                f"dose {x!r} does not increase on {parsed[-1][0]!r}: dose levels must "
                "increase strictly"
            )
        parsed.append((x, dose))
        out.append(str(x))
    return tuple(out)


def _short(v: Any, limit: int = 80) -> str:
    """``repr(v)``, cut to ``limit`` characters (a 300-character name in a one-line error)."""
    text = repr(v)
    return text if len(text) <= limit else f"{text[: limit - 4]}...' ({len(str(v))} characters)"


def _check_named_or_file(
    v: str, kind: str, names: Sequence[str], load: Callable[[str], object]
) -> str:
    """``v`` if it is the name of a built-in ``kind`` or a ``kind`` YAML file that ``load``
    reads and validates (now, not in the middle of the run); else ValueError (one line)."""
    if v in names:
        return v
    if not is_file(v):
        raise ValueError(
            f"must be a built-in {kind} ({', '.join(names)}) or a {kind} YAML file, got {_short(v)}"
        )
    try:
        load(v)
    except AllocartError as exc:
        raise ValueError(" ".join(str(exc).split())) from None
    return v


def _check_product(v: str) -> str:
    return _check_named_or_file(v, "product", list_products(), load_product)


def _check_regimen(v: str) -> str:
    return _check_named_or_file(v, "regimen", list_regimens(), load_regimen)


class Comparator(_Frozen):
    """Another product or regimen, run under the same design on the same virtual patients."""

    label: str = Field(..., min_length=1, max_length=80)
    product: str
    lymphodepletion: str
    dose_levels: tuple[str, ...] | None = Field(
        None, description="Default: the protocol's dose levels."
    )

    _doses = field_validator("dose_levels", mode="before")(
        classmethod(lambda cls, v: None if v is None else _check_doses(v))
    )
    _product = field_validator("product")(classmethod(lambda cls, v: _check_product(v)))
    _regimen = field_validator("lymphodepletion")(classmethod(lambda cls, v: _check_regimen(v)))


class SupportiveCare(_Frozen):
    """Supportive care every patient of every arm receives (passed to the cohort simulation)."""

    gcsf_from_day: int | None = Field(
        None,
        ge=0,
        le=365,
        description="G-CSF whenever ANC < 0.5 x 10^9/L from this day after the infusion; "
        "null: no G-CSF.",
    )

    @field_validator("gcsf_from_day", mode="before")
    @classmethod
    def _day(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError(
                f"must be a day after the infusion (an integer >= 0) or null, got {v!r}"
            )
        return v


class Simulation(_Frozen):
    """How the virtual trial is simulated (not part of a clinical protocol)."""

    replicates: int = Field(1000, ge=1, le=1_000_000, description="Number of replicate trials.")
    seed: int = Field(..., ge=0, description="Seed of everything random.")
    pool_size: int = Field(
        400, ge=20, le=100_000, description="Virtual patients simulated per dose level."
    )
    chunk_size: int = Field(250, ge=1, description="Replicate trials per checkpoint.")
    timecourse_patients: int = Field(
        8, ge=0, le=200, description="Patients per dose level with stored time courses."
    )


class Protocol(_Frozen):
    """A virtual investigator-initiated trial, validated.

    Attributes mirror the YAML keys; see ``docs/trial.md`` for an annotated example.
    """

    name: str = Field(..., description="Names the run folder runs/<name>; see NAME_PATTERN.")
    title: str = ""
    product: str
    lymphodepletion: str
    dose_levels: tuple[str, ...] = Field(..., min_length=1, max_length=10)
    start_dose: int = Field(1, ge=1, description="1-based starting dose level.")
    cohort_size: int = Field(3, ge=1, le=12)
    max_sample_size: int = Field(..., ge=1, le=300)
    design: DesignSpec
    dlt: DltSpec = DltSpec()
    schedule_days: tuple[int, ...] = Field(
        (0, 7, 14, 21, 28, 56, 91, 122, 152, 183),
        description="Days after infusion of the assessments.",
    )
    endpoints: tuple[Endpoint, ...] = (Endpoint(name="sri4"), Endpoint(name="doris"))
    accrual: Accrual = Accrual(per_month=1.0)
    calendar: Calendar = Calendar()
    supportive_care: SupportiveCare = SupportiveCare()
    simulation: Simulation
    comparators: tuple[Comparator, ...] = ()
    uncertainty: bool = Field(
        False,
        description="Also run the nested study with parameter uncertainty (allocart.trial.uncertainty).",
    )
    parameter_scenarios: tuple[str, ...] = Field(
        (),
        max_length=10,
        description="Parameter scenarios run as extra arms: names or YAML files (allocart.trial.parameter_scenarios).",
    )

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, v: Any) -> Any:
        if not isinstance(v, str) or not NAME_PATTERN.match(v):
            raise ValueError(
                "must be 1-100 letters, digits, '-', '_' or '.', not starting with '.' "
                f"(it names the run folder runs/<name>), got {_short(v, 120)}"
            )
        return v

    @field_validator("dose_levels", mode="before")
    @classmethod
    def _doses(cls, v: Any) -> Any:
        return _check_doses(v)

    @field_validator("product")
    @classmethod
    def _product(cls, v: str) -> str:
        return _check_product(v)

    @field_validator("lymphodepletion")
    @classmethod
    def _regimen(cls, v: str) -> str:
        return _check_regimen(v)

    @field_validator("parameter_scenarios")
    @classmethod
    def _parameter_scenarios(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError(f"give each scenario once, got {list(v)!r}")
        for spec in v:
            try:
                load_parameter_scenario(spec)
            except AllocartError as exc:
                raise ValueError(" ".join(str(exc).split())) from None
        return v

    @field_validator("schedule_days")
    @classmethod
    def _schedule(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(d < 0 or d > 365 for d in v):
            raise ValueError(f"days must lie in 0..365, got {list(v)!r}")
        if list(v) != sorted(set(v)):
            raise ValueError(f"days must increase strictly, got {list(v)!r}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Protocol:
        k = len(self.dose_levels)
        if self.start_dose > k:
            raise ValueError(
                f"start_dose: level {self.start_dose} but only {k} dose levels are given"
            )
        if self.max_sample_size % self.cohort_size:
            raise ValueError(
                f"max_sample_size: {self.max_sample_size} is not a multiple of cohort_size {self.cohort_size}"
            )
        if self.max_sample_size < self.cohort_size:
            raise ValueError(
                f"max_sample_size: {self.max_sample_size} is below cohort_size {self.cohort_size}"
            )
        if 0 not in self.schedule_days:
            raise ValueError(
                f"schedule_days: the baseline day 0 is required, got {list(self.schedule_days)!r}"
            )
        seen: dict[str, int] = {}
        for i, ep in enumerate(self.endpoints):
            if ep.name in seen:
                raise ValueError(
                    f"endpoints[{i}].name: {ep.name!r} repeats endpoints[{seen[ep.name]}]; "
                    "give each endpoint once with all its months"
                )
            seen[ep.name] = i
            for m in ep.months:
                day = round(m * DAYS_PER_MONTH)
                if day not in self.schedule_days:
                    raise ValueError(
                        f"endpoints[{i}].months: {ep.name} at month {m} needs an assessment "
                        f"on day {day}, which schedule_days {list(self.schedule_days)} lacks; "
                        f"add day {day} or drop month {m}"
                    )
        self._check_design()
        mf = self.calendar.min_followup_days
        if mf is not None and mf < self.dlt.window_days:
            raise ValueError(
                f"calendar.min_followup_days: {mf} is shorter than the DLT window "
                f"({self.dlt.window_days} days); decisions need complete DLT data"
            )
        return self

    def _check_design(self) -> None:
        """Design options that depend on the rest of the protocol (one line naming the field)."""
        check_design_options(
            self.design,
            cohort_size=self.cohort_size,
            start_dose=self.start_dose,
            max_sample_size=self.max_sample_size,
            n_doses=self.n_doses,
            columns=[c for ep in self.endpoints for c in ep.columns()],
            yes_no=[
                c for ep in self.endpoints if ep.name not in SCORE_ENDPOINTS for c in ep.columns()
            ],
        )
        try:  # the design library's own checks, now rather than when the run starts
            self.make_design()
        except DesignError as exc:
            raise ValueError(str(exc)) from None

    # ------------------------------------------------------------------ derived
    @property
    def n_doses(self) -> int:
        return len(self.dose_levels)

    @property
    def n_cohorts(self) -> int:
        return self.max_sample_size // self.cohort_size

    @property
    def visit_days(self) -> tuple[int, ...]:
        """Post-infusion visit days of the virtual patients: ``schedule_days`` without day 0."""
        return tuple(d for d in self.schedule_days if d > 0)

    @property
    def dlt_window_months(self) -> float:
        return self.dlt.window_days / DAYS_PER_MONTH

    @property
    def response_column(self) -> str | None:
        return self.design.efficacy_endpoint

    @property
    def followup_months(self) -> int:
        """Months of follow-up of each patient (the last endpoint)."""
        return max((m for ep in self.endpoints for m in ep.months), default=0)

    def make_design(self) -> AbstractDesign:
        """The design object of :mod:`allocart.design` this protocol describes."""
        return build_design(
            self.design,
            cohort_size=self.cohort_size,
            n_cohorts=self.n_cohorts,
            start_dose=self.start_dose - 1,
            n_doses=self.n_doses,
        )

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def hash(self) -> str:
        """SHA-256 of the canonical JSON of the protocol (what a run folder is keyed on)."""
        doc = {**self.to_dict(), "_pool_version": POOL_VERSION}
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


#: A key shown as it is in a field's place; any other key (empty, spaces, a line break...) is
#: shown quoted, in brackets, so that the message stays one line and the key stays visible.
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _loc(parts: tuple[Any, ...], *, key: bool = False) -> str:
    """A field's place as the YAML reads: ``endpoints[0].months``, ``comparators[1].product``.

    ``key``: the last part is a mapping key the user wrote (not a list index), shown quoted.
    """
    out = ""
    if parts and parts[-1] == "[key]":  # pydantic's marker of an error of the key itself
        parts, key = parts[:-1], True
    for i, x in enumerate(parts):
        if isinstance(x, int) and not (key and i == len(parts) - 1):
            out += f"[{x}]"
        elif isinstance(x, str) and _PLAIN_KEY.match(x):
            out += f".{x}" if out else x
        else:
            out += f"[{_short(x, 60)}]"
    return out


def _format_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = _loc(err["loc"], key=err["type"] in ("extra_forbidden", "invalid_key"))
        msg = err["msg"].removeprefix("Value error, ")
        if not loc:  # a cross-field rule: its message starts with the field it names
            parts.append(msg)
            continue
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        if err["type"] == "invalid_key":
            parts.append(f"{loc}: a field name must be text such as 'name'")
            continue
        if err["type"] == "missing":
            parts.append(f"{loc}: required field is missing")
            continue
        value = err.get("input")
        if (
            (isinstance(value, dict) and err["type"] != "extra_forbidden")
            or f"got {value!r}" in msg
            or f"got {_short(value)}" in msg
            or (isinstance(value, str) and len(value) > 3 and repr(value) in msg)
        ):
            parts.append(f"{loc}: {msg}")
        else:
            parts.append(f"{loc}: {msg} (got {_short(value)})")
    return "invalid protocol: " + "; ".join(parts)


def protocol_from_dict(data: Any, *, source: str = "protocol") -> Protocol:
    """Validate a parsed YAML mapping into a :class:`Protocol`.

    Raises
    ------
    DesignError
        Naming the first invalid fields and their values.
    """
    if not isinstance(data, dict):
        raise DesignError(f"{source}: a protocol must be a YAML mapping, got {type(data).__name__}")
    try:
        return Protocol.model_validate(data)
    except ValidationError as exc:
        raise DesignError(f"{source}: {_format_error(exc)}") from None


def load_protocol(path: str | Path, *, overrides: dict[str, Any] | None = None) -> Protocol:
    """Read and validate a protocol YAML file.

    Parameters
    ----------
    path : path
        YAML file.
    overrides : dict, optional
        Values replacing those of the file's ``simulation`` section (e.g. ``replicates``).

    Raises
    ------
    DesignError
        If the file is missing, not YAML, or fails validation.
    """
    p = Path(path)
    data = load_yaml(p, what="protocol", error=DesignError)
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if given and isinstance(data, dict):
        sim = data.get("simulation")
        if sim is None:
            sim = {}
        if not isinstance(sim, dict):
            shown = " ".join(repr(sim).split())
            raise DesignError(
                f"{p}: invalid protocol: simulation: must be a mapping such as "
                f"{{replicates: 2000, seed: 1}}, got {shown[:80]}"
            )
        data["simulation"] = {**sim, **given}
    return protocol_from_dict(data, source=str(p))
