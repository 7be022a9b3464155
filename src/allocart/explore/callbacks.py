"""The explorer's one callback: controls in, figures, rate table and status line out.

:func:`choice_from_controls` and :func:`update` are plain functions of the control values (as
the browser sends them) and are tested without a browser; :func:`register` wires them to the
page. A value the model refuses (a malformed dose, a redose day out of range) leaves the plots
as they were and shows the model's one-line message in the status line.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dash
import plotly.graph_objects as go
from dash import Input, Output, html

from allocart.errors import AllocartError
from allocart.explore.compute import PANELS, Choice, explore
from allocart.explore.figures import figures
from allocart.explore.layout import IDS, graph_id, rates_table

__all__ = ["View", "choice_from_controls", "update", "register"]

# The compiled solver runs its own threads: one computation at a time, however many browser
# tabs send updates (the server answers each request on a thread of its own).
_LOCK = threading.Lock()

#: The controls whose values make a :class:`Choice`, in the order of the arguments of
#: :func:`choice_from_controls` (and of :func:`update`).
CONTROLS: tuple[str, ...] = (
    "product",
    "dose",
    "ld",
    "redose_day",
    "redose_dose",
    "redose_ld",
    "n",
    "seed",
)


def _whole(value: Any, name: str) -> int | None:
    """A number input's value as a whole number (None when empty)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise AllocartError(f"{name}: {value!r} must be a whole number")
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise AllocartError(f"{name}: {value!r} must be a whole number") from None
    if not f.is_integer():
        raise AllocartError(f"{name}: {value!r} must be a whole number")
    return int(f)


def choice_from_controls(
    product: str,
    dose: str,
    ld: str,
    redose_day: Any,
    redose_dose: str | None,
    redose_ld: Sequence[str] | None,
    n: Any,
    seed: Any,
) -> Choice:
    """The :class:`Choice` of the controls' values as the page sends them.

    Raises
    ------
    AllocartError
        On a value the explorer cannot use, naming the control.
    """
    n_ = _whole(n, "n")
    seed_ = _whole(seed, "seed")
    if n_ is None or seed_ is None:
        raise AllocartError(f"{'n' if n_ is None else 'seed'}: give a whole number")
    return Choice(
        product=str(product),
        dose=str(dose or "").strip(),
        ld=str(ld),
        redose_day=_whole(redose_day, "redose_day"),
        redose_dose=(str(redose_dose).strip() or None) if redose_dose else None,
        redose_ld="yes" in (redose_ld or ()),
        n=n_,
        seed=seed_,
    )


@dataclass(frozen=True)
class View:
    """What one update shows: a figure per panel, the rate table and the status line.

    ``figures`` is empty when the controls were refused: the page keeps its plots and the
    status line holds the reason.
    """

    figures: tuple[go.Figure, ...]
    rates: html.Table | None
    status: str
    ok: bool
    seconds: float = 0.0  #: wall time of this update (s; near 0 for a choice seen before)


def update(*controls: Any) -> View:
    """Compute what the page shows for the controls' values.

    Parameters
    ----------
    *controls
        The values of the controls named by :data:`CONTROLS`, in that order, as the page sends
        them (the arguments of :func:`choice_from_controls`).
    """
    try:
        choice = choice_from_controls(*controls)
        t0 = time.perf_counter()
        with _LOCK:
            ex = explore(choice)
        seconds = time.perf_counter() - t0
    except AllocartError as exc:
        return View(figures=(), rates=None, status="error: " + " ".join(str(exc).split()), ok=False)
    redose = (
        f", redose {choice.redose_dose or choice.dose} on day {choice.redose_day}"
        + (f" after {choice.ld}" if choice.redose_ld else "")
        if choice.redose_day is not None
        else ""
    )
    failed = f", {ex.n_failed} failed solves left out" if ex.n_failed else ""
    status = (
        f"{choice.product}, {choice.dose}, {choice.ld}{redose}: typical patient and "
        f"{choice.n} virtual patients (seed {choice.seed}{failed}), updated in {seconds:.2f} s"
    )
    return View(
        figures=tuple(figures(ex)),
        rates=rates_table(ex.rates),
        status=status,
        ok=True,
        seconds=seconds,
    )


def register(app: dash.Dash) -> None:
    """Connect the controls of ``app``'s page to :func:`update`."""
    outputs = [Output(graph_id(p.key), "figure") for p in PANELS]
    outputs += [Output(IDS["rates"], "children"), Output(IDS["status"], "children")]
    inputs = [Input(IDS[k], "value") for k in CONTROLS]

    @app.callback(outputs, inputs)
    def _update(*values: Any) -> list[Any]:
        view = update(*values)
        if not view.ok:
            return [dash.no_update] * (len(PANELS) + 1) + [view.status]
        return [*view.figures, view.rates, view.status]
