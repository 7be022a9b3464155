"""Labels and types of the SDTM variables allocart writes (SDTM IG 3.4 wording, 40 characters
at most) and the tables' labels.

A variable of a domain is named by its two-letter prefix and a suffix (``LBTESTCD`` = ``LB`` +
``TESTCD``); its label is that of the suffix with the domain's topic (``Lab Test or Examination
Short Name``). Variables without a prefix (``STUDYID``, ``VISIT`` ...) have their own label.
"""

from __future__ import annotations

__all__ = ["DOMAIN_LABELS", "NUMERIC_SUFFIXES", "is_numeric", "variable_label"]

#: Table labels of the domains written.
DOMAIN_LABELS = {
    "DM": "Demographics",
    "EX": "Exposure",
    "LB": "Laboratory Test Results",
    "PC": "Pharmacokinetics Concentrations",
    "VS": "Vital Signs",
    "AE": "Adverse Events",
    "QS": "Questionnaires",
}

#: Variables that are the same in every domain.
_COMMON = {
    "STUDYID": "Study Identifier",
    "DOMAIN": "Domain Abbreviation",
    "USUBJID": "Unique Subject Identifier",
    "SUBJID": "Subject Identifier for the Study",
    "RFSTDTC": "Subject Reference Start Date/Time",
    "RFXSTDTC": "Date/Time of First Study Treatment",
    "AGE": "Age",
    "AGEU": "Age Units",
    "SEX": "Sex",
    "ARM": "Description of Planned Arm",
    "ARMCD": "Planned Arm Code",
    "ACTARM": "Description of Actual Arm",
    "ACTARMCD": "Actual Arm Code",
    "VISIT": "Visit Name",
    "VISITNUM": "Visit Number",
    "EPOCH": "Epoch",
}

#: Topic of each domain's tests, for the labels of ``--TESTCD`` and ``--TEST``.
_TOPIC = {
    "LB": "Lab Test or Examination",
    "PC": "Pharmacokinetic Test",
    "VS": "Vital Signs Test",
    "QS": "Question",
}

#: Labels of the suffixed variables; ``{topic}`` is the domain's topic.
_SUFFIX = {
    "SEQ": "Sequence Number",
    "TESTCD": "{topic} Short Name",
    "TEST": "{topic} Name",
    "CAT": "Category",
    "SCAT": "Subcategory",
    "ORRES": "Result or Finding in Original Units",
    "ORRESU": "Original Units",
    "STRESC": "Character Result/Finding in Std Format",
    "STRESN": "Numeric Result/Finding in Standard Units",
    "STRESU": "Standard Units",
    "STNRLO": "Reference Range Lower Limit-Std Units",
    "STNRHI": "Reference Range Upper Limit-Std Units",
    "SPEC": "Specimen Type",
    "METHOD": "Method of Test or Examination",
    "LLOQ": "Lower Limit of Quantitation",
    "LOC": "Location of Vital Signs Measurement",
    "DTC": "Date/Time of Collection",
    "DY": "Study Day of Collection",
    "TRT": "Name of Treatment",
    "DOSE": "Dose",
    "DOSU": "Dose Units",
    "STDTC": "Start Date/Time",
    "ENDTC": "End Date/Time",
    "STDY": "Study Day of Start",
    "ENDY": "Study Day of End",
    "TERM": "Reported Term for the Adverse Event",
    "DECOD": "Dictionary-Derived Term",
    "SEV": "Severity/Intensity",
    "TOXGR": "Standard Toxicity Grade",
    "SER": "Serious Event",
    "REL": "Causality",
}

#: Suffixes of the numeric variables (all others are text).
NUMERIC_SUFFIXES = frozenset(
    {"SEQ", "DOSE", "STRESN", "STNRLO", "STNRHI", "LLOQ", "DY", "STDY", "ENDY"}
)
_NUMERIC_COMMON = frozenset({"AGE", "VISITNUM"})


def _suffix(domain: str, variable: str) -> str | None:
    return variable[len(domain) :] if variable.startswith(domain) else None


def variable_label(domain: str, variable: str) -> str:
    """The label of ``variable`` in ``domain`` (empty for a variable not listed here).

    Examples
    --------
    >>> variable_label("LB", "LBTESTCD"), variable_label("AE", "AESTDY")
    ('Lab Test or Examination Short Name', 'Study Day of Start')
    """
    if variable in _COMMON:
        return _COMMON[variable]
    suffix = _suffix(domain, variable)
    if suffix is None or suffix not in _SUFFIX:
        return ""
    return _SUFFIX[suffix].format(topic=_TOPIC.get(domain, "Test"))


def is_numeric(domain: str, variable: str) -> bool:
    """Whether ``variable`` of ``domain`` is numeric (``--SEQ``, ``--DY``, ``AGE``, ...)."""
    if variable in _NUMERIC_COMMON:
        return True
    return _suffix(domain, variable) in NUMERIC_SUFFIXES
