"""The table of standards and the public entry points :func:`score`, :func:`list_standards`,
:func:`input_schema` and :func:`load_patients`."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from allocart.clinical import (
    crs,
    ctcae,
    dlt,
    doris,
    gvhd,
    icaht,
    icans,
    iec_hs,
    lldas,
    pga,
    response,
    sfi,
    sledai,
)
from allocart.clinical.records import PatientRecords
from allocart.clinical.results import Context, Options, ScoreResult
from allocart.errors import ScoringError
from allocart.files import load_json

__all__ = [
    "Standard",
    "STANDARDS",
    "score",
    "list_standards",
    "input_schema",
    "load_patients",
    "get_standard",
]


@dataclass(frozen=True)
class Standard:
    """One scoring standard: its name, what it reads, its options and its source.

    Attributes
    ----------
    name : str
        Registry name (``"sledai2k"``).
    title : str
        Full name.
    variant : str
        Default instrument variant string stored with results.
    source : str
        Literature reference.
    options : type[Options]
        Pydantic model of the options (defaults documented on each field).
    uses : tuple[str, ...]
        Fields of :class:`PatientRecords` the standard reads.
    scorer : callable
        ``scorer(patient, context) -> list[ScoreResult]``.
    """

    name: str
    title: str
    variant: str
    source: str
    options: type[Options]
    uses: tuple[str, ...]
    scorer: Callable[[PatientRecords, Context], list[ScoreResult]]


_SLE = ("visits", "sledai_findings", "labs", "vitals")
_GLADMAN = "Gladman DD, Ibanez D, Urowitz MB. J Rheumatol 2002;29:288-91; Touma Z, et al. Lupus 2010;19:49-51"
_SRI = "Furie RA, et al. Arthritis Rheum 2009;61:1143-51"
_DORIS = "van Vollenhoven RF, et al. Lupus Sci Med 2021;8:e000538"
_LEE = "Lee DW, et al. Biol Blood Marrow Transplant 2019;25:625-38"


def _entries() -> list[Standard]:
    entries = [
        Standard(
            "sledai2k",
            "SLEDAI-2K",
            "SLEDAI-2K",
            _GLADMAN,
            sledai.SledaiOptions,
            _SLE,
            partial(sledai.score_sledai, variant="sledai2k"),
        ),
        Standard(
            "clinical-sledai",
            "Clinical SLEDAI-2K (serology excluded)",
            "clinical SLEDAI-2K",
            _GLADMAN,
            sledai.SledaiOptions,
            _SLE,
            partial(sledai.score_sledai, variant="clinical-sledai"),
        ),
        Standard(
            "selena-sledai",
            "SELENA-SLEDAI",
            "SELENA-SLEDAI",
            "Petri M, et al. N Engl J Med 2005;353:2550-8",
            sledai.SledaiOptions,
            _SLE,
            partial(sledai.score_sledai, variant="selena-sledai"),
        ),
        Standard(
            "hybrid-sledai",
            "Hybrid SELENA-SLEDAI (SLEDAI-2K proteinuria)",
            "hybrid SELENA-SLEDAI",
            "Touma Z, et al. J Rheumatol 2011;38:868-73",
            sledai.SledaiOptions,
            _SLE,
            partial(sledai.score_sledai, variant="hybrid-sledai"),
        ),
        Standard(
            "pga",
            "Physician Global Assessment (0-3)",
            "SELENA-SLEDAI PGA",
            "Petri M, et al. N Engl J Med 2005;353:2550-8",
            pga.PgaOptions,
            ("pga",),
            pga.score_pga,
        ),
        Standard(
            "sfi",
            "SELENA-SLEDAI Flare Index",
            "SFI (classic)",
            "Buyon JP, et al. Ann Intern Med 2005;142:953-62",
            sfi.SfiOptions,
            _SLE + ("pga", "flare_findings", "medications", "hospitalisations"),
            sfi.score_sfi,
        ),
    ]
    for k in range(4, 9):
        entries.append(
            Standard(
                f"sri{k}",
                f"SLE Responder Index SRI-{k}",
                f"SRI-{k}",
                _SRI,
                response.SriOptions,
                _SLE + ("pga", "bilag", "medications"),
                partial(response.score_sri, k=k),
            )
        )
    entries += [
        Standard(
            "bicla",
            "BILAG-based Composite Lupus Assessment",
            "BICLA",
            "Wallace DJ, et al. Ann Rheum Dis 2014;73:183-90",
            response.BiclaOptions,
            _SLE + ("pga", "bilag", "medications"),
            response.score_bicla,
        ),
        Standard(
            "lldas",
            "Lupus Low Disease Activity State",
            "LLDAS",
            "Franklyn K, et al. Ann Rheum Dis 2016;75:1615-21",
            lldas.LldasOptions,
            _SLE + ("pga", "bilag", "medications"),
            lldas.score_lldas,
        ),
        Standard(
            "doris",
            "DORIS 2021 remission",
            "DORIS 2021",
            _DORIS,
            doris.DorisOptions,
            _SLE + ("pga", "medications"),
            doris.score_doris,
        ),
        Standard(
            "doris-complete",
            "DORIS-framework complete remission",
            "DORIS 2017 complete remission",
            "van Vollenhoven R, et al. Ann Rheum Dis 2017;76:554-61",
            doris.CompleteRemissionOptions,
            _SLE + ("pga", "medications"),
            doris.score_doris_complete,
        ),
        Standard(
            "drug-free-remission",
            "Drug-free DORIS remission (CAR-T series)",
            "drug-free remission",
            _DORIS + "; Mackensen A, et al. Nat Med 2022;28:2124-32",
            doris.DrugFreeOptions,
            _SLE + ("pga", "medications"),
            doris.score_drug_free,
        ),
        Standard(
            "crs",
            "Cytokine release syndrome (ASTCT)",
            "ASTCT 2019 CRS",
            _LEE,
            crs.CrsOptions,
            ("vitals", "oxygen", "medications", "death"),
            crs.score_crs,
        ),
        Standard(
            "icans",
            "ICANS (ASTCT, ICE/CAPD)",
            "ASTCT 2019 ICANS",
            _LEE,
            icans.IcansOptions,
            ("neuro", "age_years", "developmental_delay", "baseline_ice", "death"),
            icans.score_icans,
        ),
        Standard(
            "icaht",
            "Immune effector cell-associated haematotoxicity",
            "EHA/EBMT 2023 ICAHT",
            "Rejeski K, et al. Blood 2023;142:865-77",
            icaht.IcahtOptions,
            ("labs", "medications", "infusion", "last_follow_up"),
            icaht.score_icaht,
        ),
        Standard(
            "ctcae",
            "CTCAE v5.0 cytopenias, febrile neutropenia, infections, hypogammaglobulinaemia",
            "CTCAE v5.0",
            "NCI CTCAE v5.0 (2017); Hill JA, et al. Blood Rev 2019",
            ctcae.CtcaeOptions,
            ("labs", "vitals", "adverse_events", "infections"),
            ctcae.score_ctcae,
        ),
        Standard(
            "iec-hs",
            "IEC-HS (reported grade with HLH criteria)",
            "ASTCT 2023 IEC-HS (reported)",
            "Hines MR, et al. Transplant Cell Ther 2023;29:438.e1-16",
            iec_hs.HlhOptions,
            ("adverse_events", "hlh", "labs", "vitals"),
            iec_hs.score_iec_hs,
        ),
        Standard(
            "hscore",
            "HScore for reactive haemophagocytic syndrome",
            "HScore",
            "Fardet L, et al. Arthritis Rheumatol 2014;66:2613-20",
            iec_hs.HlhOptions,
            ("hlh", "labs", "vitals"),
            iec_hs.score_hscore,
        ),
        Standard(
            "hlh2004",
            "HLH-2004 diagnostic criteria",
            "HLH-2004",
            "Henter JI, et al. Pediatr Blood Cancer 2007;48:124-31",
            iec_hs.HlhOptions,
            ("hlh", "labs", "vitals", "age_years"),
            iec_hs.score_hlh2004,
        ),
        Standard(
            "gvhd",
            "Acute GvHD (MAGIC)",
            "MAGIC acute GvHD",
            "Harris AC, et al. Biol Blood Marrow Transplant 2016;22:4-10",
            gvhd.GvhdOptions,
            ("gvhd", "labs", "weight_kg"),
            gvhd.score_gvhd,
        ),
        Standard(
            "dlt",
            "Dose-limiting toxicity (configurable rules)",
            "DLT template",
            "Project convention (clinical-standards reference, section 4.1)",
            dlt.DltOptions,
            ("adverse_events", "infections", "labs", "gvhd", "death", "infusion", "last_follow_up"),
            dlt.score_dlt,
        ),
    ]
    return entries


#: Every standard by registry name.
STANDARDS: dict[str, Standard] = {s.name: s for s in _entries()}

_ALIASES = {
    "sledai": "sledai2k",
    "sledai-2k": "sledai2k",
    "csledai": "clinical-sledai",
    "sri": "sri4",
    "iechs": "iec-hs",
    "iec_hs": "iec-hs",
    "magic": "gvhd",
}


def get_standard(name: str) -> Standard:
    """Look a standard up by name (case-insensitive; a few aliases such as ``sledai`` accepted).

    Raises
    ------
    ScoringError
        For an unknown name; the message lists the known ones.
    """
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in STANDARDS:
        raise ScoringError(f"unknown standard {name!r}; known standards: {', '.join(STANDARDS)}")
    return STANDARDS[key]


def list_standards() -> list[dict[str, str]]:
    """Name, title, variant and source of every standard."""
    return [
        {"name": s.name, "title": s.title, "variant": s.variant, "source": s.source}
        for s in STANDARDS.values()
    ]


#: A key shown as it is in a field's place; any other key (empty, spaces, a line break...) is
#: shown quoted so that the message stays one line and the key stays visible.
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _shown_key(key: Any) -> str:
    text = repr(key)
    return text if len(text) <= 60 else text[:56] + "...'"


def _location(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in ("function-after", "function-before") or str(part).startswith(
            ("function-", "tagged-union")
        ):
            continue
        elif part == "[key]":  # pydantic's marker of an error of the key itself
            text += " (the key)"
        elif isinstance(part, str) and _PLAIN_KEY.match(part):
            text += ("." if text else "") + part
        else:
            text += f"[{_shown_key(part)}]"
    return text or "(record)"


def _lookup(raw: Any, loc: tuple[Any, ...]) -> Any:
    node = raw
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _describe(raw: Any, index: int, exc: ValidationError) -> str:
    pid = raw.get("patient_id") if isinstance(raw, Mapping) else None
    who = f"patient {pid!r} (record {index})" if pid else f"record {index}"
    parts = []
    for err in exc.errors()[:5]:
        loc = tuple(
            p for p in err["loc"] if not (isinstance(p, str) and "[" in p and p != "patient_id")
        )
        where = _location(loc)
        if err["type"] == "missing":
            parts.append(f"field `{where}` is missing")
            continue
        value = err.get("input")
        if err["type"].startswith("value_error") or err["type"] == "assertion_error":
            shown = _lookup(raw, loc)
            msg = err["msg"].removeprefix("Value error, ")
            if not loc:
                parts.append(msg)
            elif isinstance(shown, Mapping):
                parts.append(f"`{where}`: {msg}")
            else:
                parts.append(f"`{where}` = {shown!r}: {msg}")
        else:
            if isinstance(value, Mapping):
                value = "{...}"
            parts.append(f"`{where}` = {value!r}: {err['msg']}")
    more = len(exc.errors()) - 5
    tail = f" (and {more} more)" if more > 0 else ""
    return f"{who}: " + "; ".join(parts) + tail + ". Fix the input and retry."


def load_patients(records: Any) -> list[PatientRecords]:
    """Validate records into :class:`PatientRecords`.

    Parameters
    ----------
    records : PatientRecords, mapping, sequence, str or Path
        One patient, a list of patients, ``{"patients": [...]}``, or a path to a JSON file holding
        any of these.

    Returns
    -------
    list[PatientRecords]

    Raises
    ------
    ScoringError
        Naming the patient, the record and the field for every malformed value.
    """
    if isinstance(records, (str, Path)):
        records = load_json(records, what="input", error=ScoringError)
    if isinstance(records, PatientRecords):
        return [records]
    if isinstance(records, Mapping):
        records = (
            records["patients"]
            if "patients" in records and "patient_id" not in records
            else [records]
        )
    if not isinstance(records, Sequence) or isinstance(records, (str, bytes)):
        raise ScoringError(
            f"records must be a patient object, a list of them or {{'patients': [...]}}; got {type(records).__name__}"
        )
    out = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(records):
        if isinstance(raw, PatientRecords):
            patient = raw
        else:
            if not isinstance(raw, Mapping):
                raise ScoringError(
                    f"record {i}: a patient must be an object with `patient_id`; got {type(raw).__name__}"
                )
            try:
                patient = PatientRecords.model_validate(raw)
            except ValidationError as exc:
                raise ScoringError(_describe(raw, i, exc)) from None
        if patient.patient_id in seen:
            raise ScoringError(
                f"record {i}: patient_id {patient.patient_id!r} repeats record {seen[patient.patient_id]}; ids must be unique"
            )
        seen[patient.patient_id] = i
        out.append(patient)
    return out


def score(standard: str, records: Any, **options: Any) -> list[ScoreResult]:
    """Score patient records with a clinical standard.

    Parameters
    ----------
    standard : str
        Registry name, see :func:`list_standards` (``"sledai2k"``, ``"sri4"``, ``"crs"``...).
    records : PatientRecords, mapping, sequence, str or Path
        Patients, as accepted by :func:`load_patients`.
    **options
        Options of the standard (see ``input_schema(standard)["x-options"]``); unknown names
        are errors. Every result records the options in force, defaults included.

    Returns
    -------
    list[ScoreResult]
        Result rows of every patient, in input order.

    Raises
    ------
    ScoringError
        Unknown standard or option, malformed records, or data a standard cannot do without.

    Examples
    --------
    >>> rows = score("sledai2k", {"patient_id": "P1", "visits": [{"time": 0}],
    ...     "labs": [{"test": "C3", "value": 0.6, "unit": "g/L", "ref_low": 0.9, "time": 0, "attribution": "sle"}]})
    >>> rows[0].value, rows[0].variant
    (2, 'SLEDAI-2K, 10-day window')
    """
    std = get_standard(standard)
    try:
        opts = std.options(**options)
    except ValidationError as exc:
        problems = "; ".join(
            f"option `{_location(e['loc'])}` = {e.get('input')!r}: {e['msg']}" for e in exc.errors()
        )
        raise ScoringError(
            f"{std.name}: {problems}. Valid options: {', '.join(std.options.model_fields)}"
        ) from None
    ctx = Context(standard=std.name, variant=std.variant, source=std.source, options=opts)
    out: list[ScoreResult] = []
    for patient in load_patients(records):
        out += std.scorer(patient, ctx)
    return out


def input_schema(standard: str | None = None) -> dict[str, Any]:
    """JSON Schema of the input file, with the standard's options and the fields it reads.

    The file holds one patient object, a list of them, or ``{"patients": [...]}``; the schema
    describes ``{"patients": [...]}``.
    """
    patient = PatientRecords.model_json_schema()
    defs = patient.pop("$defs", {})
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "allocart clinical records",
        "type": "object",
        "properties": {"patients": {"type": "array", "items": {"$ref": "#/$defs/PatientRecords"}}},
        "required": ["patients"],
        "$defs": {**defs, "PatientRecords": patient},
    }
    if standard is not None:
        std = get_standard(standard)
        schema["title"] = f"allocart clinical records for {std.name} ({std.title})"
        schema["x-standard"] = std.name
        schema["x-source"] = std.source
        schema["x-uses"] = list(std.uses)
        schema["x-options"] = std.options.model_json_schema()
    return schema
