"""CAR-T products and lymphodepletion regimens as named, user-extendable YAML definitions.

A product names its origin (autologous or allogeneic), the antigens its CAR targets and the
gene edits of the donor cells. :meth:`Product.model_parameters` turns those facts into the
model's product parameters by the rules below, each an explicit assumption that a product
file may override under ``parameters:``.

Rejection rules (model-spec §4 and §8.5):

* autologous: no allo-mismatch (``m_allo = 0``), HLA class I present.
* allogeneic, HLA intact: ``m_allo = 1``.
* ``B2M`` knockout removes HLA class I: no CD8 alloreactivity, but NK "missing-self"
  killing (``p_HLAI = 0``); CD4 responses to HLA class II remain (``m_allo = 0.2``).
* ``HLA-A`` and ``HLA-B`` knockouts remove most class I mismatch while HLA-C still inhibits
  NK cells; ``CIITA`` knockout removes class II. Each knockout removes a share of the T-cell
  visible mismatch: HLA-A 0.35, HLA-B 0.35, class I via B2M 0.8, CIITA 0.15.
* ``HLA-E`` expression inhibits NKG2A+ NK cells; ``NKG2A-CAR`` kills them.
* ``TRAC`` knockout removes the donor TCR (GvHD risk); a product without it carries
  ``tcr_residual = 1``.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from allocart.errors import ProductError
from allocart.files import load_yaml, parse_yaml
from allocart.model.logistics import Logistics, default_logistics, with_default_kind

__all__ = [
    "Product",
    "Regimen",
    "DrugCourse",
    "load_product",
    "load_regimen",
    "list_products",
    "list_regimens",
    "KNOWN_EDITS",
    "KNOWN_TARGETS",
]

KNOWN_TARGETS = ("CD19", "CD20", "BCMA")
KNOWN_EDITS = ("TRAC", "B2M", "HLA-A", "HLA-B", "CIITA", "HLA-E", "NKG2A-CAR")
# Share of T-cell-visible allo-mismatch removed by each knockout [assumption, see module doc].
_MISMATCH_REMOVED = {"B2M": 0.8, "HLA-A": 0.35, "HLA-B": 0.35, "CIITA": 0.15}
_PRODUCT_PARAMETERS = (
    "m_allo",
    "p_HLAI",
    "p_HLAE",
    "u_NKG2A",
    "imm_CAR",
    "u19",
    "u20",
    "uB",
    "f_E0",
)


def _format_validation(exc: ValidationError, what: str) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
    value = err.get("input")
    return f"{what}: field `{loc}` = {value!r}: {err['msg']}"


class Product(BaseModel):
    """A CAR-T product.

    Attributes
    ----------
    name : str
        Identifier used on the command line.
    origin : {"autologous", "allogeneic"}
        Where the cells come from.
    targets : list of {"CD19", "CD20", "BCMA"}
        Antigens the CAR recognises (OR gate).
    edits : list of str
        Gene edits of the cells (see ``KNOWN_EDITS``).
    parameters : dict
        Explicit values of product parameters that override the rules.
    logistics : Logistics, optional
        Time to treatment (supply, manufacturing, the wait); None: the defaults of the origin
        (:mod:`allocart.model.logistics`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    origin: Literal["autologous", "allogeneic"]
    targets: tuple[Literal["CD19", "CD20", "BCMA"], ...] = Field(min_length=1)
    edits: tuple[Literal["TRAC", "B2M", "HLA-A", "HLA-B", "CIITA", "HLA-E", "NKG2A-CAR"], ...] = ()
    parameters: dict[str, float] = Field(default_factory=dict)
    tcr_residual: float | None = Field(default=None, ge=0, le=1)
    source: str = "user definition"
    logistics: Logistics | None = None

    @model_validator(mode="before")
    @classmethod
    def _supply_kind_from_origin(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("logistics"), dict):
            origin = str(data.get("origin", ""))
            return {**data, "logistics": with_default_kind(data["logistics"], origin)}
        return data

    @field_validator("parameters")
    @classmethod
    def _known_parameters(cls, v: dict[str, float]) -> dict[str, float]:
        for k, x in v.items():
            if k not in _PRODUCT_PARAMETERS:
                raise ValueError(
                    f"unknown product parameter {k!r}; allowed: {', '.join(_PRODUCT_PARAMETERS)}"
                )
            if not 0 <= x <= 1:
                raise ValueError(f"product parameter {k!r} = {x!r} must lie in [0, 1]")
        return v

    @model_validator(mode="after")
    def _autologous_has_no_edits(self) -> Product:
        if self.origin == "autologous" and self.edits:
            raise ValueError(
                f"an autologous product has no donor edits, got edits={list(self.edits)}"
            )
        return self

    @property
    def is_allogeneic(self) -> bool:
        return self.origin == "allogeneic"

    def model_parameters(self) -> dict[str, float]:
        """Values of the model's product parameters implied by origin, targets and edits."""
        edits = set(self.edits)
        if self.origin == "autologous":
            m_allo = 0.0
        else:
            m_allo = max(
                0.0, 1.0 - sum(_MISMATCH_REMOVED[e] for e in edits if e in _MISMATCH_REMOVED)
            )
        out = {
            "m_allo": round(m_allo, 12),
            "p_HLAI": 0.0 if "B2M" in edits else 1.0,
            "p_HLAE": 1.0 if "HLA-E" in edits else 0.0,
            "u_NKG2A": 1.0 if "NKG2A-CAR" in edits else 0.0,
            "imm_CAR": 1.0,
            "u19": 1.0 if "CD19" in self.targets else 0.0,
            "u20": 1.0 if "CD20" in self.targets else 0.0,
            "uB": 1.0 if "BCMA" in self.targets else 0.0,
        }
        out.update(self.parameters)
        return out

    def time_to_treatment(self) -> Logistics:
        """The product's logistics block, or the defaults of its origin."""
        return self.logistics or default_logistics(self.origin)

    def gvhd_tcr_residual(self) -> float:
        """Share of infused cells carrying a functional donor TCR (0 for autologous)."""
        if self.tcr_residual is not None:
            return self.tcr_residual
        if self.origin == "autologous":
            return 0.0
        # TRAC knockout with TCR-alpha/beta depletion leaves well under 1% TCR+ cells.
        return 0.001 if "TRAC" in self.edits else 1.0


class DrugCourse(BaseModel):
    """One drug of a regimen: a daily dose (mg/m2) on given days relative to infusion."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mg_per_m2_per_day: float = Field(ge=0, allow_inf_nan=False)
    days: tuple[float, ...] = Field(min_length=1)

    @field_validator("days")
    @classmethod
    def _finite_days(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        for d in v:
            if d != d or abs(d) == float("inf"):
                raise ValueError(f"day {d!r} is not finite")
            if d > 0:
                raise ValueError(f"lymphodepletion day {d!r} is after the infusion (day 0)")
        return tuple(sorted(v))


class Regimen(BaseModel):
    """A lymphodepletion regimen (fludarabine and/or cyclophosphamide)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    drugs: dict[Literal["fludarabine", "cyclophosphamide"], DrugCourse] = Field(
        default_factory=dict
    )
    source: str = "user definition"

    def doses(self) -> list[tuple[float, str, float]]:
        """``(day, state, mg/m2)`` for every administration, sorted by day."""
        state = {"fludarabine": "Dflu", "cyclophosphamide": "Dcy"}
        out = [
            (day, state[drug], course.mg_per_m2_per_day)
            for drug, course in self.drugs.items()
            for day in course.days
        ]
        return sorted(out)

    @property
    def first_day(self) -> float:
        days = [d for d, _, _ in self.doses()]
        return min(days) if days else 0.0


def _builtin_dir(kind: str) -> Traversable:
    return resources.files("allocart.model").joinpath(f"resources/{kind}")


def _list(kind: str) -> list[str]:
    return sorted(
        p.name[: -len(".yaml")] for p in _builtin_dir(kind).iterdir() if p.name.endswith(".yaml")
    )


def list_products() -> list[str]:
    """Names of the built-in products."""
    return _list("products")


def list_regimens() -> list[str]:
    """Names of the built-in lymphodepletion regimens."""
    return _list("regimens")


#: Longest product or regimen name accepted (the file-name limit of common file systems).
MAX_NAME_LENGTH = 255


def _load(kind: str, name_or_path: str | Path, cls: type[BaseModel], flag: str) -> BaseModel:
    label = str(name_or_path)
    path = Path(name_or_path)
    if isinstance(name_or_path, Path) or label.endswith((".yaml", ".yml")):
        data = load_yaml(path, what=flag, error=ProductError)  # a path too long is a file error
    else:
        if len(label) > MAX_NAME_LENGTH:
            raise ProductError(
                f"{flag}: {label[:40]!r}... is {len(label)} characters long, over the "
                f"{MAX_NAME_LENGTH} of a name; give a built-in {kind[:-1]} "
                f"({', '.join(_list(kind))}) or the path of a .yaml file",
                argument=flag,
            )
        builtin = _builtin_dir(kind).joinpath(f"{label}.yaml")
        if "/" in label or "\\" in label or not builtin.is_file():
            raise ProductError(
                f"{flag}: unknown {kind[:-1]} {label!r}; built-in: {', '.join(_list(kind))} "
                "(or give a path to a .yaml file)",
                argument=flag,
            )
        text = builtin.read_text(encoding="utf-8")
        data = parse_yaml(text, label=f"{flag}: built-in {label!r}", error=ProductError)
    if not isinstance(data, dict):
        raise ProductError(
            f"{flag}: {label!r} must be a mapping of fields, got {type(data).__name__}",
            argument=flag,
        )
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise ProductError(_format_validation(exc, f"{flag} {label!r}"), argument=flag) from None


def load_product(name_or_path: str | Path) -> Product:
    """Load a built-in product by name or a user product from a YAML file."""
    if isinstance(name_or_path, Product):
        return name_or_path
    return _load("products", name_or_path, Product, "product")  # type: ignore[return-value]


def load_regimen(name_or_path: str | Path) -> Regimen:
    """Load a built-in lymphodepletion regimen by name or a user regimen from YAML."""
    if isinstance(name_or_path, Regimen):
        return name_or_path
    return _load("regimens", name_or_path, Regimen, "ld")  # type: ignore[return-value]
