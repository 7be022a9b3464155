"""The protocol's ``design:`` section: every design of the library, its options, its errors;
random ``design:`` and ``calendar:`` sections (Hypothesis) are accepted or refused in one line."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from allocart.design.tables import DESIGNS
from allocart.errors import DesignError
from allocart.trial.calendar import Calendar
from allocart.trial.designs import DESIGN_OPTIONS, SUPPORTED_DESIGNS, DesignSpec
from allocart.trial.protocol import protocol_from_dict
from tests.properties import check_refusal, fast, weird_values
from tests.trial.conftest import small_dict

#: A valid ``design:`` section per design, with a non-default value of each option.
SECTIONS = {
    "3+3": {"name": "3+3", "expand_mtd": False},
    "boin": {"name": "boin", "target": 0.25, "n_earlystop": 9, "extrasafe": True},
    "bf-boin": {"name": "bf-boin", "target": 0.25, "backfill_cap": 9},
    "boin12": small_dict()["design"],
    "tite-boin": {"name": "tite-boin", "target": 0.25, "max_pending_fraction": 0.34},
    "crm": {"name": "crm", "target": 0.25, "skeleton": [0.1, 0.2, 0.3], "stop_cutoff": 0.85},
}


def _protocol(design: dict):
    d = small_dict()
    d["design"] = design
    return protocol_from_dict(d)


def _error(design: dict, **top) -> str:
    d = small_dict()
    d["design"] = design
    d.update(top)
    with pytest.raises(DesignError) as err:
        protocol_from_dict(d)
    msg = str(err.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize("name", SUPPORTED_DESIGNS)
def test_every_design_of_the_library_is_built_with_its_options(name):
    design = _protocol(SECTIONS[name]).make_design()
    # The command line's table of designs (allocart.design.tables), independent of the protocol's
    # build_design: the two must make the same class of a name.
    assert type(design) is DESIGNS[name]
    if name == "3+3":
        assert design.expand_mtd is False
    else:
        assert design.cohort_size == 3 and design.n_cohorts == 6 and design.target == 0.25
    if name == "bf-boin":
        assert design.backfill_cap == 9
    if name == "tite-boin":
        assert design.max_pending_fraction == 0.34
    if name == "crm":
        assert design.skeleton == (0.1, 0.2, 0.3) and design.stop_cutoff == 0.85
    if name == "boin":
        assert design.n_earlystop == 9 and design.extrasafe is True


def test_every_option_is_claimed_by_a_design():
    claimed = {o for opts in DESIGN_OPTIONS.values() for o in opts}
    assert claimed == set(DesignSpec.model_fields) - {"name", "target"}


@pytest.mark.parametrize(
    ("design", "top", "field", "shown"),
    [
        ({"name": "foo", "target": 0.25}, {}, "design.name", "'foo' is not one of 3+3, boin"),
        ({"name": "boin", "target": 0.25, "backfill_cap": 3}, {}, "design.backfill_cap", "bf-boin"),
        ({"name": "bf-boin", "target": 0.25, "backfill_cap": -1}, {}, "design.backfill_cap", "-1"),
        ({"name": "tite-boin"}, {}, "design.target", "tite-boin needs"),
        ({"name": "3+3", "max_pending_fraction": 0.5}, {}, "design.max_pending_fraction", "3+3"),
        ({"name": "3+3"}, {"cohort_size": 2, "max_sample_size": 18}, "cohort_size", "3"),
        ({"name": "3+3"}, {"max_sample_size": 12}, "max_sample_size", "at least 18"),
        ({"name": "3+3"}, {"start_dose": 2}, "start_dose", "level 1"),
        ({"name": "crm", "target": 0.25, "skeleton": [0.1, 0.2]}, {}, "design.skeleton", "3 dose"),
        ({"name": "crm", "target": 0.25, "skeleton": [0.3, 0.2, 0.1]}, {}, "design", "increase"),
        ({"name": "3+3", "expand_mtd": "maybe"}, {}, "design.expand_mtd", "maybe"),
    ],
)
def test_bad_design_fields_are_one_line_errors_naming_the_field(design, top, field, shown):
    msg = _error(design, **top)
    assert f"{field}:" in msg and shown in msg, msg


def test_design_names_are_case_insensitive():
    assert _protocol({"name": "TITE-BOIN", "target": 0.3}).design.name == "tite-boin"


# --------------------------------------------------------------------------- property

_OPTIONS = sorted(set(DesignSpec.model_fields) | set(Calendar.model_fields))


@st.composite
def _sections(draw):
    """A ``design:`` of a random design with random options, and a random ``calendar:``."""
    design = {"name": draw(st.sampled_from([*SUPPORTED_DESIGNS, "foo", 3]))}
    for field in draw(st.lists(st.sampled_from(sorted(DesignSpec.model_fields)), max_size=3)):
        design[field] = draw(st.one_of(st.floats(-1, 2), st.integers(-5, 50), weird_values(set())))
    calendar = {
        field: draw(st.one_of(st.floats(-1, 400), st.integers(-5, 400), weird_values(set())))
        for field in draw(st.lists(st.sampled_from(sorted(Calendar.model_fields)), max_size=3))
    }
    return design, calendar


@fast(150)
@given(_sections())
def test_random_design_and_calendar_sections_are_accepted_or_refused_in_one_line(sections):
    design, calendar = sections
    d = small_dict()
    d["design"], d["calendar"] = design, calendar
    touched = {*design, *calendar, "design", "calendar", "cohort_size", "start_dose"}
    protocol, _ = check_refusal(
        lambda: protocol_from_dict(d), touched | {"max_sample_size"}, DesignError
    )
    if protocol is not None:
        assert protocol.make_design().name.lower() in {*SUPPORTED_DESIGNS}
