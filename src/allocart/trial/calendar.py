"""Calendar rules of a protocol: accrual, sentinel dosing, stagger, follow-up, screening, dropout.

These are the rules investigators write into a dose-finding protocol about *when* patients are
treated, as opposed to *at which dose* (the design). Every field has a default that keeps the
simplest calendar: Poisson accrual, no sentinel wait, no stagger, decisions after the DLT window,
no screening failure and no dropout. How the rules are applied is
:mod:`allocart.trial.schedule`.

Times are in days, as protocols write them; the schedule converts them to months
(:data:`~allocart.trial.protocol.DAYS_PER_MONTH` days each).

References
----------
Sentinel dosing and staggered infusion within a cohort: EMA Guideline on strategies to identify
and mitigate risks for first-in-human and early clinical trials (EMEA/CHMP/SWP/28367/07 Rev. 1,
2017), section 8.2.3; FDA Considerations for the Design of Early-Phase Clinical Trials of
Cellular and Gene Therapy Products (2015), section V.C (staggering of the first subjects).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Accrual", "Calendar", "ACCRUAL_PROCESSES", "MAX_NOT_EVALUABLE"]

#: How patients arrive: ``poisson`` (exponential gaps of mean 1/rate) or ``fixed`` (one patient
#: every 1/rate months exactly).
ACCRUAL_PROCESSES = ("poisson", "fixed")

#: Largest share of arriving candidates that may end up not evaluable (screening failure, dropout
#: before infusion or during follow-up, together): above it a trial would need more than ten
#: candidates per evaluable patient, which no protocol plans for.
MAX_NOT_EVALUABLE = 0.9


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Accrual(_Frozen):
    """How candidates arrive at the sites (after consent, before screening)."""

    per_month: float = Field(
        ..., gt=0, le=100, description="Mean accrual rate, patients per month."
    )
    process: Literal["poisson", "fixed"] = Field(
        "poisson",
        description="poisson: exponential gaps between arrivals; fixed: one every 1/per_month months.",
    )


class Calendar(_Frozen):
    """When patients are infused and when the next cohort may start.

    Attributes
    ----------
    sentinel_days : int
        Sentinel dosing: at a dose level given to nobody before, the first patient is infused
        alone and the next patient at that level waits this many days after the first's
        infusion (0: no sentinel).
    stagger_days : int
        Days between two consecutive infusions within a cohort (0: same day).
    min_followup_days : int or None
        Follow-up of a cohort's last patient before the decision on the next cohort; default
        (null) the DLT window, or for a design dosing by response (BOIN12) the day of that
        response's assessment. At least the DLT window. TITE-BOIN decides with partial follow-up
        by its own rule and ignores it.
    screen_failure : float
        Probability that an arriving candidate fails screening (never enrolled).
    dropout_before_infusion : float
        Probability that an enrolled patient leaves before the infusion (while their dose is
        made or waits); they are replaced.
    dropout_followup : float
        Probability that an infused patient leaves during the DLT window without a DLT, hence is
        not evaluable for the dose decision; they are replaced.
    """

    sentinel_days: int = Field(
        0, ge=0, le=180, description="Wait after the first patient of a new dose level, days."
    )
    stagger_days: int = Field(
        0, ge=0, le=180, description="Wait between infusions within a cohort, days."
    )
    min_followup_days: int | None = Field(
        None,
        ge=1,
        le=365,
        description="Follow-up of a cohort's last patient before the next decision, days; "
        "default the DLT window (or the response assessment for BOIN12).",
    )
    screen_failure: float = Field(
        0.0, ge=0, lt=1, description="Probability a candidate fails screening."
    )
    dropout_before_infusion: float = Field(
        0.0, ge=0, lt=1, description="Probability an enrolled patient leaves before infusion."
    )
    dropout_followup: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Probability an infused patient leaves the DLT window without a DLT.",
    )

    @property
    def evaluable_probability(self) -> float:
        """Probability that a candidate becomes an evaluable patient (calendar causes only)."""
        return (
            (1.0 - self.screen_failure)
            * (1.0 - self.dropout_before_infusion)
            * (1.0 - self.dropout_followup)
        )
