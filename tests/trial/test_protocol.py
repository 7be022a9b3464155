"""Protocol validation: every built-in scenario loads; every error names the field and the value."""

from __future__ import annotations

import copy

import pytest
from pydantic import ValidationError

from allocart.errors import AllocartError, DesignError
from allocart.trial.builtin import list_scenarios, resolve_protocol, scenario_path
from allocart.trial.protocol import load_protocol, protocol_from_dict
from tests.trial.conftest import default_dict


def test_builtin_scenarios_load_and_default_is_the_trial_of_the_issue():
    names = list(list_scenarios())
    assert names[0] == "default"
    assert {"autologous-cd19", "reduced-ld", "no-ld", "boin"} <= set(names)
    for name in names:
        p = resolve_protocol(name)
        assert p.name == name
    p = resolve_protocol(None)
    assert p.product == "allogeneic-cd19cd20"
    assert p.dose_levels == ("3.0e8", "4.5e8", "6.0e8")
    assert p.lymphodepletion == "flu-cy"
    assert p.cohort_size == 3 and p.dlt.window_days == 28
    assert p.design.name == "boin12"
    assert {m for ep in p.endpoints for m in ep.months} == {3, 6}
    # BOIN12 doses by DORIS remission at month 6, an endpoint the protocol assesses.
    assert p.design.efficacy_endpoint == "doris_m6" and p.design.efficacy_target == 0.30
    assert "doris_m6" in [c for ep in p.endpoints for c in ep.columns()]
    assert p.supportive_care.gcsf_from_day == 7
    for name in names:
        q = resolve_protocol(name)
        if q.design.name == "boin12":
            assert q.design.efficacy_endpoint == "doris_m6", name


def test_hash_is_stable_and_changes_with_any_setting():
    a = protocol_from_dict(default_dict())
    b = protocol_from_dict(default_dict())
    assert a.hash() == b.hash() and len(a.hash()) == 64
    d = default_dict()
    d["simulation"]["seed"] += 1
    assert protocol_from_dict(d).hash() != a.hash()
    # Supportive care changes the virtual patients: a new hash, so no pool is reused.
    for g in (None, 0, 14):
        d = default_dict()
        d["supportive_care"] = {"gcsf_from_day": g}
        assert protocol_from_dict(d).hash() != a.hash(), g


def test_supportive_care_defaults_to_no_gcsf():
    d = default_dict()
    d.pop("supportive_care")
    p = protocol_from_dict(d)
    assert p.supportive_care.gcsf_from_day is None
    assert p.to_dict()["supportive_care"] == {"gcsf_from_day": None}
    d["supportive_care"] = {"gcsf_from_day": 0}
    assert protocol_from_dict(d).supportive_care.gcsf_from_day == 0
    with pytest.raises(ValidationError):  # frozen
        p.supportive_care.gcsf_from_day = 3  # type: ignore[misc]


def test_overrides_replace_simulation_values():
    p = load_protocol(scenario_path("default"), overrides={"replicates": 17, "seed": None})
    assert p.simulation.replicates == 17
    assert p.simulation.seed == resolve_protocol("default").simulation.seed


def _error(mutate) -> str:
    d = copy.deepcopy(default_dict())
    mutate(d)
    with pytest.raises(DesignError) as exc:
        protocol_from_dict(d)
    assert isinstance(exc.value, AllocartError)
    return str(exc.value)


#: Protocol changes refused, as (change, field the message names, value it shows).
FIELD_REFUSALS = [
    (lambda d: d.update(cohort_size=0), "cohort_size", "0"),
    (lambda d: d.update(product="car-x"), "product", "'car-x'"),
    (lambda d: d.update(lymphodepletion="benda"), "lymphodepletion", "'benda'"),
    (lambda d: d.update(dose_levels=["3e8", "lots"]), "dose_levels", "'lots'"),
    (lambda d: d["design"].update(name="up-and-down"), "design.name", "'up-and-down'"),
    (lambda d: d["design"].update(target=0.9), "design.target", "0.9"),
    (
        lambda d: d["design"].update(efficacy_endpoint="sledai2k_m3"),
        "design.efficacy_endpoint",
        "'sledai2k_m3'",
    ),
    (lambda d: d["dlt"].update(window_days=0), "dlt.window_days", "0"),
    (lambda d: d["dlt"].update(rules={"icans_min_grade": 9}), "dlt.rules", "9"),
    (lambda d: d["simulation"].update(replicates=0), "simulation.replicates", "0"),
    (lambda d: d["simulation"].update(pool_size="many"), "simulation.pool_size", "'many'"),
    (lambda d: d["accrual"].update(per_month=-1), "accrual.per_month", "-1"),
    (lambda d: d.update(start_dose=5), "start_dose", "5"),
    (lambda d: d.update(max_sample_size=20), "max_sample_size", "20"),
    (lambda d: d.update(schedule_days=[0, 7, 28, 183]), "endpoints", "month 3"),
    (
        lambda d: d["endpoints"].append({"name": "qol", "months": [3]}),
        "endpoints[5].name",
        "'qol'",
    ),
    (
        lambda d: d["comparators"][0].update(product="car-y"),
        "comparators[0].product",
        "'car-y'",
    ),
    (lambda d: d.update(colour="blue"), "colour", "unknown field"),
    (
        lambda d: d.update(supportive_care={"gcsf_from_day": -1}),
        "supportive_care.gcsf_from_day",
        "-1",
    ),
    (
        lambda d: d.update(supportive_care={"gcsf_from_day": 7.5}),
        "supportive_care.gcsf_from_day",
        "7.5",
    ),
    (
        lambda d: d.update(supportive_care={"gcsf_from_day": "soon"}),
        "supportive_care.gcsf_from_day",
        "'soon'",
    ),
    (
        lambda d: d.update(supportive_care={"gcsf_from_day": True}),
        "supportive_care.gcsf_from_day",
        "True",
    ),
    (
        lambda d: d.update(supportive_care={"gcsf_from_day": 400}),
        "supportive_care.gcsf_from_day",
        "400",
    ),
    (
        lambda d: d.update(supportive_care={"gcsf_from_day": 7, "filgrastim_ug": 300}),
        "supportive_care.filgrastim_ug",
        "unknown field",
    ),
    (lambda d: d.update(supportive_care=7), "supportive_care", "7"),
]


def test_missing_required_field_is_named():
    msg = _error(lambda d: d.pop("max_sample_size"))
    assert "max_sample_size: required field is missing" in msg


def test_boin12_needs_an_efficacy_target():
    msg = _error(lambda d: d["design"].pop("efficacy_target"))
    assert "design.efficacy_target" in msg


def test_files_missing_or_not_yaml(tmp_path):
    with pytest.raises(DesignError, match="does not exist"):
        load_protocol(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(DesignError, match="not valid YAML"):
        load_protocol(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(DesignError, match="must be a YAML mapping"):
        load_protocol(lst)


def test_unknown_scenario_lists_the_builtins():
    with pytest.raises(DesignError, match="built-in: default"):
        resolve_protocol("no-such-scenario")


def test_design_objects_follow_the_protocol():
    p = resolve_protocol("default")
    d = p.make_design()
    assert d.name == "boin12" and d.n_cohorts == 6 and d.cohort_size == 3 and d.eff_lower == 0.3
    assert resolve_protocol("boin").make_design().name == "boin"


# ---------------------------------------------------------------- schedule, doses, endpoints, name


def test_schedule_days_are_the_visits_of_the_virtual_patients():
    p = protocol_from_dict(default_dict())
    assert p.visit_days == tuple(d for d in p.schedule_days if d > 0)
    d = default_dict()
    d["schedule_days"] = [0, 14, 91, 183]
    q = protocol_from_dict(d)
    assert q.visit_days == (14, 91, 183)
    assert q.hash() != p.hash()  # other visits, other virtual patients' records: other pools


#: More refusals of the same kind, made as the protocol is loaded: schedule, doses, name.
LOAD_TIME_REFUSALS = [
    # The endpoint months must be visits of the schedule (day = round(month * 365.25 / 12)).
    (lambda d: d.update(schedule_days=[0, 7, 28, 91]), "endpoints[0].months", "day 183"),
    (lambda d: d.update(schedule_days=[0, 90, 183]), "endpoints[0].months", "day 91"),
    # Dose levels: plausible, one unit, strictly increasing; comparators too.
    (lambda d: d.update(dose_levels=["3e8", "1e30"]), "dose_levels", "'1e30'"),
    (lambda d: d.update(dose_levels=["3e8", 1.0e30]), "dose_levels", "1e+30"),
    (lambda d: d.update(dose_levels=["10", "3e8"]), "dose_levels", "'10'"),
    (lambda d: d.update(dose_levels=["0", "3e8"]), "dose_levels", "'0'"),
    (lambda d: d.update(dose_levels=["3e8", "2e8"]), "dose_levels", "'2e8'"),
    (lambda d: d.update(dose_levels=["3e8", "3e8"]), "dose_levels", "'3e8'"),
    (lambda d: d.update(dose_levels=["3e8", "1e6/kg"]), "dose_levels", "'1e6/kg'"),
    (lambda d: d.update(dose_levels=["1e6/kg", "1e10/kg"]), "dose_levels", "'1e10/kg'"),
    (lambda d: d.update(dose_levels=["3e8", True]), "dose_levels", "True"),
    (
        lambda d: d["comparators"][0].update(dose_levels=["1e6/kg", "1e12/kg"]),
        "comparators[0].dose_levels",
        "'1e12/kg'",
    ),
    (
        lambda d: d["comparators"][0].update(dose_levels=["2e6/kg", "1e6/kg"]),
        "comparators[0].dose_levels",
        "'1e6/kg'",
    ),
    # An endpoint twice, or a month twice.
    (
        lambda d: d["endpoints"].append({"name": "sri4", "months": [6]}),
        "endpoints[5].name",
        "'sri4'",
    ),
    (lambda d: d["endpoints"][1].update(months=[3, 3, 6]), "endpoints[1].months", "month 3"),
    # The name names the run folder.
    (lambda d: d.update(name="../../x"), "name", "'../../x'"),
    (lambda d: d.update(name="/tmp/x"), "name", "'/tmp/x'"),
    (lambda d: d.update(name="a\\b"), "name", "'a\\\\b'"),
    (lambda d: d.update(name=".hidden"), "name", "'.hidden'"),
    (lambda d: d.update(name=".."), "name", "'..'"),
    (lambda d: d.update(name=""), "name", "''"),
    (lambda d: d.update(name="x" * 101), "name", "'xxxx"),
    (lambda d: d.update(name="my trial"), "name", "'my trial'"),
    (lambda d: d.update(name=7), "name", "7"),
]


@pytest.mark.parametrize(("mutate", "field", "value"), [*FIELD_REFUSALS, *LOAD_TIME_REFUSALS])
def test_errors_name_the_field_and_the_value(mutate, field, value):
    msg = _error(mutate)
    assert field in msg, msg
    assert value in msg, msg
    assert "\n" not in msg.strip()


@pytest.mark.parametrize("name", ["default", "my-trial_2.v1", "A", "x" * 100, "3e8-flu.cy"])
def test_safe_names_are_accepted(name):
    d = default_dict()
    d["name"] = name
    assert protocol_from_dict(d).name == name


@pytest.mark.parametrize(
    "levels",
    [["1e3", "1e11"], ["1e2/kg", "1e9/kg"], ["0.5e6/kg", "1e6/kg", "2e6/kg"], [3.0e8, 4.5e8]],
)
def test_plausible_increasing_doses_are_accepted(levels):
    d = default_dict()
    d["dose_levels"] = levels
    assert len(protocol_from_dict(d).dose_levels) == len(levels)


def test_simulation_must_be_a_mapping_even_with_overrides(tmp_path):
    for bad in ("[1, 2]", "fast"):
        d = default_dict()
        d.pop("simulation")
        f = tmp_path / "p.yaml"
        import yaml

        f.write_text(yaml.safe_dump(d) + f"simulation: {bad}\n")
        for overrides in (None, {"replicates": 5}):
            with pytest.raises(DesignError, match="simulation: ") as exc:
                load_protocol(f, overrides=overrides)
            assert "\n" not in str(exc.value)


def test_file_problems_are_one_line_design_errors(tmp_path):
    from allocart.errors import FileError

    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(DesignError, match="not UTF-8 text") as exc:
        load_protocol(bad)
    assert isinstance(exc.value, FileError) and "latin1.yaml" in str(exc.value)
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    with pytest.raises(DesignError, match="is a folder, not a file"):
        load_protocol(folder)
    deep = tmp_path / "deep.yaml"
    deep.write_text("name: " + "[" * 300 + "]" * 300 + "\n")
    with pytest.raises(DesignError, match="nested"):
        load_protocol(deep)
