"""Operating characteristics of any design under fixed true per-dose probabilities.

:func:`operating_characteristics` is the one call that gives a design's operating characteristics
for true per-dose DLT (and response) probabilities, whatever the design: exact by enumeration for
the 3+3 (:func:`~allocart.design.exact.exact_oc_3plus3`), by simulation with common random numbers
for the others (:func:`~allocart.design.oc.simulate_oc`). A virtual-trial runner that feeds the same
probabilities as a fixed scenario can compare its results with this reference.
"""

from __future__ import annotations

from collections.abc import Sequence

from allocart.design.base import AbstractDesign, ScenarioOutcomes
from allocart.design.boin12 import BOIN12
from allocart.design.exact import exact_oc_3plus3
from allocart.design.oc import Accrual, OCResult, simulate_oc
from allocart.design.threeplusthree import ThreePlusThree
from allocart.errors import DesignError

__all__ = ["operating_characteristics"]


def operating_characteristics(
    design: AbstractDesign,
    p_tox: Sequence[float],
    p_eff: Sequence[float] | None = None,
    *,
    n_trials: int = 10_000,
    seed: int = 1,
    accrual: Accrual | None = None,
    exact: bool | None = None,
) -> OCResult:
    """Operating characteristics of ``design`` when the true per-dose probabilities are known.

    Parameters
    ----------
    design : AbstractDesign
        Any design of :mod:`allocart.design`: :class:`~allocart.design.ThreePlusThree`,
        :class:`~allocart.design.BOIN`, :class:`~allocart.design.BFBOIN`,
        :class:`~allocart.design.BOIN12`, :class:`~allocart.design.TITEBOIN`,
        :class:`~allocart.design.CRM`.
    p_tox : sequence of float
        True DLT probability per dose (dose levels in order), in [0, 1].
    p_eff : sequence of float, optional
        True response probability per dose; required by BOIN12, ignored by designs that decide on
        DLTs only. Toxicity and response are independent given the dose.
    n_trials : int
        Simulated trials (ignored when exact); the Monte-Carlo SE of a selection percentage ``s``
        is ``100 * sqrt(s/100 * (1 - s/100) / n_trials)`` points.
    seed : int
        Seed of the common random numbers (ignored when exact).
    accrual : Accrual, optional
        Accrual rate (patients/month) and DLT window (months). Required by TITE-BOIN and BF-BOIN,
        whose decisions depend on the calendar; a rate far below one patient per window (e.g.
        ``Accrual(1e-7, 1.0)``) gives complete follow-up before every decision, with which
        TITE-BOIN is BOIN. For the other designs it only adds the mean duration.
    exact : bool, optional
        ``True`` asks for enumeration (3+3 only); ``False`` forces simulation; default: exact for
        the 3+3, simulated otherwise.

    Returns
    -------
    OCResult
        Selection percentages per dose and of no dose, mean patients and DLTs per dose, mean
        sample size, mean per-trial DLT proportion, overdose selection (doses whose ``p_tox``
        exceeds ``design.target``), ``exact`` and, when simulated, ``n_trials`` and ``seed``.

    Raises
    ------
    DesignError
        For probabilities outside [0, 1], ``p_eff`` of another length, BOIN12 without ``p_eff``,
        TITE-BOIN or BF-BOIN without ``accrual``, or ``exact=True`` for a design other than the
        3+3.

    Examples
    --------
    >>> from allocart.design import ThreePlusThree
    >>> r = operating_characteristics(ThreePlusThree(), [0.05, 0.5])
    >>> r.exact, [round(float(x), 1) for x in r.selection_pct]
    (True, [86.1, 10.6])
    """
    if isinstance(design, BOIN12) and not p_eff:
        raise DesignError(
            "`p_eff` is required for BOIN12, which selects by response as well as DLT; give the "
            "true response probability per dose."
        )
    scenario = ScenarioOutcomes(p_tox=tuple(p_tox), p_eff=tuple(p_eff or ()))
    if exact and not isinstance(design, ThreePlusThree):
        raise DesignError(
            f"`exact` is available for the 3+3 only, got design {design.name!r}; leave it unset."
        )
    if isinstance(design, ThreePlusThree) and exact is not False:
        return exact_oc_3plus3(design, scenario)
    if getattr(design, "needs_accrual", False) and accrual is None:
        raise DesignError(
            f"`accrual` is required for {design.name}, whose decisions depend on the calendar; "
            "give Accrual(per_month, dlt_window_months) (a rate far below one patient per window "
            "gives complete follow-up)."
        )
    return simulate_oc(design, scenario, n_trials, seed, accrual=accrual)
