"""Helpers shared by the clinical scoring tests."""

from __future__ import annotations

from typing import Any


def sledai_records(
    day: float, items: list[str] | tuple[str, ...]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """SLEDAI findings and laboratory results at ``day`` that give the listed SLEDAI-2K items.

    Complement and anti-dsDNA come from laboratory results below and above their limits,
    proteinuria from a urine protein of 0.9 g/24h (above the SLEDAI-2K 0.5 g/24h); every other
    item is a finding attributed to lupus (an arthritis with four inflamed joints).
    """
    findings: list[dict[str, Any]] = []
    labs: list[dict[str, Any]] = []
    for item in items:
        if item == "low_complement":
            labs.append(
                {
                    "test": "C3",
                    "value": 0.5,
                    "unit": "g/L",
                    "ref_low": 0.9,
                    "time": day,
                    "attribution": "sle",
                }
            )
        elif item == "increased_dna_binding":
            labs.append(
                {
                    "test": "DSDNAAB",
                    "value": 90,
                    "unit": "IU/mL",
                    "ref_high": 30,
                    "time": day,
                    "attribution": "sle",
                }
            )
        elif item == "proteinuria":
            labs.append(
                {
                    "test": "PROT",
                    "value": 0.9,
                    "unit": "g/24h",
                    "specimen": "urine",
                    "time": day,
                    "attribution": "sle",
                }
            )
        else:
            findings.append(
                {
                    "descriptor": item,
                    "start": day,
                    "attribution": "sle",
                    **({"joints": 4} if item == "arthritis" else {}),
                }
            )
    return findings, labs


def medication(
    name: str, category: str, start: float, dose: float, dose_unit: str = "mg", **fields: Any
) -> dict[str, Any]:
    """A medication record: ``dose`` in ``dose_unit`` from day ``start``, and any other field
    of the record (``end``, ``frequency``, ``indication``) as given."""
    return {
        "name": name,
        "category": category,
        "start": start,
        "dose": dose,
        "dose_unit": dose_unit,
        **fields,
    }


#: A complete ICE score (10 points), item by item (Lee et al. 2019, ASTCT consensus).
FULL_ICE_ITEMS = {"orientation": 4, "naming": 3, "command": 1, "writing": 1, "attention": 1}
