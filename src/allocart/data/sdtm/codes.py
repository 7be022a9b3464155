"""SDTM codes and their meaning to allocart: domains, test codes, units, grades, relatedness,
adverse-event categories and SLEDAI-2K descriptor aliases (read and written).
"""

from __future__ import annotations

import re

__all__ = [
    "AE_CATEGORIES",
    "AE_KNOWN",
    "AE_SCALE",
    "CAR_T_TEXT",
    "CELLS_PER_UL",
    "CELL_UNIT",
    "DOMAINS",
    "KINETIC_CODES",
    "KINETIC_UNITS",
    "LAB_ALIASES",
    "LD_DRUGS",
    "PC_WRITE",
    "RELATEDNESS",
    "RELATEDNESS_WRITE",
    "SEV_GRADE",
    "SLEDAI_ALIASES",
]

#: Domains read, in reading order.
DOMAINS = ("DM", "EX", "LB", "PC", "CP", "VS", "AE", "QS")

#: Site test codes -> :data:`allocart.clinical.units.ANALYTES` codes.
LAB_ALIASES = {
    "ANC": "NEUT",
    "NEUTRO": "NEUT",
    "NEUTROPHILS": "NEUT",
    "PLT": "PLAT",
    "PLATELETS": "PLAT",
    "LYMPH": "LYM",
    "LYMPHS": "LYM",
    "ALC": "LYM",
    "DSDNA": "DSDNAAB",
    "ADSDNA": "DSDNAAB",
    "ANTIDSDNA": "DSDNAAB",
    "BCELL": "CD19",
    "BCELLS": "CD19",
    "CD19B": "CD19",
    "IL-6": "IL6",
    "IGGT": "IGG",
}

#: PC/CP test codes -> read-outs.
KINETIC_CODES = {
    "CARTCELL": "car_t_cells_per_ul",
    "CARTCNT": "car_t_cells_per_ul",
    "CARTPCT": "car_pct_of_t",
    "CARPCT": "car_pct_of_t",
    "TRANSGEN": "transgene_copies_per_ug",
    "CARTDNA": "transgene_copies_per_ug",
    "CARDNA": "transgene_copies_per_ug",
    "CD19": "b_cells_per_ul",
}

#: Accepted units of a cell count (spelling of :func:`units.canonical_unit_spelling`) ->
#: factor to cells/uL.
CELLS_PER_UL = {
    "/ul": 1.0,
    "/mm3": 1.0,
    "/ml": 1e-3,
    "10^9/l": 1000.0,
    "10^3/ul": 1000.0,
    "10^6/l": 1.0,
}
#: Accepted units of PC/CP read-outs (spelling of :func:`units.canonical_unit_spelling`) ->
#: factor to the read-out's unit.
KINETIC_UNITS: dict[str, dict[str, float]] = {
    "car_t_cells_per_ul": CELLS_PER_UL,
    "b_cells_per_ul": CELLS_PER_UL,
    "car_pct_of_t": {"%": 1.0, "%oft": 1.0, "%oftcells": 1.0, "fraction": 100.0},
    "transgene_copies_per_ug": {
        "copies/ug": 1.0,
        "copies/ugdna": 1.0,
        "copies/uggdna": 1.0,
        "copies/ng": 1000.0,
        "copies/ngdna": 1000.0,
    },
}
PC_WRITE = {
    "car_t_cells_per_ul": ("CARTCELL", "CAR-T cells", "cells/uL"),
    "car_pct_of_t": ("CARTPCT", "CAR-T cells of T cells", "%"),
    "transgene_copies_per_ug": ("TRANSGEN", "CAR transgene", "copies/ug"),
}

LD_DRUGS = {"FLUDARABINE": "fludarabine", "CYCLOPHOSPHAMIDE": "cyclophosphamide"}
CAR_T_TEXT = re.compile(
    r"CAR[- ]?T\b|\bCART\b|-CEL\b|LEUCEL\b|AUTOLEUCEL|CAR T-CELL", re.IGNORECASE
)
CELL_UNIT = re.compile(
    r"^(?:X?\s*10\^?(?P<exp>\d+)\s*)?(?:CELLS?|VIABLE CELLS|CAR\+? ?T? ?CELLS)(?P<kg>/KG)?$",
    re.IGNORECASE,
)
SEV_GRADE = {
    "MILD": 1,
    "MODERATE": 2,
    "SEVERE": 3,
    "LIFE THREATENING": 4,
    "LIFE-THREATENING": 4,
    "FATAL": 5,
    "DEATH": 5,
}
RELATEDNESS = {
    "NOT RELATED": "not_related",
    "NONE": "not_related",
    "N": "not_related",
    "NO": "not_related",
    "UNLIKELY": "unlikely",
    "UNLIKELY RELATED": "unlikely",
    "REMOTE": "unlikely",
    "POSSIBLE": "possible",
    "POSSIBLY RELATED": "possible",
    "PROBABLE": "probable",
    "PROBABLY RELATED": "probable",
    "RELATED": "probable",
    "Y": "probable",
    "YES": "probable",
    "DEFINITE": "definite",
    "DEFINITELY RELATED": "definite",
}
RELATEDNESS_WRITE = {
    "not_related": "NOT RELATED",
    "unlikely": "UNLIKELY",
    "possible": "POSSIBLE",
    "probable": "PROBABLE",
    "definite": "DEFINITE",
    "unspecified": "",
}
AE_CATEGORIES = (
    ("crs", ("CYTOKINE RELEASE",)),
    ("icans", ("IMMUNE EFFECTOR CELL-ASSOCIATED NEUROTOXICITY", "ICANS")),
    ("iec_hs", ("HAEMOPHAGOCYTIC", "HEMOPHAGOCYTIC", "IEC-HS", "MACROPHAGE ACTIVATION")),
    ("gvhd", ("GRAFT VERSUS HOST", "GRAFT-VERSUS-HOST")),
    ("febrile_neutropenia", ("FEBRILE NEUTROPENIA",)),
    ("neutropenia", ("NEUTROPENIA", "NEUTROPHIL COUNT DECREASED")),
    ("thrombocytopenia", ("THROMBOCYTOPENIA", "PLATELET COUNT DECREASED")),
    ("anaemia", ("ANAEMIA", "ANEMIA")),
    ("leukopenia", ("LEUKOPENIA", "WHITE BLOOD CELL COUNT DECREASED")),
    ("lymphopenia", ("LYMPHOPENIA", "LYMPHOCYTE COUNT DECREASED")),
    ("b_cell_aplasia", ("B-CELL APLASIA", "B CELL APLASIA")),
    ("hypogammaglobulinaemia", ("HYPOGAMMAGLOBULINAEMIA", "HYPOGAMMAGLOBULINEMIA")),
    ("infusion_reaction", ("INFUSION RELATED REACTION", "INFUSION-RELATED REACTION")),
    ("sle_flare", ("LUPUS FLARE", "SYSTEMIC LUPUS ERYTHEMATOSUS")),
    ("infection", ("INFECTION", "PNEUMONIA", "SEPSIS")),
    ("fever", ("PYREXIA", "FEVER")),
)
AE_KNOWN = {c for c, _ in AE_CATEGORIES} | {"licats", "lab_abnormality", "other"}
AE_SCALE = {"crs": "astct-2019", "icans": "astct-2019", "iec_hs": "astct-2023", "gvhd": "magic"}
SLEDAI_ALIASES = {
    "cerebrovascular_accident": "cva",
    "anti_dsdna": "increased_dna_binding",
    "increased_dna": "increased_dna_binding",
    "mucosal_ulcer": "mucosal_ulcers",
    "urinary_cast": "urinary_casts",
    "pleuritis": "pleurisy",
    "organic_brain": "organic_brain_syndrome",
    "headache": "lupus_headache",
}
