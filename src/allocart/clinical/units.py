"""Units of the clinical records and their conversion to one internal unit per analyte.

Every laboratory analyte and vital sign has one *internal* unit, listed in :data:`ANALYTES`
and :data:`VITALS`. A value is converted on load with an exact factor (or, for temperature, an
affine map) and rounded to :data:`SIGNIFICANT_DIGITS` significant digits so that binary
floating point never moves a value across a threshold (``1.5 x 10^9/L`` becomes exactly
``1.5``, not ``1.5000000000000002``).

Thresholds that a source states in two units (triglycerides ``>= 3.0 mmol/L (265 mg/dL)``) are
compared in the unit the value was collected in, see :func:`threshold_in_unit`.

Conversion factors (clinical-standards reference, section 5.4)::

    cell counts   1 x 10^9/L = 1 x 10^3/uL = 1000/mm3 = 1000/uL
    IgG, C3, C4   1 g/L = 100 mg/dL
    haemoglobin   10 g/L = 1 g/dL
    bilirubin     1 mg/dL = 17.1 umol/L
    creatinine    1 mg/dL = 88.4 umol/L
    UPCR          1 mg/mmol = 8.84 mg/g
    triglycerides 1 mmol/L = 88.57 mg/dL
    temperature   degC = (degF - 32) x 5/9
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "ANALYTES",
    "CELL_COUNT_UNITS",
    "VITALS",
    "Analyte",
    "SIGNIFICANT_DIGITS",
    "analyte_key",
    "convert",
    "convert_vital",
    "threshold_in_unit",
    "canonical_unit_spelling",
]

#: Converted values are rounded to this many significant digits. Lab values are collected with
#: at most 5-6 significant digits, so 12 keeps every collected digit while removing the
#: last-bit error of binary multiplication.
SIGNIFICANT_DIGITS = 12


def _round_sig(value: float) -> float:
    if value == 0 or not math.isfinite(value):
        return value
    digits = SIGNIFICANT_DIGITS - int(math.floor(math.log10(abs(value)))) - 1
    return round(value, digits)


def canonical_unit_spelling(unit: str) -> str:
    """Normalise the spelling of a unit string so that equivalent spellings compare equal.

    ``"x10^9/L"``, ``"10*9/L"`` and ``"10E9/L"`` all become ``"10^9/l"``; the micro sign, the
    Greek mu and ``u`` are unified; case and spaces are ignored.
    """
    text = unit.strip().replace("µ", "u").replace("μ", "u").replace("°", "deg").replace(" ", "")
    text = text.lower()
    if text.startswith("x"):
        text = text[1:]
    text = text.replace("*", "^").replace("10e", "10^").replace("cells/", "/").replace("cell/", "/")
    return text


@dataclass(frozen=True)
class Analyte:
    """One laboratory analyte: its internal unit and the accepted units with their factors.

    Attributes
    ----------
    code : str
        Test code (CDISC SDTM LBTESTCD where one exists, e.g. ``"NEUT"``).
    name : str
        Human-readable name.
    unit : str
        Internal unit every value is converted to.
    factors : dict[str, float]
        Accepted unit spelling (as written by :func:`canonical_unit_spelling`) mapped to the
        factor that multiplies a value in that unit to give the internal unit.
    specimen : str
        ``"blood"`` or ``"urine"``; urine analytes share codes with blood ones in SDTM (RBC, WBC)
        and are told apart by the specimen.
    """

    code: str
    name: str
    unit: str
    factors: dict[str, float]
    specimen: str = "blood"


#: Accepted units of a cell count (spelling of :func:`canonical_unit_spelling`) -> factor to
#: 10^9/L: the one table of cell-count units, for laboratory counts and cell read-outs alike
#: (cells/uL = 1000 x this factor).
CELL_COUNT_UNITS: dict[str, float] = {
    "10^9/l": 1.0,
    "g/l": 1.0,  # "giga per litre", the French/German spelling of 10^9/L
    "10^3/ul": 1.0,
    "10^3/mm3": 1.0,
    "k/ul": 1.0,
    "/ul": 1e-3,
    "/mm3": 1e-3,
    "10^6/l": 1e-3,
    "/ml": 1e-6,
}
_MASS_G_L = {"g/l": 1.0, "mg/dl": 0.01, "mg/l": 0.001, "g/dl": 10.0}
_ENZYME = {"u/l": 1.0, "iu/l": 1.0, "ukat/l": 60.0}

#: The analytes the scorers read, keyed by ``(code, specimen)``.
ANALYTES: dict[tuple[str, str], Analyte] = {
    (a.code, a.specimen): a
    for a in [
        Analyte("NEUT", "Neutrophils (absolute)", "10^9/L", CELL_COUNT_UNITS),
        Analyte("LYM", "Lymphocytes (absolute)", "10^9/L", CELL_COUNT_UNITS),
        Analyte("WBC", "Leukocytes", "10^9/L", CELL_COUNT_UNITS),
        Analyte("PLAT", "Platelets", "10^9/L", CELL_COUNT_UNITS),
        Analyte("CD4", "CD4 lymphocytes", "10^9/L", CELL_COUNT_UNITS),
        Analyte("CD19", "CD19+ B cells", "10^9/L", CELL_COUNT_UNITS),
        Analyte("HGB", "Haemoglobin", "g/dL", {"g/dl": 1.0, "g/l": 0.1, "mmol/l": 1.611}),
        Analyte("IGG", "Immunoglobulin G", "g/L", _MASS_G_L),
        Analyte("IGA", "Immunoglobulin A", "g/L", _MASS_G_L),
        Analyte("IGM", "Immunoglobulin M", "g/L", _MASS_G_L),
        Analyte("C3", "Complement C3", "g/L", _MASS_G_L),
        Analyte("C4", "Complement C4", "g/L", _MASS_G_L),
        # CH50 and anti-dsDNA are judged only against the testing laboratory's own limits,
        # so the unit is carried through unchanged and must match the limits' unit.
        Analyte("CH50", "Total haemolytic complement", "U/mL", {"u/ml": 1.0, "%": 1.0, "u/l": 1.0}),
        Analyte(
            "DSDNAAB",
            "Anti-dsDNA antibody",
            "IU/mL",
            {"iu/ml": 1.0, "u/ml": 1.0, "titer": 1.0, "ratio": 1.0},
        ),
        Analyte("CRP", "C-reactive protein", "mg/L", {"mg/l": 1.0, "mg/dl": 10.0}),
        Analyte("FERRITIN", "Ferritin", "ug/L", {"ug/l": 1.0, "ng/ml": 1.0, "mg/l": 1000.0}),
        Analyte("TRIG", "Triglycerides", "mmol/L", {"mmol/l": 1.0, "mg/dl": 1 / 88.57}),
        Analyte("FIBRINO", "Fibrinogen", "g/L", _MASS_G_L),
        Analyte("AST", "Aspartate aminotransferase", "U/L", _ENZYME),
        Analyte("ALT", "Alanine aminotransferase", "U/L", _ENZYME),
        Analyte("LDH", "Lactate dehydrogenase", "U/L", _ENZYME),
        Analyte("CK", "Creatine kinase", "U/L", _ENZYME),
        Analyte("BILI", "Total bilirubin", "mg/dL", {"mg/dl": 1.0, "umol/l": 1 / 17.1}),
        Analyte("CREAT", "Creatinine", "mg/dL", {"mg/dl": 1.0, "umol/l": 1 / 88.4}),
        Analyte("IL6", "Interleukin 6", "pg/mL", {"pg/ml": 1.0, "ng/l": 1.0}),
        Analyte("SIL2R", "Soluble CD25 (sIL-2R)", "U/mL", {"u/ml": 1.0, "ku/l": 1.0}),
        Analyte(
            "PROT",
            "Urine protein excretion",
            "g/24h",
            {"g/24h": 1.0, "g/d": 1.0, "g/day": 1.0, "mg/24h": 1e-3, "mg/d": 1e-3, "mg/day": 1e-3},
            "urine",
        ),
        Analyte(
            "PROTCRT",
            "Urine protein/creatinine ratio",
            "mg/g",
            {"mg/g": 1.0, "g/g": 1000.0, "mg/mg": 1000.0, "mg/mmol": 8.84, "g/mmol": 8840.0},
            "urine",
        ),
        Analyte("RBC", "Urine red blood cells", "/hpf", {"/hpf": 1.0}, "urine"),
        Analyte("WBC", "Urine white blood cells", "/hpf", {"/hpf": 1.0}, "urine"),
    ]
}

#: Vital signs: code -> (internal unit, accepted spellings with factor, or "temperature").
VITALS: dict[str, tuple[str, dict[str, float]]] = {
    "TEMP": ("degC", {"degc": 1.0, "c": 1.0, "degf": math.nan, "f": math.nan}),
    "SYSBP": ("mmHg", {"mmhg": 1.0, "kpa": 7.50062}),
    "DIABP": ("mmHg", {"mmhg": 1.0, "kpa": 7.50062}),
    "MAP": ("mmHg", {"mmhg": 1.0, "kpa": 7.50062}),
    "HR": ("beats/min", {"beats/min": 1.0, "bpm": 1.0, "/min": 1.0}),
    "RESP": ("breaths/min", {"breaths/min": 1.0, "/min": 1.0}),
    "OXYSAT": ("%", {"%": 1.0}),
    "WEIGHT": ("kg", {"kg": 1.0, "g": 0.001, "lb": 0.45359237}),
    "HEIGHT": ("cm", {"cm": 1.0, "m": 100.0, "in": 2.54}),
}


def analyte_key(code: str, specimen: str | None) -> tuple[str, str]:
    """Return the :data:`ANALYTES` key of a test code and specimen (blood unless urine)."""
    spec = "urine" if specimen is not None and specimen.strip().lower() == "urine" else "blood"
    return (code.strip().upper(), spec)


def _accepted(factors: dict[str, float]) -> str:
    return ", ".join(sorted(factors))


def convert(code: str, specimen: str | None, value: float, unit: str) -> float:
    """Convert a laboratory value to the analyte's internal unit.

    Parameters
    ----------
    code : str
        Test code, e.g. ``"PLAT"``.
    specimen : str or None
        ``"urine"`` for urine analytes; anything else means blood/serum/plasma.
    value : float
        Value in ``unit``.
    unit : str
        Unit as collected.

    Returns
    -------
    float
        The value in the internal unit of :data:`ANALYTES`.

    Raises
    ------
    ValueError
        If the analyte or the unit is unknown (the message lists the accepted units).
    """
    key = analyte_key(code, specimen)
    analyte = ANALYTES.get(key)
    if analyte is None:
        known = ", ".join(sorted({f"{c} ({s})" for c, s in ANALYTES}))
        raise ValueError(f"unknown test {code!r} for specimen {key[1]!r}; known tests: {known}")
    factor = analyte.factors.get(canonical_unit_spelling(unit))
    if factor is None:
        raise ValueError(
            f"unknown unit {unit!r} for test {analyte.code!r} ({analyte.name}); "
            f"use one of: {_accepted(analyte.factors)}"
        )
    return _round_sig(value * factor)


def convert_vital(code: str, value: float, unit: str) -> float:
    """Convert a vital sign to its internal unit (temperature to degrees Celsius).

    Raises
    ------
    ValueError
        If the vital-sign code or the unit is unknown.
    """
    entry = VITALS.get(code.strip().upper())
    if entry is None:
        raise ValueError(f"unknown vital sign {code!r}; known: {', '.join(VITALS)}")
    spelling = canonical_unit_spelling(unit)
    factor = entry[1].get(spelling)
    if factor is None:
        raise ValueError(
            f"unknown unit {unit!r} for vital sign {code!r}; use one of: {_accepted(entry[1])}"
        )
    if math.isnan(factor):  # Fahrenheit: affine, not a factor
        return _round_sig((value - 32.0) * 5.0 / 9.0)
    return _round_sig(value * factor)


def threshold_in_unit(thresholds: dict[str, float], unit: str, internal: str) -> tuple[float, bool]:
    """Pick the threshold stated in the collected unit, else the one in the internal unit.

    Parameters
    ----------
    thresholds : dict[str, float]
        Threshold per unit spelling, e.g. ``{"mmol/L": 3.0, "mg/dL": 265}``; must contain the
        internal unit.
    unit : str
        Unit the value was collected in.
    internal : str
        Internal unit of the analyte.

    Returns
    -------
    tuple[float, bool]
        The threshold and ``True`` when it is in the collected unit (compare the original
        value), ``False`` when it is in the internal unit (compare the converted value).
    """
    by_spelling = {canonical_unit_spelling(u): v for u, v in thresholds.items()}
    own = by_spelling.get(canonical_unit_spelling(unit))
    if own is not None:
        return own, True
    return by_spelling[canonical_unit_spelling(internal)], False
