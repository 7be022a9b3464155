"""DM: the subjects, their age (in years, from ``AGE``/``AGEU``) and sex."""

from __future__ import annotations

import math

from allocart.data.problems import Problem
from allocart.data.sdtm.cells import upper_cell
from allocart.data.sdtm.state import StudyReader
from allocart.data.tables import MISSING, number

__all__ = ["read_dm"]

#: Factor from an ``AGEU`` unit to years.
AGE_UNITS = {"YEARS": 1.0, "MONTHS": 1 / 12, "WEEKS": 7 / 365.25, "DAYS": 1 / 365.25}


def read_dm(reader: StudyReader) -> None:
    """DM: the subjects, their age and sex."""
    if "DM" not in reader.doms:
        reader.probs.append(
            Problem(
                str(reader.folder / "dm.xpt"),
                None,
                None,
                f"no DM table (dm.xpt or dm.csv): subjects are defined there; found {', '.join(sorted(reader.paths))}",
            )
        )
    else:
        dm = reader.doms["DM"]
        if not dm.has("USUBJID"):
            reader.probs.append(
                Problem(dm.file, 1, "USUBJID", "required column USUBJID is missing")
            )
        else:
            for row, r in dm.rows():
                sid = r.get("USUBJID", "")
                if sid in MISSING:
                    reader.probs.append(Problem(dm.file, row, "USUBJID", "missing subject id"))
                    continue
                if sid in reader.subjects:
                    reader.probs.append(
                        Problem(dm.file, row, "USUBJID", f"subject {sid!r} appears twice in DM")
                    )
                    continue
                age = number(r.get("AGE", ""), dm.file, row, "AGE", reader.probs, required=False)
                ageu = upper_cell(r, "AGEU") or "YEARS"
                if not math.isnan(age):
                    factor = AGE_UNITS.get(ageu)
                    if factor is None:
                        reader.probs.append(
                            Problem(
                                dm.file,
                                row,
                                "AGEU",
                                f"{ageu!r} is not an age unit (YEARS, MONTHS, WEEKS, DAYS)",
                            )
                        )
                        age = math.nan
                    else:
                        age *= factor
                        if not 0.0 <= age <= 130.0:
                            reader.probs.append(
                                Problem(
                                    dm.file,
                                    row,
                                    "AGE",
                                    f"{r.get('AGE')} {ageu} is impossible; the age must lie "
                                    "between 0 and 130 years",
                                )
                            )
                            age = math.nan
                sex = upper_cell(r, "SEX")
                female = True if sex in ("F", "FEMALE") else False if sex in ("M", "MALE") else None
                reader.subjects[sid] = {
                    "id": sid,
                    "age_years": age,
                    "female": female,
                    "arm": r.get("ARM", ""),
                }
                reader.order.append(sid)

    for sid in reader.order:  # the record lists the other domains fill
        reader.rec[sid] = {
            "labs": [],
            "vitals": [],
            "adverse_events": [],
            "sledai_findings": [],
            "pga": [],
        }
