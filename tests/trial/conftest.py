"""Fixtures of the trial tests: small protocols and the test-only cohort stand-in."""

from __future__ import annotations

import copy

import pytest
import yaml

from allocart.trial.builtin import scenario_path
from allocart.trial.protocol import protocol_from_dict
from tests.trial.fake_cohort import fake_simulate_cohort


def default_dict() -> dict:
    return yaml.safe_load(scenario_path("default").read_text())


def small_dict(**simulation) -> dict:
    """The default scenario, shrunk: few virtual patients per pool and few replicate trials."""
    d = copy.deepcopy(default_dict())
    d["simulation"].update(
        {"pool_size": 40, "replicates": 120, "chunk_size": 50, "timecourse_patients": 3}
    )
    d["simulation"].update(simulation)
    return d


@pytest.fixture
def small_protocol():
    return protocol_from_dict(small_dict())


@pytest.fixture
def fake_cohort(monkeypatch):
    """Replace the mechanistic cohort simulation by the fixed-probability stand-in (runner mechanics only)."""
    import allocart.population.cohort as cohort

    monkeypatch.setattr(cohort, "simulate_cohort", fake_simulate_cohort)
    return fake_simulate_cohort
