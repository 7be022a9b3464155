"""Dose transition pathways: a design's decision for every outcome of the next cohorts.

A dose transition pathway (DTP) table lists, for every possible sequence of outcomes of the next
``cohorts`` cohorts, the dose each cohort receives, its outcome, the design's decision and the next
dose (Yap et al. 2017). It is what a safety review committee reads before a trial: every branch
the design may take, decided in advance. The decisions are the designs' own
:meth:`~allocart.design.base.AbstractDesign.recommend` (for BOIN12 its joint-count variant
:meth:`~allocart.design.boin12.BOIN12.recommend_counts`), applied to the complete data of each
branch, so the table and the simulator cannot disagree:

* 3+3, BOIN, TITE-BOIN and CRM: a cohort's outcome is its number of DLTs, ``0..cohort_size``;
* BOIN12: the joint (response, DLT) counts of the cohort, ``C(cohort_size + 3, 3)`` outcomes;
* TITE-BOIN with complete follow-up is BOIN; BF-BOIN's escalation cohorts follow BOIN (backfill
  patients depend on arrivals and are not part of the pathways).

Pathways start from an empty trial or, given the complete data so far, from a trial under way.
A branch in which the design stops (3+3 MTD declared, lowest dose eliminated, CRM safety stop,
``n_earlystop``) or reaches its ``n_cohorts`` ends there, so the number of rows is the product of
the outcome counts of the cohorts only when no branch ends early.

References
----------
Yap C., Billingham L.J., Cheung Y.K., Craddock C. and O'Quigley J. (2017). Dose transition
pathways: the missing link between complex dose-finding designs and simple decision-making.
*Clin Cancer Res* 23:7440-7447. doi:10.1158/1078-0432.CCR-17-0582
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from allocart.design.base import (
    AbstractDesign,
    Action,
    DoseData,
    ScenarioOutcomes,
    check_int,
)
from allocart.design.boin12 import BOIN12
from allocart.errors import DesignError

__all__ = ["CohortOutcome", "cohort_outcomes", "dose_transition_pathways", "MAX_PATHWAY_ROWS"]

#: Largest table :func:`dose_transition_pathways` builds (rows, before early ends).
MAX_PATHWAY_ROWS = 200_000

#: Decision written when a branch reaches the design's ``n_cohorts``.
END = "end"


@dataclasses.dataclass(frozen=True)
class CohortOutcome:
    """Outcome of one cohort.

    Attributes
    ----------
    dlts : int
        Patients with a DLT.
    responses : int
        Patients with a response (BOIN12; 0 otherwise).
    responses_with_dlt : int
        Patients with both (BOIN12; 0 otherwise).
    """

    dlts: int
    responses: int = 0
    responses_with_dlt: int = 0


def cohort_outcomes(design: AbstractDesign) -> tuple[CohortOutcome, ...]:
    """Every outcome of one cohort of ``design``, in the order of the table.

    DLT counts ``0..cohort_size``; for BOIN12 every joint count of (response without DLT,
    response with DLT, DLT without response, neither) summing to the cohort size, ordered by
    DLTs, then responses, then responses with a DLT.
    """
    cs = int(design.cohort_size)
    if not isinstance(design, BOIN12):
        return tuple(CohortOutcome(y) for y in range(cs + 1))
    out = []
    for y in range(cs + 1):
        for r in range(cs + 1):
            for both in range(max(0, y + r - cs), min(y, r) + 1):
                out.append(CohortOutcome(y, r, both))
    return tuple(out)


def _outcome_probability(
    design: AbstractDesign, o: CohortOutcome, dose: int, scenario: ScenarioOutcomes
) -> float:
    """Probability of cohort outcome ``o`` at ``dose``: binomial in DLTs, or multinomial in the
    four (response, DLT) cells with toxicity and response independent given the dose (as
    :class:`~allocart.design.base.ScenarioOutcomes` draws them)."""
    cs = int(design.cohort_size)
    pt = scenario.p_tox[dose]
    if not isinstance(design, BOIN12):
        return math.comb(cs, o.dlts) * pt**o.dlts * (1 - pt) ** (cs - o.dlts)
    pe = scenario.p_eff[dose]
    cells = (
        o.responses - o.responses_with_dlt,
        o.responses_with_dlt,
        o.dlts - o.responses_with_dlt,
        cs - o.dlts - o.responses + o.responses_with_dlt,
    )
    probs = (pe * (1 - pt), pe * pt, pt * (1 - pe), (1 - pt) * (1 - pe))
    coef = math.factorial(cs) // math.prod(math.factorial(c) for c in cells)
    return coef * math.prod(q**c for q, c in zip(probs, cells, strict=True))


def _decide(
    design: AbstractDesign,
    n: np.ndarray,
    y: np.ndarray,
    r: np.ndarray,
    both: np.ndarray,
    d: int,
    cohorts_done: int,
) -> tuple[str, int | None, int | None, bool]:
    """``(decision, next_dose, selected_dose, ends)`` after a cohort at dose ``d``."""
    data = DoseData(tuple(map(int, n)), tuple(map(int, y)), tuple(map(int, r)))
    n_max = getattr(design, "n_cohorts", None)
    if n_max is not None and cohorts_done >= n_max:
        select = getattr(design, "select", None)
        return END, None, None if select is None else select(data), True
    if isinstance(design, BOIN12):
        rec = design.recommend_counts(n, y, r, both, d)
    else:
        rec = design.recommend(data, d)
    if rec.action is Action.STOP:
        return rec.action.value, None, rec.next_dose, True
    return rec.action.value, rec.next_dose, None, False


def dose_transition_pathways(
    design: AbstractDesign,
    n_doses: int,
    cohorts: int = 2,
    *,
    start_dose: int | None = None,
    scenario: ScenarioOutcomes | None = None,
    data: DoseData | None = None,
) -> pd.DataFrame:
    """Decisions of ``design`` for every outcome sequence of the next ``cohorts`` cohorts.

    Parameters
    ----------
    design : AbstractDesign
        Any design of :mod:`allocart.design` (3+3, BOIN, BF-BOIN, BOIN12, TITE-BOIN, CRM).
    n_doses : int
        Number of dose levels of the trial.
    cohorts : int
        Number of cohorts to enumerate (default 2), from the start of the trial or, with
        ``data``, from there.
    start_dose : int, optional
        0-based dose of the first enumerated cohort; default the design's ``start_dose`` (0 for
        the 3+3). With ``data``, the dose the design advised for the next cohort.
    scenario : ScenarioOutcomes, optional
        True per-dose DLT (and, for BOIN12, response) probabilities; adds the column
        ``probability``, the probability of each pathway under the scenario (the rows' sum is 1).
    data : DoseData, optional
        Complete data observed so far (no pending patient), to enumerate the pathways of a trial
        under way: the cumulative counts and the decisions include them, and they count towards
        the design's ``n_cohorts`` as ``ceil(treated / cohort_size)`` cohorts. For BOIN12 the
        responses of ``data`` are paired with its DLTs as :meth:`BOIN12.recommend` pairs them
        (most conservatively).

    Returns
    -------
    pandas.DataFrame
        One row per pathway, numbered in ``pathway`` (from 1). For each cohort ``i`` (from 1):
        ``cohort_i_dose`` (dose level, from 1), ``cohort_i_treated`` and ``cohort_i_dlts`` (the
        cohort's patients and DLTs), for BOIN12 ``cohort_i_responses`` and
        ``cohort_i_responses_with_dlt``, ``cohort_i_treated_at_dose`` and
        ``cohort_i_dlts_at_dose`` (cumulative at that dose), ``cohort_i_decision`` (``escalate``,
        ``stay``, ``de-escalate``, ``eliminate``, ``stop``, or ``end`` when the design's
        ``n_cohorts`` is reached) and ``cohort_i_next_dose`` (from 1; missing when the trial
        ends). A branch that ends before cohort ``cohorts`` has missing values after it. Last
        come ``selected_dose`` (from 1; the dose a branch that ends selects, where the design
        names one) and, with ``scenario``, ``probability``. Integer columns have the nullable
        ``Int64`` type.

    Raises
    ------
    DesignError
        For a number of doses or cohorts below 1, a start dose outside the doses, a scenario or
        data with another number of doses, data with pending patients, or a table of more than
        :data:`MAX_PATHWAY_ROWS` rows.

    Examples
    --------
    >>> from allocart.design import BOIN
    >>> t = dose_transition_pathways(BOIN(0.3), n_doses=3, cohorts=1, start_dose=1)
    >>> t[["cohort_1_dlts", "cohort_1_decision", "cohort_1_next_dose"]].values.tolist()
    [[0, 'escalate', 3], [1, 'stay', 2], [2, 'de-escalate', 1], [3, 'eliminate', 1]]
    """
    k = check_int("n_doses", n_doses, minimum=1)
    n_coh = check_int("cohorts", cohorts, minimum=1)
    start = getattr(design, "start_dose", 0) if start_dose is None else start_dose
    start = check_int("start_dose", start, minimum=0)
    if start >= k:
        raise DesignError(
            f"`start_dose` is level {start + 1} but the trial has {k} doses; give a level from 1 to {k}."
        )
    if scenario is not None and scenario.n_doses != k:
        raise DesignError(
            f"`scenario` has {scenario.n_doses} doses but `n_doses` is {k}; give one probability per dose."
        )
    cs = int(design.cohort_size)
    n0 = np.zeros(k, dtype=np.int64)
    y0, r0, b0 = n0.copy(), n0.copy(), n0.copy()
    done = 0
    if data is not None:
        if data.n_doses != k:
            raise DesignError(
                f"`data` has {data.n_doses} doses but `n_doses` is {k}; give one count per dose."
            )
        if any(data.pending):
            raise DesignError(
                f"`data` has pending patients ({list(data.pending)}); pathways start from complete "
                "data, so wait for their DLT windows or leave them out."
            )
        n0, y0, r0 = (
            np.asarray(v, dtype=np.int64) for v in (data.treated, data.dlts, data.responses)
        )
        b0 = np.maximum(0, y0 + r0 - n0)
        done = -(-int(n0.sum()) // cs)
    outcomes = cohort_outcomes(design)
    if len(outcomes) ** n_coh > MAX_PATHWAY_ROWS:
        raise DesignError(
            f"`cohorts` = {n_coh} gives up to {len(outcomes)}^{n_coh} pathways, more than "
            f"{MAX_PATHWAY_ROWS}; enumerate fewer cohorts."
        )
    joint = isinstance(design, BOIN12)
    rows: list[dict[str, object]] = []

    def walk(
        i: int,
        d: int,
        n: np.ndarray,
        y: np.ndarray,
        r: np.ndarray,
        both: np.ndarray,
        row: dict[str, object],
        prob: float,
    ) -> None:
        for o in outcomes:
            p = prob if scenario is None else prob * _outcome_probability(design, o, d, scenario)
            n2, y2, r2, b2 = n.copy(), y.copy(), r.copy(), both.copy()
            n2[d] += cs
            y2[d] += o.dlts
            r2[d] += o.responses
            b2[d] += o.responses_with_dlt
            decision, nxt, sel, ends = _decide(design, n2, y2, r2, b2, d, done + i)
            c = f"cohort_{i}_"
            new = dict(row)
            new[c + "dose"] = d + 1
            new[c + "treated"] = cs
            new[c + "dlts"] = o.dlts
            if joint:
                new[c + "responses"] = o.responses
                new[c + "responses_with_dlt"] = o.responses_with_dlt
            new[c + "treated_at_dose"] = int(n2[d])
            new[c + "dlts_at_dose"] = int(y2[d])
            new[c + "decision"] = decision
            new[c + "next_dose"] = None if nxt is None else nxt + 1
            if ends or i == n_coh:
                new["selected_dose"] = None if sel is None else sel + 1
                if scenario is not None:
                    new["probability"] = p
                rows.append(new)
            else:
                walk(i + 1, int(nxt), n2, y2, r2, b2, new, p)  # type: ignore[arg-type]

    walk(1, start, n0, y0, r0, b0, {}, 1.0)
    return _frame(rows, n_coh, joint, scenario is not None)


def _frame(
    rows: Sequence[dict[str, object]], n_coh: int, joint: bool, with_prob: bool
) -> pd.DataFrame:
    """The table with its columns in order and nullable integer types."""
    per = ["dose", "treated", "dlts"]
    per += ["responses", "responses_with_dlt"] if joint else []
    per += ["treated_at_dose", "dlts_at_dose", "decision", "next_dose"]
    cols = [f"cohort_{i}_{c}" for i in range(1, n_coh + 1) for c in per] + ["selected_dose"]
    cols += ["probability"] if with_prob else []
    frame = pd.DataFrame.from_records(list(rows), columns=cols)
    for c in cols:
        if c.endswith("decision"):
            frame[c] = frame[c].astype("string")
        elif c != "probability":
            frame[c] = frame[c].astype("Int64")
    frame.insert(0, "pathway", pd.array(range(1, len(frame) + 1), dtype="Int64"))
    return frame
