"""What the ADaM tables are built from: subjects, adverse events and kinetic samples.

:class:`AdamInput` is the common form of a patient :class:`~allocart.data.Dataset`
(:mod:`~allocart.data.adam.from_dataset`) and of a virtual trial's run folder
(:mod:`~allocart.data.adam.from_run`); the builders of ADSL, ADAE and ADPC take only it.

``subjects`` (one row per subject)
    ``USUBJID``, ``SUBJID`` (str), ``AGE`` (years, NaN if unknown), ``SEX`` (``F``, ``M`` or
    ``U``), ``ARM`` (product), ``TRT01P`` (product and dose), ``TRTSDT`` (date of the CAR-T
    infusion), ``TRTSTM`` (its time of day as seconds after midnight), ``SAFFL`` (``Y`` when
    infused), ``WEIGHTBL`` (kg, NaN if unknown), and optional extra columns carried into ADSL.
``events`` (one row per adverse event)
    ``USUBJID``, ``AETERM``, ``AEDECOD``, ``AECAT``, ``grade`` (1-5), ``scale``, ``start_day``
    and ``end_day`` (days after the infusion day, NaN if unknown), ``serious`` (bool),
    ``relatedness``.
``samples`` (one row per kinetic sample)
    ``USUBJID``, ``observable`` (a PC read-out of :data:`allocart.data.OBSERVABLES`),
    ``time_days`` (days after the infusion), ``value`` and ``lloq`` (in the read-out's unit,
    NaN if none), ``censored`` (bool).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from allocart.errors import DataError

__all__ = ["EVENT_COLUMNS", "SAMPLE_COLUMNS", "SUBJECT_COLUMNS", "AdamInput"]

SUBJECT_COLUMNS = (
    "USUBJID",
    "SUBJID",
    "AGE",
    "SEX",
    "ARM",
    "TRT01P",
    "TRTSDT",
    "TRTSTM",
    "SAFFL",
    "WEIGHTBL",
)
EVENT_COLUMNS = (
    "USUBJID",
    "AETERM",
    "AEDECOD",
    "AECAT",
    "grade",
    "scale",
    "start_day",
    "end_day",
    "serious",
    "relatedness",
)
SAMPLE_COLUMNS = ("USUBJID", "observable", "time_days", "value", "lloq", "censored")


@dataclass(frozen=True)
class AdamInput:
    """Subjects, adverse events and kinetic samples of one study (see the module doc).

    Attributes
    ----------
    study_id : str
        ``STUDYID`` of every row.
    subjects, events, samples : DataFrame
        The three tables, with at least the columns of :data:`SUBJECT_COLUMNS`,
        :data:`EVENT_COLUMNS` and :data:`SAMPLE_COLUMNS`.
    source : str
        Where they come from, for messages.
    """

    study_id: str
    subjects: pd.DataFrame
    events: pd.DataFrame
    samples: pd.DataFrame
    source: str = "<memory>"

    def __post_init__(self) -> None:
        for name, need in (
            ("subjects", SUBJECT_COLUMNS),
            ("events", EVENT_COLUMNS),
            ("samples", SAMPLE_COLUMNS),
        ):
            missing = [c for c in need if c not in getattr(self, name).columns]
            if missing:
                raise DataError(f"{self.source}: `{name}` lacks the column(s) {missing}")
        ids = self.subjects["USUBJID"]
        if ids.duplicated().any():
            raise DataError(
                f"{self.source}: subject {ids[ids.duplicated()].iloc[0]!r} appears twice"
            )
        for name in ("events", "samples"):
            unknown = set(getattr(self, name)["USUBJID"]) - set(ids)
            if unknown:
                raise DataError(
                    f"{self.source}: `{name}` names subject(s) not in `subjects`: "
                    f"{', '.join(sorted(map(str, unknown))[:5])}"
                )
