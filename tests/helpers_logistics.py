"""Logistics that delay and lose no one, shared by the logistics, waiting and pool tests."""

from __future__ import annotations

from typing import Any


def zero_autologous() -> dict[str, Any]:
    """A new ``logistics:`` section of an autologous product that delays and loses no one.

    Apheresis, manufacturing, shipping and conditioning take 0 days and no lot fails release:
    a cohort with these logistics must equal one simulated without logistics.
    """
    return {
        "supply": {
            "apheresis_days": 0,
            "manufacturing_median_days": 0,
            "shipping_days": 0,
            "conditioning_days": 0,
            "release_failure_probability": 0,
        }
    }
