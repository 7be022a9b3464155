"""Figures of a virtual trial report, as PNG bytes (matplotlib, imported only here).

Each function takes the run's tables (:class:`allocart.trial.summary.TrialTables`) and returns
the PNG of one figure; :mod:`allocart.report.html` embeds them. Figures show arm 0 (the
protocol's product and regimen) unless they compare arms or are drawn once per arm
(:data:`ARM_FIGURES`).
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

#: Figure identifiers, in report order.
FIGURES = (
    "operating_characteristics",
    "escalation_paths",
    "car_t_expansion",
    "b_cells",
    "serology_and_activity",
    "swimmer",
    "product_comparison",
    "time_to_treatment",
)

#: Figures drawn once per arm; their identifiers are ``<name>-arm<index>``.
ARM_FIGURES = ("dlt_by_reason",)

__all__ = [
    "FIGURES",
    "ARM_FIGURES",
    "DLT_REASON_LABELS",
    "figure_ids",
    *FIGURES,
    *ARM_FIGURES,
]

#: Days in one month, for time axes in months.
_DPM = 365.25 / 12


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    _plt().close(fig)
    return buf.getvalue()


def _colors(k: int) -> list[Any]:
    cmap = _plt().get_cmap("viridis")
    return [cmap(x) for x in np.linspace(0.1, 0.85, max(k, 1))]


def _levels(tables: Any, arm: int = 0) -> list[tuple[int, str]]:
    ep = tables.endpoints
    d = ep[ep["arm"] == arm][["dose_level", "dose"]].drop_duplicates().sort_values("dose_level")
    return [(int(a), str(b)) for a, b in d.itertuples(index=False)]


def _oc(tables: Any, arm: int, metric: str) -> pd.Series:
    oc = tables.operating_characteristics
    d = oc[(oc["arm"] == arm) & (oc["metric"] == metric) & oc["dose_level"].notna()]
    return d.set_index(d["dose_level"].astype(int))["value"]


def _model(tables: Any, arm: int, endpoint: str) -> pd.Series:
    ep = tables.endpoints
    d = ep[(ep["arm"] == arm) & (ep["endpoint"] == endpoint)]
    return d.set_index(d["dose_level"].astype(int))["value"]


#: DLT reason categories (``dlt_<reason>`` rows of the ``endpoints`` table) and their labels.
DLT_REASON_LABELS = {
    "haematological": "haematological",
    "crs": "CRS",
    "icans": "ICANS",
    "infection": "infection",
    "gvhd": "GvHD",
    "other": "other (IEC-HS, death, other)",
}


def _model_ci(tables: Any, arm: int, endpoint: str) -> pd.DataFrame:
    """``value``, ``ci_low``, ``ci_high`` of an ``endpoints`` row per dose level (NaN if absent)."""
    ep = tables.endpoints
    d = ep[(ep["arm"] == arm) & (ep["endpoint"] == endpoint)]
    out = pd.DataFrame(index=d["dose_level"].astype(int))
    for c in ("value", "ci_low", "ci_high"):
        out[c] = d[c].to_numpy(dtype=float) if c in d else np.nan
    return out


def operating_characteristics(tables: Any, efficacy: str) -> bytes:
    """Selection probability, patients and DLTs per dose, with the model's DLT and response rates."""
    plt = _plt()
    levels = _levels(tables)
    x = np.arange(len(levels))
    labels = [f"{lv}\n{d}" for lv, d in levels]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    sel = _oc(tables, 0, "selected_pct").reindex([lv for lv, _ in levels]).to_numpy()
    a1.bar(x, sel, color="#4C72B0", label="selected (% of trials)")
    for xi, v in zip(x, sel):
        a1.text(xi, v + 1, f"{v:.0f}%", ha="center", fontsize=9)
    for name, style, lab in (
        ("dlt", "o-", "model: DLT rate"),
        (efficacy, "s--", f"model: {efficacy} rate"),
    ):
        m = _model(tables, 0, name).reindex([lv for lv, _ in levels]).to_numpy()
        a1.plot(x, 100 * m, style, color="#C44E52" if name == "dlt" else "#55A868", label=lab)
    a1.set_xticks(x, labels)
    a1.set_ylim(0, 125)  # headroom above 100 % keeps the legend off the bars
    a1.set_ylabel("percent")
    a1.set_xlabel("dose level")
    a1.set_title("Dose selection and the model's dose-response")
    a1.legend(fontsize=7, loc="upper center", ncol=3)
    pts = _oc(tables, 0, "patients_mean").reindex([lv for lv, _ in levels]).to_numpy()
    dl = _oc(tables, 0, "dlts_mean").reindex([lv for lv, _ in levels]).to_numpy()
    a2.bar(x - 0.2, pts, width=0.4, label="patients", color="#8172B2")
    a2.bar(x + 0.2, dl, width=0.4, label="DLTs", color="#C44E52")
    a2.set_xticks(x, labels)
    a2.set_ylabel("mean per trial")
    a2.set_xlabel("dose level")
    a2.set_title("Patients and DLTs per dose level")
    a2.legend(fontsize=8)
    return _png(fig)


def escalation_paths(tables: Any, n_paths: int = 30) -> bytes:
    """Dose level by cohort for the first trials, and the share of trials at each level by cohort."""
    plt = _plt()
    co = tables.cohorts[tables.cohorts["arm"] == 0]
    levels = _levels(tables)
    k = len(levels)
    n_coh = int(co["cohort"].max()) if len(co) else 1
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    rng = np.random.default_rng(0)  # jitter only: separates overlapping paths on the plot
    for _rep, g in list(co.groupby("replicate"))[:n_paths]:
        g = g.sort_values("cohort")
        y = g["dose_level"].to_numpy() + rng.uniform(-0.12, 0.12)
        a1.plot(g["cohort"], y, "-o", lw=0.8, ms=3, alpha=0.6)
    a1.set_yticks(range(1, k + 1), [f"{lv}: {d}" for lv, d in levels])
    a1.set_xticks(range(1, n_coh + 1))
    a1.set_xlabel("cohort")
    a1.set_ylabel("dose level")
    a1.set_title(f"Dose-escalation paths of {min(n_paths, co['replicate'].nunique())} trials")
    n_trials = tables.trials.query("arm == 0").shape[0]
    bottom = np.zeros(n_coh)
    cols = _colors(k)
    for i, (lv, d) in enumerate(levels):
        share = np.array(
            [((co["cohort"] == c) & (co["dose_level"] == lv)).sum() for c in range(1, n_coh + 1)]
        )
        share = 100 * share / max(n_trials, 1)
        a2.bar(range(1, n_coh + 1), share, bottom=bottom, color=cols[i], label=f"level {lv} ({d})")
        bottom += share
    a2.bar(range(1, n_coh + 1), 100 - bottom, bottom=bottom, color="#DDDDDD", label="stopped")
    a2.set_xlabel("cohort")
    a2.set_ylabel("% of trials")
    a2.set_title("Dose level of each cohort")
    a2.legend(fontsize=8, loc="lower left")
    return _png(fig)


def _timecourse_panel(
    ax: Any, tc: pd.DataFrame, column: str, levels: list[tuple[int, str]], log: bool
) -> None:
    cols = _colors(len(levels))
    for i, (lv, d) in enumerate(levels):
        g = tc[tc["dose_level"] == lv]
        if g.empty or column not in g:
            continue
        wide = g.pivot_table(index="time", columns="id", values=column)
        t = wide.index.to_numpy()
        for c in wide.columns:
            ax.plot(t, wide[c].to_numpy(), color=cols[i], lw=0.5, alpha=0.35)
        ax.plot(
            t,
            np.nanmedian(wide.to_numpy(), axis=1),
            color=cols[i],
            lw=2.0,
            label=f"level {lv} ({d}), median",
        )
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("days after infusion")


def _cell_count_figure(
    tables: Any, column: str, ylabel: str, title: str, mark: Callable[[Any], object]
) -> bytes:
    """A cell count in blood (cells/µL, log axis) over time, by dose level, of arm 0.

    ``mark`` draws what the figure adds on its axes (a window, a threshold).
    """
    plt = _plt()
    tc = tables.timecourses[tables.timecourses["arm"] == 0]
    fig, ax = plt.subplots(figsize=(8, 4), constrained_layout=True)
    _timecourse_panel(ax, tc, column, _levels(tables), log=True)
    mark(ax)
    # Below 0.01 cells/µL is far under any assay's detection limit: keep the axis on what is measurable.
    ax.set_ylim(bottom=1e-2)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _png(fig)


def car_t_expansion(tables: Any) -> bytes:
    """CAR-T cells in blood over time, by dose level."""
    return _cell_count_figure(
        tables,
        "car_t_cells_per_ul",
        "CAR-T cells (cells/µL)",
        "CAR-T expansion and contraction (sampled virtual patients)",
        lambda ax: ax.set_xlim(0, 90),
    )


def b_cells(tables: Any, aplasia_below: float = 1.0) -> bytes:
    """B cells in blood over time: depletion and return."""
    return _cell_count_figure(
        tables,
        "b_cells_per_ul",
        "CD19+ B cells (cells/µL)",
        "B-cell depletion and return",
        lambda ax: ax.axhline(aplasia_below, color="k", ls=":", lw=1, label="aplasia threshold"),
    )


def serology_and_activity(tables: Any) -> bytes:
    """anti-dsDNA over time and SLEDAI-2K at the visits, by dose level."""
    plt = _plt()
    tc = tables.timecourses[tables.timecourses["arm"] == 0]
    levels = _levels(tables)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    _timecourse_panel(a1, tc, "anti_dsdna_iu_per_ml", levels, log=True)
    a1.set_ylabel("anti-dsDNA (IU/mL)")
    a1.set_title("anti-dsDNA")
    a1.legend(fontsize=7)
    cols = _colors(len(levels))
    for i, (lv, d) in enumerate(levels):
        g = tc[(tc["dose_level"] == lv) & tc["sledai2k"].notna()]
        if g.empty:
            continue
        by_day = g.groupby("time")["sledai2k"]
        days = by_day.median().index.to_numpy()
        off = (i - (len(levels) - 1) / 2) * 2.0
        a2.scatter(g["time"] + off, g["sledai2k"], color=cols[i], s=8, alpha=0.35)
        a2.plot(
            days + off,
            by_day.median().to_numpy(),
            "-o",
            color=cols[i],
            lw=1.8,
            label=f"level {lv} ({d}), median",
        )
    a2.set_xlabel("days after infusion")
    a2.set_ylabel("SLEDAI-2K (points)")
    a2.set_title("SLEDAI-2K at the visits")
    a2.legend(fontsize=7)
    return _png(fig)


def swimmer(tables: Any, replicate: int = 0, followup_months: float = 6.0) -> bytes:
    """One simulated trial, patient by patient: time on study, dose, DLT, CRS and ICANS."""
    plt = _plt()
    pat = tables.patients
    g = pat[(pat["arm"] == 0) & (pat["replicate"] == replicate)].sort_values("patient")
    levels = _levels(tables)
    cols = dict(zip([lv for lv, _ in levels], _colors(len(levels))))
    fig, ax = plt.subplots(figsize=(10, max(3.0, 0.28 * len(g) + 1.2)), constrained_layout=True)
    for i, r in enumerate(g.itertuples(index=False)):
        y = len(g) - i
        ax.barh(
            y, followup_months, left=r.start_month, color=cols.get(r.dose_level, "grey"), height=0.6
        )
        if r.crs_grade and r.crs_grade > 0 and np.isfinite(r.crs_month):
            ax.plot(r.crs_month, y, "^", color="#DD8452", ms=7)
            ax.text(r.crs_month, y + 0.32, f"{int(r.crs_grade)}", fontsize=6, ha="center")
        if r.icans_grade and r.icans_grade > 0 and np.isfinite(r.icans_month):
            ax.plot(r.icans_month + 0.15, y, "D", color="#8172B2", ms=6)
        if bool(r.dlt) and np.isfinite(r.dlt_month):
            ax.plot(r.dlt_month, y, "X", color="#C44E52", ms=9)
    ax.set_yticks(range(len(g), 0, -1), [f"pt {int(p)}" for p in g["patient"]], fontsize=7)
    ax.set_xlabel("months since the trial opened")
    handles = [plt.Rectangle((0, 0), 1, 1, color=cols[lv]) for lv, _ in levels]
    marks = [
        plt.Line2D([], [], ls="", marker=m, color=c)
        for m, c in (("X", "#C44E52"), ("^", "#DD8452"), ("D", "#8172B2"))
    ]
    ax.legend(
        handles + marks,
        [f"level {lv} ({d})" for lv, d in levels] + ["DLT", "CRS (grade)", "ICANS"],
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
    )
    ax.set_title(
        f"Swimmer plot of simulated trial {replicate + 1}: {followup_months:g} months of follow-up per patient"
    )
    return _png(fig)


def product_comparison(
    tables: Any, arm_labels: dict[int, str], panels: list[tuple[str, str]]
) -> bytes:
    """The model's rates by dose level for every arm, and each arm's selection probabilities."""
    plt = _plt()
    n = len(panels) + 1
    ncol = 3
    nrow = int(np.ceil(n / ncol))
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(12, 3.3 * nrow), constrained_layout=True, squeeze=False
    )
    markers = "osD^vP*"
    for j, (endpoint, title) in enumerate(panels):
        ax = axes.flat[j]
        for a, label in arm_labels.items():
            m = _model(tables, a, endpoint)
            ax.plot(m.index, 100 * m.to_numpy(), "-" + markers[a % len(markers)], label=label)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("dose level")
        ax.xaxis.set_major_locator(_plt().MaxNLocator(integer=True))
        ax.set_ylabel("% of patients")
        ax.set_ylim(-2, 102)
    ax = axes.flat[len(panels)]
    width = 0.8 / max(len(arm_labels), 1)
    for a, label in arm_labels.items():
        s = _oc(tables, a, "selected_pct")
        ax.bar(
            s.index + (a - (len(arm_labels) - 1) / 2) * width,
            s.to_numpy(),
            width=width,
            label=label,
        )
    ax.set_title("Selected dose level (% of trials)", fontsize=10)
    ax.set_xlabel("dose level")
    ax.xaxis.set_major_locator(_plt().MaxNLocator(integer=True))
    ax.set_ylim(0, 100)
    spare = list(axes.flat)[n:]
    for extra in spare:
        extra.axis("off")
    handles, names = axes.flat[0].get_legend_handles_labels()
    if spare:
        spare[0].legend(handles, names, fontsize=8, loc="center", title="arm")
    else:
        fig.legend(handles, names, fontsize=8, loc="outside lower center")
    return _png(fig)


def dlt_by_reason(tables: Any, arm: int = 0, label: str = "") -> bytes:
    """The model's DLT rate per dose level of one arm, stacked by reason, with the DLT rate.

    Reason rates come from the ``dlt_<reason>`` rows of the ``endpoints`` table; a patient whose
    DLT has two reasons counts in both, so the stack can rise above the DLT rate (marked with its
    95% interval).
    """
    plt = _plt()
    levels = _levels(tables, arm)
    lv = [a for a, _ in levels]
    x = np.arange(len(levels))
    fig, ax = plt.subplots(figsize=(8, 3.8), constrained_layout=True)
    cmap = plt.get_cmap("tab10")
    bottom = np.zeros(len(levels))
    for i, (reason, name) in enumerate(DLT_REASON_LABELS.items()):
        v = _model(tables, arm, f"dlt_{reason}").reindex(lv).to_numpy(dtype=float)
        v = 100 * np.nan_to_num(v, nan=0.0)
        ax.bar(x, v, bottom=bottom, width=0.6, color=cmap(i), label=name)
        bottom += v
    dlt = _model_ci(tables, arm, "dlt").reindex(lv)
    val = 100 * dlt["value"].to_numpy(dtype=float)
    err = 100 * np.abs(
        np.vstack([dlt["value"] - dlt["ci_low"], dlt["ci_high"] - dlt["value"]]).astype(float)
    )
    ax.errorbar(
        x,
        val,
        yerr=np.nan_to_num(err),
        fmt="D",
        color="black",
        ms=6,
        capsize=4,
        label="any DLT (95% CI)",
    )
    top = np.nanmax(np.concatenate([bottom, val + np.nan_to_num(err[1]), [1.0]]))
    ax.set_ylim(0, top * 1.15 + 1)
    ax.set_xticks(x, [f"{a}\n{d}" for a, d in levels])
    ax.set_xlabel("dose level")
    ax.set_ylabel("% of virtual patients")
    ax.set_title(f"DLT by reason{': ' + label if label else ''}", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _png(fig)


def time_to_treatment(itt: pd.DataFrame, outcome: str | None, outcome_label: str = "") -> bytes:
    """Per arm: share of enrolled patients infused, days to infusion, outcome enrolled vs infused.

    Parameters
    ----------
    itt : DataFrame
        :func:`allocart.trial.intention.itt_table`, with a ``chosen`` column marking the row
        (dose level) of each arm shown in the right panel.
    outcome : str or None
        Yes/no endpoint column (``<outcome>_enrolled`` and ``<outcome>_infused`` in ``itt``);
        None: no right panel.
    """
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4), constrained_layout=True)
    rows = itt[itt["chosen"]] if "chosen" in itt.columns else itt.drop_duplicates("arm")
    x = np.arange(len(rows))
    names = [
        textwrap.fill(f"{lb} ({d})", 22)
        for lb, d in zip(rows["arm_label"], rows["dose"], strict=True)
    ]
    colors = _colors(len(rows))

    def err(v: pd.Series, lo: pd.Series, hi: pd.Series) -> np.ndarray:
        e = np.vstack([v - lo, hi - v]).astype(float)
        return 100 * np.nan_to_num(np.abs(e))

    ax = axes[0]
    share = rows["infused_share"]
    ax.bar(x, 100 * share, color=colors, width=0.6)
    ax.errorbar(
        x,
        100 * share,
        yerr=err(share, rows["infused_ci_low"], rows["infused_ci_high"]),
        fmt="none",
        ecolor="black",
        capsize=4,
    )
    ax.set_ylim(0, 105)
    ax.set_ylabel("% of enrolled patients")
    ax.set_title("Infused (95% CI)", fontsize=10)
    ax = axes[1]
    med = rows["enrol_to_infusion_days_median"].to_numpy(dtype=float)
    q = np.vstack(
        [
            med - rows["enrol_to_infusion_days_q1"].to_numpy(dtype=float),
            rows["enrol_to_infusion_days_q3"].to_numpy(dtype=float) - med,
        ]
    )
    ax.bar(x, med, color=colors, width=0.6)
    ax.errorbar(x, med, yerr=np.nan_to_num(np.abs(q)), fmt="none", ecolor="black", capsize=4)
    ax.set_ylabel("days")
    ax.set_title("Enrolment to infusion (median, IQR)", fontsize=10)
    ax = axes[2]
    w = 0.38
    if outcome is None:
        ax.axis("off")
    for j, (how, hatch) in enumerate((("enrolled", ""), ("infused", "//")) if outcome else ()):
        v = rows[f"{outcome}_{how}"]
        ax.bar(
            x + (j - 0.5) * w,
            100 * v,
            width=w,
            color=colors,
            hatch=hatch,
            edgecolor="black",
            label=f"among {how}",
        )
        ax.errorbar(
            x + (j - 0.5) * w,
            100 * v,
            yerr=err(v, rows[f"{outcome}_{how}_ci_low"], rows[f"{outcome}_{how}_ci_high"]),
            fmt="none",
            ecolor="black",
            capsize=3,
        )
    ax.set_ylim(0, 105)
    ax.set_ylabel("% of patients")
    ax.set_title(textwrap.fill(f"{outcome_label}, enrolled vs infused", 45), fontsize=10)
    if outcome:
        ax.legend(fontsize=8, loc="lower right", framealpha=0.9)
    for ax in axes[: 3 if outcome else 2]:
        ax.set_xticks(x, names, fontsize=7)
    return _png(fig)


def figure_ids(n_arms: int) -> list[str]:
    """Identifiers of every figure of a report on ``n_arms`` arms (HTML ids ``fig-<id>``)."""
    return [*FIGURES, *(f"{name}-arm{a}" for a in range(n_arms) for name in ARM_FIGURES)]
