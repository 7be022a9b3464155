"""Benchmark of the dose-finding simulator against the Python packages a user would find.

The same scenarios run through allocart's designs and through each peer (``clintrials``,
``pyboin``) in one process. A peer that cannot be installed or imported, or that has no
dose-finding API, is reported as unavailable with the reason, and the others still run. Times
are wall-clock seconds after a warm-up call (compiled kernels are cached), with the first call
reported separately.
"""

from __future__ import annotations

import importlib
import platform
import time
from typing import Any

import numpy as np

from allocart.design import (
    BFBOIN,
    BOIN,
    BOIN12,
    CRM,
    TITEBOIN,
    Accrual,
    ScenarioOutcomes,
    ThreePlusThree,
    exact_oc_3plus3,
    simulate_oc,
)

__all__ = ["SCENARIOS", "run_design_bench", "format_bench"]

#: Target 0.25, five doses; MTD at dose 3 and at dose 2 (names say where the MTD lies).
SCENARIOS: dict[str, dict[str, tuple[float, ...]]] = {
    "mtd-3": {"p_tox": (0.05, 0.12, 0.25, 0.40, 0.55), "p_eff": (0.10, 0.30, 0.50, 0.55, 0.55)},
    "mtd-2": {"p_tox": (0.10, 0.25, 0.42, 0.55, 0.65), "p_eff": (0.20, 0.40, 0.45, 0.45, 0.45)},
}
TARGET = 0.25


def _peer_status(module: str) -> tuple[Any | None, str | None]:
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # any import failure makes the peer unavailable
        return (
            None,
            f"import failed on Python {platform.python_version()}: {type(exc).__name__}: {exc}",
        )
    return mod, None


def _run_clintrials(mod: Any, p_tox: tuple[float, ...], trials: int, seed: int) -> dict[str, Any]:
    from clintrials.dosefinding import ThreePlusThree as CT33  # noqa: N814
    from clintrials.dosefinding import simulate_dose_finding_trial

    np.random.seed(seed)  # noqa: NPY002  (clintrials draws from the legacy global generator)
    k = len(p_tox)
    counts = np.zeros(k + 1)
    t0 = time.perf_counter()
    for _ in range(trials):
        r = simulate_dose_finding_trial(CT33(k), p_tox, cohort_size=3)
        counts[int(r["RecommendedDose"] or 0)] += 1
    return {
        "design": "3+3",
        "wall_time_s": time.perf_counter() - t0,
        "selection_pct": (100 * counts[1:] / trials).tolist(),
    }


def run_design_bench(trials: int = 10_000, seed: int = 1) -> dict[str, Any]:
    """Run allocart's designs and the peers on :data:`SCENARIOS`.

    Returns
    -------
    dict
        ``allocart``: one entry per scenario and design with wall time and selection %;
        ``peers``: per peer, ``available`` and either results or ``reason``.
    """
    acc = Accrual(per_month=3.0, dlt_window_months=1.0)
    designs = {
        "3+3": (ThreePlusThree(target=TARGET), None),
        "boin": (BOIN(TARGET), None),
        "bf-boin": (BFBOIN(TARGET, n_earlystop=9, backfill_cap=12), acc),
        "tite-boin": (TITEBOIN(TARGET), acc),
        "boin12": (BOIN12(0.35, eff_lower=0.25), None),
        "crm": (CRM(TARGET), None),
    }
    out: dict[str, Any] = {
        "trials": trials,
        "seed": seed,
        "target": TARGET,
        "python": platform.python_version(),
        "allocart": [],
        "peers": {},
    }
    for sc_name, sc_def in SCENARIOS.items():
        sc = ScenarioOutcomes(p_tox=sc_def["p_tox"], p_eff=sc_def["p_eff"])
        for name, (design, accrual) in designs.items():
            t0 = time.perf_counter()
            simulate_oc(design, sc, min(trials, 200), seed, accrual=accrual)
            first = time.perf_counter() - t0
            res = simulate_oc(design, sc, trials, seed, accrual=accrual)
            out["allocart"].append(
                {
                    "scenario": sc_name,
                    "design": name,
                    "wall_time_s": res.wall_time_s,
                    "first_call_s": first,
                    "selection_pct": res.selection_pct.tolist(),
                    "no_selection_pct": res.no_selection_pct,
                    "mean_n": res.mean_n,
                }
            )
        ex = exact_oc_3plus3(ThreePlusThree(target=TARGET), sc)
        out["allocart"].append(
            {
                "scenario": sc_name,
                "design": "3+3 (exact)",
                "wall_time_s": None,
                "first_call_s": None,
                "selection_pct": ex.selection_pct.tolist(),
                "no_selection_pct": ex.no_selection_pct,
                "mean_n": ex.mean_n,
            }
        )
    # Peers.
    mod, reason = _peer_status("clintrials.dosefinding")
    if mod is None:
        out["peers"]["clintrials"] = {"available": False, "reason": reason}
    else:
        out["peers"]["clintrials"] = {
            "available": True,
            "results": [
                dict(scenario=n, **_run_clintrials(mod, s["p_tox"], trials, seed))
                for n, s in SCENARIOS.items()
            ],
        }
    mod, reason = _peer_status("pyboin")
    if mod is None:
        out["peers"]["pyboin"] = {"available": False, "reason": reason}
    elif not any(hasattr(mod, f) for f in ("get_oc", "get_boundary", "select_mtd", "boin")):
        public = sorted(n for n in dir(mod) if not n.startswith("_"))
        out["peers"]["pyboin"] = {
            "available": False,
            "reason": "installed, but it has no dose-finding API (public names: "
            + ", ".join(public)
            + "); the PyPI package of that name converts Japanese text to vowels.",
        }
    return out


def format_bench(res: dict[str, Any]) -> None:
    """Print :func:`run_design_bench` results as Rich tables."""
    from rich.console import Console
    from rich.table import Table

    con = Console(width=160)
    t = Table(
        title=f"allocart dose-finding simulator, {res['trials']} trials per row (seed {res['seed']})"
    )
    for c in (
        "Scenario",
        "Design",
        "Wall s",
        "First call s",
        "Selection % by dose",
        "None %",
        "Mean N",
    ):
        t.add_column(c)
    for r in res["allocart"]:
        t.add_row(
            r["scenario"],
            r["design"],
            "exact" if r["wall_time_s"] is None else f"{r['wall_time_s']:.3f}",
            "-" if r["first_call_s"] is None else f"{r['first_call_s']:.2f}",
            " ".join(f"{x:5.1f}" for x in r["selection_pct"]),
            f"{r['no_selection_pct']:.1f}",
            f"{r['mean_n']:.1f}",
        )
    con.print(t)
    for peer, info in res["peers"].items():
        if not info["available"]:
            con.print(f"[bold]{peer}[/]: unavailable - {info['reason']}")
            continue
        for r in info["results"]:
            con.print(
                f"[bold]{peer}[/] {r['scenario']} {r['design']}: {r['wall_time_s']:.3f} s, selection % "
                + " ".join(f"{x:.1f}" for x in r["selection_pct"])
            )
