"""The built-in trial scenarios and how a scenario argument is resolved.

The scenarios ship as YAML protocols in ``allocart/trial/scenarios/``. ``default`` is modelled
on an investigator-initiated trial of an allogeneic CD19/CD20 CAR-T product in refractory SLE;
the others change one thing each (product, lymphodepletion, design) so that they can be compared
with it on the same virtual patients.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from allocart.errors import DesignError
from allocart.trial.protocol import Protocol, load_protocol

__all__ = ["DEFAULT_SCENARIO", "list_scenarios", "scenario_path", "resolve_protocol"]

#: The scenario ``allocart run`` uses without an argument.
DEFAULT_SCENARIO = "default"


def _folder() -> Path:
    return Path(str(resources.files("allocart.trial") / "scenarios"))


def list_scenarios() -> dict[str, str]:
    """Names of the built-in scenarios and their titles, default first."""
    import yaml

    out: dict[str, str] = {}
    files = sorted(_folder().glob("*.yaml"), key=lambda p: (p.stem != DEFAULT_SCENARIO, p.stem))
    for p in files:
        data = yaml.safe_load(p.read_text()) or {}
        out[p.stem] = str(data.get("title", ""))
    return out


def scenario_path(name: str) -> Path:
    """Path of the built-in scenario ``name``.

    Raises
    ------
    DesignError
        If there is no such scenario.
    """
    p = _folder() / f"{name}.yaml"
    if not p.is_file():
        raise DesignError(
            f"scenario: {name!r} is neither a protocol file nor a built-in scenario; built-in: "
            f"{', '.join(list_scenarios())} (see `allocart scenarios`)"
        )
    return p


def resolve_protocol(
    scenario: str | Path | None, *, overrides: dict[str, Any] | None = None
) -> Protocol:
    """The protocol named by a file path or a built-in scenario name (default: ``default``).

    Parameters
    ----------
    scenario : str or path, optional
        A YAML file, or the name of a built-in scenario.
    overrides : dict, optional
        Values replacing those of the protocol's ``simulation`` section (``replicates``, ...).
    """
    if scenario is None:
        scenario = DEFAULT_SCENARIO
    p = Path(scenario)
    if p.suffix in (".yaml", ".yml") or p.is_file():
        return load_protocol(p, overrides=overrides)
    return load_protocol(scenario_path(str(scenario)), overrides=overrides)
