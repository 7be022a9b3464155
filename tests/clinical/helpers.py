"""Helpers shared by the clinical scoring tests."""

from __future__ import annotations

from typing import Any


def sledai_records(
    day: float, items: list[str] | tuple[str, ...]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """SLEDAI findings and laboratory results at ``day`` that give the listed SLEDAI-2K items.

    Complement and anti-dsDNA come from laboratory results below and above their limits; every
    other item is a finding attributed to lupus (an arthritis with four inflamed joints).
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
