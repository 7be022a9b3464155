"""Decision tables as printed in protocols, and construction of designs by name."""

from __future__ import annotations

from typing import Any

from allocart.design.base import AbstractDesign
from allocart.design.bfboin import BFBOIN
from allocart.design.boin import BOIN
from allocart.design.boin12 import BOIN12
from allocart.design.crm import CRM
from allocart.design.threeplusthree import ThreePlusThree
from allocart.design.tite_boin import TITEBOIN
from allocart.errors import DesignError

__all__ = ["DESIGNS", "make_design", "decision_table"]

DESIGNS: dict[str, type[AbstractDesign]] = {
    "3+3": ThreePlusThree,
    "boin": BOIN,
    "bf-boin": BFBOIN,
    "boin12": BOIN12,
    "tite-boin": TITEBOIN,
    "crm": CRM,
}


def make_design(name: str, **options: Any) -> AbstractDesign:
    """Build a design from its command-line name, dropping options it does not take.

    Raises
    ------
    DesignError
        For an unknown name.
    """
    key = name.lower()
    if key not in DESIGNS:
        raise DesignError(f"`design` must be one of {', '.join(DESIGNS)}; got {name!r}.")
    cls = DESIGNS[key]
    fields = cls.__dataclass_fields__  # type: ignore[attr-defined]
    return cls(**{k: v for k, v in options.items() if k in fields and v is not None})


def decision_table(design: AbstractDesign, n_max: int | None = None) -> list[dict[str, Any]]:
    """Escalate / stay / de-escalate / eliminate by number treated, one row per cohort boundary.

    For BOIN-type designs each row gives, for ``n`` patients treated at the current dose, the DLT
    counts leading to each decision (as the R package ``BOIN`` prints them). For the 3+3 the rows
    are the classic rules.

    Returns
    -------
    list of dict
        Keys ``n``, ``escalate_if_dlts_at_most``, ``deescalate_if_dlts_at_least``,
        ``eliminate_if_dlts_at_least`` (``None`` where no count applies) and ``stay`` (text).
    """
    if isinstance(design, ThreePlusThree):
        return [
            {
                "n": 3,
                "escalate_if_dlts_at_most": 0,
                "stay": "1 (treat 3 more)",
                "deescalate_if_dlts_at_least": 2,
                "eliminate_if_dlts_at_least": 2,
            },
            {
                "n": 6,
                "escalate_if_dlts_at_most": 1,
                "stay": "-",
                "deescalate_if_dlts_at_least": 2,
                "eliminate_if_dlts_at_least": 2,
            },
        ]
    if isinstance(design, BOIN):
        cs = design.cohort_size
        n_max = design.max_patients(0) if n_max is None else n_max
        b = design.boundaries(n_max)
        rows = []
        for n in range(cs, n_max + 1, cs):
            e, d, el = int(b["escalate"][n]), int(b["deescalate"][n]), int(b["eliminate"][n])
            stay = f"{e + 1}-{d - 1}" if d - 1 >= e + 1 else ("-" if d - 1 < e + 1 else str(e + 1))
            if d - 1 == e + 1:
                stay = str(e + 1)
            rows.append(
                {
                    "n": n,
                    "escalate_if_dlts_at_most": e,
                    "stay": stay,
                    "deescalate_if_dlts_at_least": d,
                    "eliminate_if_dlts_at_least": None if el < 0 else el,
                }
            )
        return rows
    raise DesignError(
        f"A decision table is defined for the 3+3 and BOIN-type designs, not for `{design.name}`; "
        "use `allocart design next` for its advice."
    )
