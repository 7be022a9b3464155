"""Unit conversion of laboratory values: the cell-count table shared by lab counts and read-outs."""

from __future__ import annotations

import pytest

from allocart.clinical import units

# Exact decimal factors: conversions agree to the 12 significant digits values are rounded to.
REL = 1e-12


@pytest.mark.parametrize(
    ("unit", "per_litre"),
    # The count per litre of each spelling of "one unit", written out independently of the table.
    [
        ("10^9/L", 1e9),
        ("x10*9/L", 1e9),
        ("G/L", 1e9),
        ("10^3/uL", 1e3 * 1e6),
        ("K/uL", 1e3 * 1e6),
        ("/uL", 1e6),
        ("cells/mm3", 1e6),
        ("10^6/L", 1e6),
        ("/mL", 1e3),
    ],
)
def test_cell_counts_convert_to_1e9_per_litre(unit, per_litre):
    for code in ("NEUT", "PLAT", "CD19"):
        got = units.convert(code, None, 2.5, unit)
        assert got == pytest.approx(2.5 * per_litre / 1e9, rel=REL)


def test_one_cell_count_table():
    # Every count analyte reads the same table, the one the data layer's read-outs use.
    for code in ("NEUT", "LYM", "WBC", "PLAT", "CD4", "CD19"):
        assert units.ANALYTES[(code, "blood")].factors is units.CELL_COUNT_UNITS


def test_unknown_unit_refused():
    with pytest.raises(ValueError, match="unit"):
        units.convert("NEUT", None, 1.0, "mg/dL")
