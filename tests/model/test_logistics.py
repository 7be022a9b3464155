"""Product logistics: defaults with sources, validation, draws and the lot inventory."""

from __future__ import annotations

import math
from importlib import resources

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocart.errors import ProductError
from allocart.model.logistics import (
    MAX_ATTEMPTS,
    PARAMETER_ROWS,
    AutologousSupply,
    Logistics,
    OffTheShelfSupply,
    WaitingRules,
    default_logistics,
    draw_logistics,
    inventory_delays,
    parse_logistics,
)
from allocart.model.products import list_products, load_product
from tests.helpers_logistics import zero_autologous


#: Monte-Carlo tolerance of a proportion estimated from n draws: 4 binomial standard errors.
def _mc_tol(p: float, n: int) -> float:
    return 4 * math.sqrt(p * (1 - p) / n)


def _zero() -> Logistics:
    return parse_logistics(zero_autologous(), origin="autologous")


def test_every_default_is_a_row_with_unit_and_source():
    models = {
        "off_the_shelf": OffTheShelfSupply(),
        "autologous": AutologousSupply(),
        "waiting": WaitingRules(),
    }
    for row in PARAMETER_ROWS:
        assert row.unit and len(row.source) > 20, row
        assert float(getattr(models[row.section], row.field)) == row.value, row
    # Every numeric field of the three models has its row.
    for section, m in models.items():
        fields = {k for k in type(m).model_fields if k != "kind"}
        assert fields == {r.field for r in PARAMETER_ROWS if r.section == section}


def test_builtin_products_state_the_defaults_of_their_origin():
    for name in list_products():
        p = load_product(name)
        assert p.logistics is not None, name
        assert p.time_to_treatment() == default_logistics(p.origin), name
        expected = "off_the_shelf" if p.origin == "allogeneic" else "autologous"
        assert p.logistics.supply.kind == expected


def _product_file(tmp_path, logistics):
    builtin = resources.files("allocart.model") / "resources/products/autologous-cd19.yaml"
    data = yaml.safe_load(builtin.read_text(encoding="utf-8"))
    data["logistics"] = logistics
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    "block, field",
    [
        ({"supply": {"release_failure_probability": 1.5}}, "release_failure_probability"),
        ({"supply": {"manufacturing_median_days": -3}}, "manufacturing_median_days"),
        ({"supply": {"manufacturing_attempts": 0}}, "manufacturing_attempts"),
        ({"supply": {"shipping_days": float("nan")}}, "shipping_days"),
        ({"supply": {"kind": "drone"}}, "supply"),
        ({"supply": {"lead_days": 3}}, "lead_days"),
        ({"waiting": {"withdraw_activity": 0.5}}, "withdraw_activity"),
        ({"waiting": {"flare_rate_per_month": "often"}}, "flare_rate_per_month"),
        ({"shipping": 2}, "shipping"),
    ],
)
def test_bad_values_are_one_line_errors_naming_the_field(tmp_path, block, field):
    with pytest.raises(ProductError) as e:
        load_product(_product_file(tmp_path, block))
    msg = str(e.value)
    assert "\n" not in msg and field in msg and "logistics" in msg


def test_parse_logistics_names_the_block():
    with pytest.raises(ProductError, match=r"^logistics: must be a mapping"):
        parse_logistics([1, 2], origin="autologous")
    with pytest.raises(ProductError, match=r"logistics\.supply\.off_the_shelf\.doses_per_lot"):
        parse_logistics({"supply": {"doses_per_lot": 0}}, origin="allogeneic")


def test_user_product_overrides_one_value(tmp_path):
    p = load_product(_product_file(tmp_path, {"supply": {"manufacturing_median_days": 40}}))
    s = p.time_to_treatment().supply
    assert isinstance(s, AutologousSupply)
    assert s.manufacturing_median_days == 40
    assert s.release_failure_probability == AutologousSupply().release_failure_probability


def test_zero_logistics_waits_nothing_and_never_fails():
    z = _zero()
    assert z.is_zero
    d = draw_logistics(z, 500, 7)
    assert (d.wait_days == 0).all() and not d.manufacturing_failed.any()
    assert not default_logistics("autologous").is_zero
    assert not default_logistics("allogeneic").is_zero


def test_off_the_shelf_wait_is_fixed():
    d = draw_logistics(default_logistics("allogeneic"), 100, 1)
    s = OffTheShelfSupply()
    assert np.all(d.wait_days == s.dispatch_days + s.conditioning_days)
    assert not d.manufacturing_failed.any() and (d.attempts == 0).all()


def test_autologous_wait_and_failure_match_their_distribution():
    n = 20000
    s = AutologousSupply(release_failure_probability=0.3, manufacturing_attempts=2)
    d = draw_logistics(Logistics(supply=s), n, 11)
    # Both attempts fail with probability p^2.
    p_fail = 0.3**2
    assert abs(d.manufacturing_failed.mean() - p_fail) < _mc_tol(p_fail, n)
    # Released at the first attempt (probability 0.7): wait = apheresis + log-normal + ship + LD.
    first = d.attempts == 1
    assert abs(first.mean() - 0.7) < _mc_tol(0.7, n)
    make = d.wait_days[first] - s.apheresis_days - s.shipping_days - s.conditioning_days
    # Median of a log-normal sample: its log has sd sigma, so the median's log has sd about
    # 1.2533 sigma / sqrt(n); 4 of those.
    tol = 4 * 1.2533 * s.manufacturing_sigma / math.sqrt(first.sum())
    assert abs(math.log(np.median(make)) - math.log(s.manufacturing_median_days)) < tol
    # A second attempt takes at least a second leukapheresis and manufacture longer.
    second = (d.attempts == 2) & ~d.manufacturing_failed
    assert d.wait_days[second].min() > 2 * s.apheresis_days + s.shipping_days
    assert (d.wait_days >= 0).all() and (d.attempts <= MAX_ATTEMPTS).all()


def test_same_people_wait_longer_under_a_longer_manufacture():
    short = Logistics(supply=AutologousSupply(manufacturing_median_days=10))
    long = Logistics(supply=AutologousSupply(manufacturing_median_days=40))
    a, b = draw_logistics(short, 300, 5), draw_logistics(long, 300, 5)
    np.testing.assert_array_equal(a.manufacturing_failed, b.manufacturing_failed)
    assert (b.wait_days > a.wait_days).all()
    np.testing.assert_array_equal(a.flare_days, b.flare_days)


def test_flares_are_a_poisson_process_of_the_stated_rate():
    n = 4000
    lg = parse_logistics({"waiting": {"flare_rate_per_month": 0.5}}, origin="autologous")
    d = draw_logistics(lg, n, 3)
    horizon = 365.25 / 12 * 6  # six months
    counts = (d.flare_days < horizon).sum(axis=1)
    mean = 0.5 * 6
    assert abs(counts.mean() - mean) < 4 * math.sqrt(mean / n)
    assert abs(counts.var() - mean) < 0.3  # Poisson: variance = mean (sd of var ~ 0.07 here)
    none = draw_logistics(
        parse_logistics({"waiting": {"flare_rate_per_month": 0}}, origin="autologous"), 10, 3
    )
    assert np.isinf(none.flare_days).all()


def test_inventory_serves_from_stock_then_waits_for_lots():
    s = OffTheShelfSupply(doses_per_lot=2, lots_in_stock=1, replenishment_days=30)
    got = inventory_delays(np.array([3.0, 0.0, 40.0, 1.0, 2.0]), s)
    # In order of enrolment: days 0, 1 from stock; lot 2 reordered at day 1 arrives day 31
    # (patients of days 2 and 3), reordered at 31 and arriving 61 (patient of day 40).
    np.testing.assert_allclose(got, [28.0, 0.0, 21.0, 0.0, 29.0])
    big = OffTheShelfSupply(doses_per_lot=100, lots_in_stock=1)
    assert (inventory_delays(np.arange(50.0), big) == 0).all()
    empty = OffTheShelfSupply(doses_per_lot=5, lots_in_stock=0, replenishment_days=10)
    np.testing.assert_allclose(inventory_delays(np.array([4.0, np.nan]), empty), [10.0, np.nan])


_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**6), 10**6),
    st.text(max_size=5),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)
_supply_keys = st.sampled_from(
    [
        "kind",
        "apheresis_days",
        "manufacturing_median_days",
        "manufacturing_sigma",
        "release_failure_probability",
        "manufacturing_attempts",
        "shipping_days",
        "conditioning_days",
        "dispatch_days",
        "doses_per_lot",
        "lots_in_stock",
        "replenishment_days",
        "other",
    ]
)
_waiting_keys = st.sampled_from(
    ["flare_rate_per_month", "flare_activity_increase", "withdraw_activity", "x"]
)
_kind_values = st.sampled_from(["autologous", "off_the_shelf", "x"])
_blocks = st.fixed_dictionaries(
    {},
    optional={
        "supply": st.dictionaries(
            _supply_keys, st.one_of(_values, _kind_values, st.floats(0, 100)), max_size=5
        ),
        "waiting": st.dictionaries(_waiting_keys, st.one_of(_values, st.floats(0, 5)), max_size=3),
        "extra": _values,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(block=_blocks, origin=st.sampled_from(["autologous", "allogeneic"]))
def test_any_logistics_block_parses_or_fails_in_one_line(block, origin):
    try:
        lg = parse_logistics(block, origin=origin)
    except ProductError as e:
        msg = str(e)
        assert msg.startswith("logistics") and "\n" not in msg
        return
    d = draw_logistics(lg, 20, 1)
    assert np.isfinite(d.wait_days).all() and (d.wait_days >= 0).all()
    assert (d.attempts >= 0).all() and (d.attempts <= MAX_ATTEMPTS).all()
    if isinstance(lg.supply, OffTheShelfSupply):
        assert not d.manufacturing_failed.any()
    elif lg.supply.release_failure_probability == 0:
        assert not d.manufacturing_failed.any()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(block=_blocks)
def test_any_logistics_block_in_a_product_yaml_loads_or_fails_in_one_line(tmp_path, block):
    try:
        path = _product_file(tmp_path, block)
    except (ValueError, OverflowError):  # not representable in YAML
        return
    try:
        p = load_product(path)
    except ProductError as e:
        assert "\n" not in str(e) and "logistics" in str(e)
        return
    assert isinstance(p.time_to_treatment(), Logistics)
