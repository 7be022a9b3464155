"""Named parameter scenarios: user-editable sets of typical values for what no data pins down.

The built-in set (``resources/parameter_scenarios.yaml``) holds ``typical``, ``fast-rejection``,
``slow-rejection``, ``short-persistence`` and ``long-persistence``: how fast a host rejects donor
CAR-T cells and how long they persist, the two things an allogeneic product's trial in SLE cannot
take from data. A protocol runs them as arms of one run (``parameter_scenarios: [typical,
fast-rejection, slow-rejection]``, see :mod:`allocart.trial.uncertainty`), so the report shows how
the selected dose and DORIS remission at month 6 move with them. In place of a name a protocol may
give a YAML file holding one scenario::

    label: very fast rejection
    description: rejection hazards five times the typical
    parameters:
      k_Trej: 1.0
      k_NKrej: {value: 0.0625, unit: 1/h}

Every scenario is validated against the parameter table when it is loaded (known parameters,
units, allowed ranges), with the same rules as ``--params``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from allocart.errors import AllocartError, DesignError
from allocart.files import is_file, load_yaml
from allocart.model.parameters import load_default_parameters

__all__ = [
    "ParameterScenario",
    "builtin_parameter_scenarios",
    "load_parameter_scenario",
]

_FIELDS = ("label", "description", "parameters")


@dataclasses.dataclass(frozen=True)
class ParameterScenario:
    """A named set of typical values replacing the calibrated ones.

    Attributes
    ----------
    name : str
        Built-in name, or the file it came from.
    label : str
        Short text for tables and figures.
    description : str
        What the scenario assumes and why.
    parameters : tuple of (str, value)
        Overrides in the forms ``--params`` accepts (a number in the internal unit, or a mapping
        with ``value`` and ``unit``, kept as sorted pairs so that the scenario stays immutable).
    """

    name: str
    label: str
    description: str
    parameters: tuple[tuple[str, Any], ...]

    def overrides(self) -> dict[str, Any]:
        """The overrides as a mapping (``model_overrides`` of a cohort simulation)."""
        return {k: dict(v) if isinstance(v, tuple) else v for k, v in self.parameters}


def _scenario(name: str, data: Any, origin: str) -> ParameterScenario:
    if not isinstance(data, Mapping):
        raise DesignError(
            f"{origin}: parameter scenario {name!r} must be a mapping with label, description "
            f"and parameters, got {type(data).__name__}"
        )
    bad = [
        k if isinstance(k, str) and k.isidentifier() else repr(k) for k in data if k not in _FIELDS
    ]
    if bad:
        raise DesignError(
            f"{origin}: parameter scenario {name!r} has unknown field(s) {', '.join(bad)}; "
            f"allowed: {', '.join(_FIELDS)}"
        )
    params = data.get("parameters") or {}
    if not isinstance(params, Mapping):
        raise DesignError(
            f"{origin}: parameter scenario {name!r}: parameters must map names to values"
        )
    try:  # validated now (names, units, ranges), not in the middle of a run
        load_default_parameters().with_overrides(dict(params), origin=f"{origin} ({name})")
    except AllocartError as exc:
        msg = " ".join(str(exc).split())
        if origin not in msg:  # a unit or value problem: say which file and scenario
            msg = f"{origin}: parameter scenario {name!r}: {msg}"
        raise DesignError(msg) from None
    frozen = tuple(
        (str(k), tuple(sorted(v.items())) if isinstance(v, Mapping) else v)
        for k, v in params.items()
    )
    return ParameterScenario(
        name=name,
        label=str(data.get("label") or name),
        description=" ".join(str(data.get("description") or "").split()),
        parameters=frozen,
    )


@lru_cache(maxsize=1)
def _builtin() -> tuple[ParameterScenario, ...]:
    text = (
        resources.files("allocart.trial").joinpath("resources/parameter_scenarios.yaml").read_text()
    )
    data = yaml.safe_load(text)
    return tuple(_scenario(k, v, "parameter_scenarios.yaml") for k, v in data.items())


def builtin_parameter_scenarios() -> dict[str, ParameterScenario]:
    """The built-in scenarios by name, in file order."""
    return {s.name: s for s in _builtin()}


def load_parameter_scenario(spec: str | Path) -> ParameterScenario:
    """A built-in scenario by name, or the one scenario of a YAML file.

    Raises
    ------
    DesignError
        If ``spec`` is neither a built-in name nor a readable scenario file, or the scenario
        names an unknown parameter, unit or a value outside the allowed range.
    """
    builtin = builtin_parameter_scenarios()
    if isinstance(spec, str) and spec in builtin:
        return builtin[spec]
    if not is_file(str(spec)):
        raise DesignError(
            f"parameter_scenarios: {str(spec)!r} is neither a built-in scenario "
            f"({', '.join(builtin)}) nor a scenario YAML file"
        )
    data = load_yaml(Path(spec), what="parameter_scenarios", error=DesignError)
    return _scenario(str(spec), data, "parameter_scenarios")
