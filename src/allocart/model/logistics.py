"""Time to treatment of a CAR-T product: supply chain, manufacturing and the wait it imposes.

An **off-the-shelf** (allogeneic) product is taken from a stock of donor lots: after enrolment
the dose is dispatched to the site and the patient is conditioned (lymphodepletion), so the
time from enrolment to infusion is short and fixed; the stock (doses per lot, lots in stock)
runs out only when patients come faster than lots are replenished
(:func:`inventory_delays`, applied on a trial's calendar).

An **autologous** product is made for each patient: leukapheresis after a washout, a
manufacturing time drawn from a log-normal distribution (leukapheresis to release, the
"vein-to-vein" time without shipping and conditioning), a release failure with some
probability, after which a new leukapheresis and manufacture start (up to
``manufacturing_attempts`` in all) or the patient leaves the study without infusion.

While the patient waits the disease is untreated (:class:`WaitingRules`): flares come as a
Poisson process and each raises the model's latent SLE activity; a patient whose activity
rises above ``withdraw_activity`` before lymphodepletion is not infused
(:mod:`allocart.population.waiting`).

Every default is a parameter row of :data:`PARAMETER_ROWS` (value, unit, source); a product YAML
overrides any of them under ``logistics:``::

    logistics:
      supply: {kind: autologous, manufacturing_median_days: 21, release_failure_probability: 0.1}
      waiting: {flare_rate_per_month: 0.2}

References
----------
Neelapu SS et al. Axicabtagene ciloleucel CAR T-cell therapy in refractory large B-cell
lymphoma (ZUMA-1). N Engl J Med 2017;377:2531-44.
Schuster SJ et al. Tisagenlecleucel in adult relapsed or refractory diffuse large B-cell
lymphoma (JULIET). N Engl J Med 2019;380:45-56.
Abramson JS et al. Lisocabtagene maraleucel for patients with relapsed or refractory large
B-cell lymphomas (TRANSCEND NHL 001). Lancet 2020;396:839-52.
Greco R et al. EBMT practice recommendations for cellular therapies in autoimmune disease.
eClinicalMedicine 2024;69:102476 (washout before leukapheresis, Table 5; lymphodepletion only
after the product is on site, Table 6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from allocart.errors import ProductError

__all__ = [
    "ParameterRow",
    "PARAMETER_ROWS",
    "OffTheShelfSupply",
    "AutologousSupply",
    "WaitingRules",
    "Logistics",
    "LogisticsDraws",
    "parse_logistics",
    "with_default_kind",
    "default_logistics",
    "draw_logistics",
    "inventory_delays",
    "parameter_rows",
    "MAX_ATTEMPTS",
    "MAX_FLARES",
    "NOT_INFUSED_REASONS",
]

#: Most manufacturing attempts a product may allow (first manufacture and re-manufactures).
MAX_ATTEMPTS = 5
#: Flares drawn per patient (far more than a wait of months holds at any plausible rate).
MAX_FLARES = 32
#: Values of ``not_infused_reason`` (None for an infused patient).
NOT_INFUSED_REASONS = ("manufacturing_failure", "flare")
#: Days per month (365.25 / 12), the convention of the cohort and trial interfaces.
_DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class ParameterRow:
    """A default value of the logistics with its unit and source."""

    section: str
    field: str
    value: float
    unit: str
    source: str


#: Defaults of every logistics value, with units and sources.
PARAMETER_ROWS: tuple[ParameterRow, ...] = (
    ParameterRow(
        "off_the_shelf",
        "dispatch_days",
        2.0,
        "day",
        "assumption: cryopreserved doses on site or shipped within 1-3 days; allogeneic "
        "CD19 trials (ALPHA, ALLO-501) report lymphodepletion starting a median 2 days after "
        "enrolment (recalled from conference reports, not checked against a paper)",
    ),
    ParameterRow(
        "off_the_shelf",
        "conditioning_days",
        5.0,
        "day",
        "flu-cy from day -5 (EBMT 2024 Table 6; Mackensen 2022)",
    ),
    ParameterRow(
        "off_the_shelf",
        "doses_per_lot",
        50.0,
        "dose",
        "assumption: one healthy-donor manufacturing run yields tens to about a hundred doses",
    ),
    ParameterRow(
        "off_the_shelf", "lots_in_stock", 2.0, "lot", "assumption: two released lots at opening"
    ),
    ParameterRow(
        "off_the_shelf",
        "replenishment_days",
        60.0,
        "day",
        "assumption: donor collection, manufacture and release testing of a new lot",
    ),
    ParameterRow(
        "autologous",
        "apheresis_days",
        7.0,
        "day",
        "EBMT 2024 Table 5: washout before leukapheresis of at least 1 week for B-cell "
        "antibodies and prednisone <= 10 mg/day from 7 days before",
    ),
    ParameterRow(
        "autologous",
        "manufacturing_median_days",
        24.0,
        "day",
        "TRANSCEND NHL 001 (Abramson 2020): median 24 days from leukapheresis to product "
        "availability (range 17-51); ZUMA-1 17 days, JULIET longer (median 54 days enrolment "
        "to infusion)",
    ),
    ParameterRow(
        "autologous",
        "manufacturing_sigma",
        0.25,
        "1",
        "derived: log-normal sd giving the TRANSCEND range 17-51 days as about the 0.2% and "
        "99.8% quantiles around the median 24 (log(51/24)/2.9 = 0.26)",
    ),
    ParameterRow(
        "autologous",
        "release_failure_probability",
        0.05,
        "1",
        "pivotal CD19 CAR-T trials: 1% (ZUMA-1, 1/111; TRANSCEND, 2/344 not manufacturable) to "
        "about 7-9% (JULIET, ELIANA manufacturing failures); middle of the range",
    ),
    ParameterRow(
        "autologous",
        "manufacturing_attempts",
        2.0,
        "1",
        "assumption: one re-manufacture from a new leukapheresis after a release failure, as "
        "offered in the pivotal trials",
    ),
    ParameterRow(
        "autologous",
        "shipping_days",
        2.0,
        "day",
        "assumption: release to arrival on site (EBMT 2024 Table 6: lymphodepletion only "
        "after the product has arrived)",
    ),
    ParameterRow(
        "autologous",
        "conditioning_days",
        5.0,
        "day",
        "flu-cy from day -5 (EBMT 2024 Table 6; Mackensen 2022)",
    ),
    ParameterRow(
        "waiting",
        "flare_rate_per_month",
        0.1,
        "1/month",
        "assumption: refractory active SLE on standard therapy; about 1 SELENA-SLEDAI flare "
        "per patient-year in the placebo arms of BLISS-52/76",
    ),
    ParameterRow(
        "waiting",
        "flare_activity_increase",
        0.5,
        "1",
        "assumption: a SELENA flare raises SLEDAI-2K by >= 3-4 on a baseline of 8-16, i.e. "
        "latent activity (1 = enrolment) by about half; decays at the model's k_I",
    ),
    ParameterRow(
        "waiting",
        "withdraw_activity",
        2.0,
        "1",
        "assumption: activity twice the enrolment level (every flare descriptor of the readout "
        "present) is a severe flare that bridging glucocorticoids do not control; such a "
        "patient is not infused",
    ),
)


def parameter_rows() -> list[dict[str, Any]]:
    """:data:`PARAMETER_ROWS` as records (section, field, value, unit, source)."""
    return [vars(r).copy() for r in PARAMETER_ROWS]


def _default(section: str, name: str) -> float:
    for r in PARAMETER_ROWS:
        if r.section == section and r.field == name:
            return r.value
    raise KeyError(f"{section}.{name}")  # pragma: no cover - a typo in this module


_Days = Annotated[float, Field(ge=0, le=3650, allow_inf_nan=False)]
_Prob = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class OffTheShelfSupply(BaseModel):
    """An allogeneic product taken from a stock of donor lots (days, doses, lots)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["off_the_shelf"] = "off_the_shelf"
    dispatch_days: _Days = _default("off_the_shelf", "dispatch_days")
    conditioning_days: _Days = _default("off_the_shelf", "conditioning_days")
    doses_per_lot: int = Field(int(_default("off_the_shelf", "doses_per_lot")), ge=1, le=10**6)
    lots_in_stock: int = Field(int(_default("off_the_shelf", "lots_in_stock")), ge=0, le=10**4)
    replenishment_days: _Days = _default("off_the_shelf", "replenishment_days")


class AutologousSupply(BaseModel):
    """An autologous product manufactured for each patient (days, probabilities)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["autologous"] = "autologous"
    apheresis_days: _Days = _default("autologous", "apheresis_days")
    manufacturing_median_days: _Days = _default("autologous", "manufacturing_median_days")
    manufacturing_sigma: float = Field(
        _default("autologous", "manufacturing_sigma"), ge=0, le=3, allow_inf_nan=False
    )
    release_failure_probability: _Prob = _default("autologous", "release_failure_probability")
    manufacturing_attempts: int = Field(
        int(_default("autologous", "manufacturing_attempts")), ge=1, le=MAX_ATTEMPTS
    )
    shipping_days: _Days = _default("autologous", "shipping_days")
    conditioning_days: _Days = _default("autologous", "conditioning_days")


class WaitingRules(BaseModel):
    """What the untreated disease does while a patient waits for the product."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    flare_rate_per_month: float = Field(
        _default("waiting", "flare_rate_per_month"), ge=0, le=30, allow_inf_nan=False
    )
    flare_activity_increase: float = Field(
        _default("waiting", "flare_activity_increase"), ge=0, le=10, allow_inf_nan=False
    )
    withdraw_activity: float = Field(
        _default("waiting", "withdraw_activity"), gt=1, le=100, allow_inf_nan=False
    )


class Logistics(BaseModel):
    """The ``logistics:`` block of a product: its supply and the rules of the wait."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    supply: Annotated[OffTheShelfSupply | AutologousSupply, Field(discriminator="kind")]
    waiting: WaitingRules = WaitingRules()

    @property
    def is_zero(self) -> bool:
        """True when nobody waits, nothing fails and nobody flares (today's as-treated pools)."""
        s = self.supply
        if isinstance(s, OffTheShelfSupply):
            wait = s.dispatch_days + s.conditioning_days
            fails = 0.0
        else:
            wait = (
                s.apheresis_days
                + s.manufacturing_median_days
                + s.shipping_days
                + s.conditioning_days
            )
            fails = s.release_failure_probability
        return wait == 0 and fails == 0


def default_logistics(origin: str) -> Logistics:
    """The default logistics of a product of ``origin`` (``allogeneic`` or ``autologous``)."""
    if origin == "allogeneic":
        return Logistics(supply=OffTheShelfSupply())
    if origin == "autologous":
        return Logistics(supply=AutologousSupply())
    raise ProductError(f"origin: {origin!r} must be 'allogeneic' or 'autologous'")


def with_default_kind(data: dict[str, Any], origin: str) -> dict[str, Any]:
    """A ``logistics:`` mapping with its supply ``kind`` filled in from the product's origin."""
    block = dict(data)
    supply = block.get("supply", {})
    if isinstance(supply, dict) and "kind" not in supply:
        kind = "off_the_shelf" if origin == "allogeneic" else "autologous"
        block["supply"] = {"kind": kind, **supply}
    return block


def parse_logistics(data: Any, *, origin: str, label: str = "logistics") -> Logistics:
    """Validate a product's ``logistics:`` block (None: the defaults of its origin).

    The supply ``kind`` defaults to the product's origin (``off_the_shelf`` for allogeneic).

    Raises
    ------
    ProductError
        One line naming the field, its value and the rule it breaks.
    """
    if data is None:
        return default_logistics(origin)
    if isinstance(data, Logistics):
        return data
    if not isinstance(data, dict):
        raise ProductError(
            f"{label}: must be a mapping with `supply` and `waiting`, got {type(data).__name__}"
        )
    block = with_default_kind(data, origin)
    try:
        return Logistics.model_validate(block)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        raise ProductError(
            f"{label}.{loc} = {err.get('input')!r}: {err['msg']}".replace("\n", " ")
        ) from None


@dataclass(frozen=True)
class LogisticsDraws:
    """Per-patient time to treatment drawn from a product's logistics.

    Attributes
    ----------
    wait_days : ndarray of float, shape (n,)
        Enrolment to infusion (days) of a patient who is infused; for a patient whose every
        manufacture failed, enrolment to the day the last failure is known.
    manufacturing_failed : ndarray of bool, shape (n,)
        No release within the allowed attempts: not infused.
    attempts : ndarray of int, shape (n,)
        Manufactures started (0 for an off-the-shelf product).
    flare_days : ndarray of float, shape (n, MAX_FLARES)
        Days after enrolment of the flares of the untreated disease (increasing; ``inf`` where
        the rate is 0).
    """

    wait_days: NDArray[np.float64]
    manufacturing_failed: NDArray[np.bool_]
    attempts: NDArray[np.int64]
    flare_days: NDArray[np.float64]


#: Entropy added to a cohort's seed for the logistics streams, so that they are independent of
#: (and do not shift) the covariate, parameter, readout and link streams of the same seed.
_STREAM = 0x10C15


def _rng(seed: int, purpose: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), _STREAM, purpose]))


def draw_logistics(logistics: Logistics, n: int, seed: int) -> LogisticsDraws:
    """Draw each patient's wait, manufacturing outcome and flare days.

    Person ``k`` of the same seed gets the same uniforms whatever the logistics values (fixed
    array shapes, one stream per purpose), so a longer manufacturing time or a higher failure
    probability changes the same people monotonically.

    Parameters
    ----------
    logistics : Logistics
    n : int
        Patients.
    seed : int
        The cohort's seed.
    """
    z = _rng(seed, 0).standard_normal((n, MAX_ATTEMPTS))
    u_fail = _rng(seed, 1).random((n, MAX_ATTEMPTS))
    gaps = _rng(seed, 2).standard_exponential((n, MAX_FLARES))
    w = logistics.waiting
    rate_per_day = w.flare_rate_per_month / _DAYS_PER_MONTH
    flares = (
        np.cumsum(gaps, axis=1) / rate_per_day if rate_per_day > 0 else np.full_like(gaps, np.inf)
    )
    s = logistics.supply
    if isinstance(s, OffTheShelfSupply):
        wait = np.full(n, s.dispatch_days + s.conditioning_days)
        return LogisticsDraws(
            wait_days=wait,
            manufacturing_failed=np.zeros(n, dtype=bool),
            attempts=np.zeros(n, dtype=np.int64),
            flare_days=flares,
        )
    a = s.manufacturing_attempts
    make = s.apheresis_days + s.manufacturing_median_days * np.exp(s.manufacturing_sigma * z[:, :a])
    failed = u_fail[:, :a] < s.release_failure_probability
    elapsed = np.cumsum(make, axis=1)
    ok = ~failed
    any_ok = ok.any(axis=1)
    first = np.where(any_ok, ok.argmax(axis=1), a - 1)
    rows = np.arange(n)
    done = elapsed[rows, first]
    wait = np.where(any_ok, done + s.shipping_days + s.conditioning_days, done)
    return LogisticsDraws(
        wait_days=wait.astype(float),
        manufacturing_failed=np.asarray(~any_ok),  # .any(axis=1) of a 2-D array: an array
        attempts=(first + 1).astype(np.int64),
        flare_days=flares,
    )


def inventory_delays(
    enrol_days: NDArray[np.floating], supply: OffTheShelfSupply
) -> NDArray[np.float64]:
    """Extra wait of each patient for a dose of an off-the-shelf stock, in enrolment order.

    The run opens with ``lots_in_stock`` lots of ``doses_per_lot`` doses; each lot emptied is
    reordered at once and arrives ``replenishment_days`` later. Patients are served first come,
    first served: one enrolled while no dose is left waits for the next lot.

    Parameters
    ----------
    enrol_days : ndarray, shape (n,)
        Enrolment days of the patients of one trial (any order; ``nan`` for no patient).

    Returns
    -------
    ndarray, shape (n,)
        Days each patient waits for a dose (0 while the stock lasts; ``nan`` where the input
        is ``nan``).

    Examples
    --------
    >>> s = OffTheShelfSupply(doses_per_lot=2, lots_in_stock=1, replenishment_days=30)
    >>> inventory_delays(np.array([0.0, 1.0, 2.0, 3.0, 40.0]), s).tolist()
    [0.0, 0.0, 29.0, 28.0, 21.0]
    """
    t = np.asarray(enrol_days, dtype=float)
    out = np.full(t.shape, np.nan)
    order = np.argsort(np.where(np.isnan(t), np.inf, t), kind="stable")
    # Each dose is available from a time: the initial stock at -inf, then one lot per lot emptied.
    available: list[float] = [-math.inf] * (supply.lots_in_stock * supply.doses_per_lot)
    used = 0
    for i in order:
        if math.isnan(t[i]):
            continue
        if used >= len(available):
            # No stock and nothing on order (a run opened with no lot): order now.
            available += [t[i] + supply.replenishment_days] * supply.doses_per_lot
        ready = available[used]
        given = max(t[i], ready)
        out[i] = given - t[i]
        used += 1
        if used % supply.doses_per_lot == 0:
            # A lot emptied: its replacement arrives replenishment_days after this dose.
            available += [given + supply.replenishment_days] * supply.doses_per_lot
    return out
