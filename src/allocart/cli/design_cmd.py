"""Commands ``allocart design table|next|oc|pathways`` and ``allocart bench design``.

Parsing and printing only; the logic lives in :mod:`allocart.design` and
:mod:`allocart.bench.design`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from allocart.cli.checks import check_seed
from allocart.cli.shared import JSON, echo_json
from allocart.errors import DesignError

# Options of several design commands, declared once (defaults in each signature).
_DESIGN = Annotated[str, typer.Option(help="One of 3+3, boin, bf-boin, boin12, tite-boin, crm.")]
_TARGET = Annotated[float, typer.Option(help="Target DLT probability.")]
_COHORT_SIZE = Annotated[int, typer.Option(help="Patients per cohort.")]
_N_COHORTS = Annotated[int, typer.Option(help="Maximum number of cohorts.")]
_N_EARLYSTOP = Annotated[
    int | None, typer.Option(help="Stop at this many patients on the current dose.")
]
_EFF_LOWER = Annotated[float | None, typer.Option(help="Lowest acceptable response rate (BOIN12).")]
_NO_EXPANSION = Annotated[bool, typer.Option(help="3+3 without expanding the MTD to 6.")]

#: Designs that decide by response as well as DLT: they need the responses (``next``) or the
#: true response probabilities (``oc``); without them every patient would count as a non-responder.
_RESPONSE_DESIGNS = ("boin12",)


def _floats(name: str, text: str | None) -> list[float] | None:
    if text is None or text == "":
        return None
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise DesignError(f"`--{name}` must be comma-separated numbers, got {text!r}.") from None


def _ints(name: str, text: str | None) -> list[int] | None:
    vals = _floats(name, text)
    if vals is None:
        return None
    if any(v != int(v) for v in vals):
        raise DesignError(f"`--{name}` must be comma-separated integers, got {text!r}.")
    return [int(v) for v in vals]


def _options(**kw: Any) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if v is not None}


def _trial_design(design: str, no_expansion: bool, **kw: Any) -> Any:
    """The design a simulating command names, from its options that were given.

    ``no_expansion`` (``--no-expansion``) applies to the 3+3 only: it does not expand the MTD to
    six patients.
    """
    from allocart.design import make_design

    opts = _options(**kw)
    if design == "3+3":
        opts["expand_mtd"] = not no_expansion
    return make_design(design, **opts)


def _scenario(p_tox: str, p_eff: str | None) -> Any:
    """True DLT (``--p-tox``) and response (``--p-eff``) probabilities per dose."""
    from allocart.design import ScenarioOutcomes

    return ScenarioOutcomes(
        p_tox=tuple(_floats("p-tox", p_tox) or ()), p_eff=tuple(_floats("p-eff", p_eff) or ())
    )


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    """Add the ``design`` commands to ``app`` and ``design`` to ``bench_app``."""
    design_app = typer.Typer(
        help="Dose-finding designs: decision tables, next-dose advice, operating characteristics.",
        no_args_is_help=True,
    )
    app.add_typer(design_app, name="design")

    @design_app.command("table")
    def table(
        design: _DESIGN = "boin",
        target: _TARGET = 0.25,
        cohort_size: _COHORT_SIZE = 3,
        n_cohorts: _N_COHORTS = 10,
        as_json: JSON = False,
    ) -> None:
        """Print the escalate / stay / de-escalate / eliminate table by number treated."""
        from allocart.design import decision_table, make_design

        d = make_design(design, target=target, cohort_size=cohort_size, n_cohorts=n_cohorts)
        rows = decision_table(d)
        if as_json:
            echo_json({"design": d.name, "target": target, "rows": rows}, indent=2)
            return
        from rich.console import Console
        from rich.table import Table

        t = Table(title=f"{d.name} decision table, target {target}")
        for col in (
            "Number treated",
            "Escalate if DLTs <=",
            "Stay if DLTs",
            "De-escalate if DLTs >=",
            "Eliminate if DLTs >=",
        ):
            t.add_column(col, justify="right")
        for r in rows:
            el = r["eliminate_if_dlts_at_least"]
            t.add_row(
                str(r["n"]),
                str(r["escalate_if_dlts_at_most"]),
                str(r["stay"]),
                str(r["deescalate_if_dlts_at_least"]),
                "-" if el is None else str(el),
            )
        Console().print(t)

    @design_app.command("next")
    def next_dose(
        design: _DESIGN = "boin",
        target: _TARGET = 0.25,
        current_dose: int = typer.Option(..., help="Current dose level (1-based)."),
        treated: str = typer.Option(..., help="Patients treated per dose, comma-separated."),
        dlts: str = typer.Option(..., help="DLTs per dose, comma-separated."),
        responses: str | None = typer.Option(None, help="Responses per dose (BOIN12: required)."),
        pending: str | None = typer.Option(
            None, help="Patients with pending DLT data per dose (TITE-BOIN)."
        ),
        followup: str | None = typer.Option(
            None, help="Standardised follow-up of pending patients per dose (TITE-BOIN)."
        ),
        eff_lower: _EFF_LOWER = None,
        n_earlystop: _N_EARLYSTOP = None,
        as_json: JSON = False,
    ) -> None:
        """Advise the dose for the next cohort from the data so far."""
        from allocart.design import DoseData, make_design

        if design.strip().lower() in _RESPONSE_DESIGNS and responses is None:
            raise DesignError(
                f"`--responses`: {design} decides by response as well as DLT; give the "
                "responses per dose, e.g. --responses 1,0 (none given would mean no patient "
                "responded)."
            )
        d = make_design(
            design, **_options(target=target, eff_lower=eff_lower, n_earlystop=n_earlystop)
        )
        data = DoseData(
            treated=tuple(_ints("treated", treated) or ()),
            dlts=tuple(_ints("dlts", dlts) or ()),
            responses=tuple(_ints("responses", responses) or ()),
            pending=tuple(_ints("pending", pending) or ()),
            followup=tuple(_floats("followup", followup) or ()),
        )
        if current_dose < 1:
            raise DesignError(f"`--current-dose` is a dose level from 1, got {current_dose}.")
        rec = d.recommend(data, current_dose - 1)
        if as_json:
            echo_json(rec.to_dict(), indent=2)
            return
        nxt = "stop" if rec.next_dose is None else f"dose {rec.next_dose + 1}"
        typer.echo(f"{rec.action.value}: next cohort at {nxt}. {rec.reason}")

    @design_app.command("oc")
    def oc(
        design: _DESIGN = "boin",
        target: _TARGET = 0.25,
        p_tox: str = typer.Option(..., help="True DLT probability per dose, comma-separated."),
        p_eff: str | None = typer.Option(
            None, help="True response probability per dose (BOIN12: required)."
        ),
        cohort_size: _COHORT_SIZE = 3,
        n_cohorts: _N_COHORTS = 10,
        n_earlystop: _N_EARLYSTOP = None,
        backfill_cap: int | None = typer.Option(None, help="BF-BOIN cap per dose."),
        eff_lower: _EFF_LOWER = None,
        no_expansion: _NO_EXPANSION = False,
        accrual_per_month: float | None = typer.Option(
            None, help="Accrual rate, patients per month."
        ),
        dlt_window_months: float = typer.Option(1.0, help="DLT assessment window, months."),
        trials: int = typer.Option(10000, help="Number of simulated trials."),
        seed: int = typer.Option(1, help="Seed of the common random numbers."),
        exact: bool = typer.Option(False, "--exact", help="Exact enumeration (3+3 only)."),
        as_json: JSON = False,
    ) -> None:
        """Operating characteristics of a design under a scenario."""
        from allocart.design import Accrual, exact_oc_3plus3, simulate_oc

        if design.strip().lower() in _RESPONSE_DESIGNS and not p_eff:
            raise DesignError(
                f"`--p-eff`: {design} selects doses by response as well as DLT; give the true "
                "response probability per dose, e.g. --p-eff 0.2,0.4,0.5 (none given would mean "
                "no patient responds)."
            )
        check_seed(seed, "--seed", DesignError)
        d = _trial_design(
            design,
            no_expansion,
            target=target,
            cohort_size=cohort_size,
            n_cohorts=n_cohorts,
            n_earlystop=n_earlystop,
            backfill_cap=backfill_cap,
            eff_lower=eff_lower,
        )
        sc = _scenario(p_tox, p_eff)
        if exact:
            if design != "3+3":
                raise DesignError(
                    f"`--exact` is available for the 3+3 only, got design {design!r}."
                )
            res = exact_oc_3plus3(d, sc)
        else:
            from allocart.cli.progress import ProgressBar

            acc = (
                None if accrual_per_month is None else Accrual(accrual_per_month, dlt_window_months)
            )
            # On stderr, and only on a terminal: --json output on stdout stays plain JSON.
            with ProgressBar(f"{d.name}: simulating trials", total=max(trials, 1)) as bar:
                res = simulate_oc(d, sc, trials, seed, accrual=acc, progress=bar.callback())
        out = res.to_dict()
        if as_json:
            echo_json(out, indent=2)
            return
        from rich.console import Console
        from rich.table import Table

        t = Table(
            title=f"{d.name}: {'exact' if res.exact else f'{res.n_trials} trials, seed {res.seed}'}"
        )
        t.add_column("Dose", justify="right")
        for c in ("True P(DLT)", "Selected %", "Patients", "DLTs"):
            t.add_column(c, justify="right")
        for j in range(res.n_doses):
            t.add_row(
                str(j + 1),
                f"{sc.p_tox[j]:.2f}",
                f"{res.selection_pct[j]:.1f}",
                f"{res.patients_per_dose[j]:.2f}",
                f"{res.dlts_per_dose[j]:.2f}",
            )
        con = Console()
        con.print(t)
        con.print(
            f"No selection: {res.no_selection_pct:.1f}%  Overdose selection: {res.overdose_selection_pct:.1f}%  "
            f"Mean N: {res.mean_n:.1f}  Mean per-trial DLT proportion: {res.mean_dlt_proportion:.3f}"
            + (
                ""
                if res.mean_duration_months is None
                else f"  Mean duration: {res.mean_duration_months:.1f} months"
            )
        )

    @design_app.command("pathways")
    def pathways(
        design: _DESIGN = "boin",
        target: _TARGET = 0.25,
        n_doses: int | None = typer.Option(
            None, help="Number of dose levels (default: the length of --p-tox, else 5)."
        ),
        cohorts: int = typer.Option(2, help="Number of cohorts to enumerate."),
        start_dose: int = typer.Option(1, help="Dose level of the first cohort (1-based)."),
        cohort_size: int = typer.Option(3, help="Patients per cohort (not the 3+3)."),
        n_cohorts: int = typer.Option(10, help="Maximum number of cohorts of the trial."),
        n_earlystop: _N_EARLYSTOP = None,
        eff_lower: _EFF_LOWER = None,
        no_expansion: _NO_EXPANSION = False,
        p_tox: str | None = typer.Option(
            None, help="True DLT probability per dose: adds each pathway's probability."
        ),
        p_eff: str | None = typer.Option(
            None, help="True response probability per dose (BOIN12, with --p-tox)."
        ),
        treated: str | None = typer.Option(
            None, help="Trial under way: patients treated per dose so far (complete data)."
        ),
        dlts: str | None = typer.Option(None, help="Trial under way: DLTs per dose so far."),
        responses: str | None = typer.Option(
            None, help="Trial under way: responses per dose so far (BOIN12)."
        ),
        csv: str | None = typer.Option(None, "--csv", help="Write the table to this CSV file."),
        as_json: JSON = False,
    ) -> None:
        """Dose transition pathways: the decision for every outcome of the next cohorts."""
        from allocart.design import DoseData
        from allocart.design.pathways import dose_transition_pathways
        from allocart.files import atomic_write_text, check_output

        if csv is not None:
            check_output(csv, what="--csv", error=DesignError)
        if p_eff and not p_tox:
            raise DesignError(
                "`--p-eff` needs `--p-tox`: give the true DLT probability per dose too."
            )
        if design.strip().lower() in _RESPONSE_DESIGNS and p_tox and not p_eff:
            raise DesignError(
                f"`--p-eff`: {design} pathways have response outcomes; give the true response "
                "probability per dose with --p-tox, e.g. --p-eff 0.2,0.4,0.5."
            )
        d = _trial_design(
            design,
            no_expansion,
            target=target,
            cohort_size=cohort_size,
            n_cohorts=n_cohorts,
            n_earlystop=n_earlystop,
            eff_lower=eff_lower,
        )
        sc = _scenario(p_tox, p_eff) if p_tox else None
        data = None
        if treated is not None or dlts is not None or responses is not None:
            if treated is None or dlts is None:
                raise DesignError(
                    "`--treated` and `--dlts` go together: give both for a trial under way."
                )
            data = DoseData(
                treated=tuple(_ints("treated", treated) or ()),
                dlts=tuple(_ints("dlts", dlts) or ()),
                responses=tuple(_ints("responses", responses) or ()),
            )
            if n_doses is not None and n_doses != data.n_doses:
                raise DesignError(
                    f"`--treated` has {data.n_doses} doses but `--n-doses` is {n_doses}."
                )
            n_doses = data.n_doses
        k = n_doses if n_doses is not None else (sc.n_doses if sc is not None else 5)
        if n_doses is not None and sc is not None and sc.n_doses != n_doses:
            raise DesignError(
                f"`--p-tox` has {sc.n_doses} doses but `--n-doses` is {n_doses}; give one value per dose."
            )
        if n_doses is not None and n_doses < 1:
            raise DesignError(f"`--n-doses` must be at least 1, got {n_doses}.")
        if cohorts < 1:
            raise DesignError(f"`--cohorts` must be at least 1, got {cohorts}.")
        if not 1 <= start_dose <= k:
            raise DesignError(
                f"`--start-dose` must be a dose level from 1 to {k}, got {start_dose}."
            )
        frame = dose_transition_pathways(
            d, k, cohorts, start_dose=start_dose - 1, scenario=sc, data=data
        )
        if csv is not None:
            Path(csv).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(csv, frame.to_csv(index=False))
        if as_json:
            out = {
                "design": d.name,
                "target": target,
                "n_doses": k,
                "cohorts": cohorts,
                "start_dose": start_dose,
                "rows": json.loads(frame.to_json(orient="records")),
            }
            echo_json(out, indent=2)
            return
        _print_pathways(frame, d.name, cohorts, start_dose, csv)

    @bench_app.command("design")
    def bench_design(
        trials: int = typer.Option(10000, help="Trials per scenario and design."),
        seed: int = typer.Option(1, help="Seed."),
        as_json: JSON = False,
    ) -> None:
        """Time allocart's designs and the Python peers on the same scenarios, in one run."""
        from allocart.bench.design import format_bench, run_design_bench

        res = run_design_bench(trials=trials, seed=seed)
        if as_json:
            echo_json(res, indent=2)
        else:
            format_bench(res)


def _cohort_cell(rec: dict[str, Any], i: int) -> str:
    """``D2: 1/3 DLT (2/6 at D2)``, with responses for BOIN12; empty after a branch ends."""
    import pandas as pd

    c = f"cohort_{i}_"
    if pd.isna(rec[c + "dose"]):
        return ""
    d, n, y = rec[c + "dose"], rec[c + "treated"], rec[c + "dlts"]
    text = f"D{d}: {y}/{n} DLT"
    if c + "responses" in rec:
        text += f", {rec[c + 'responses']}/{n} resp ({rec[c + 'responses_with_dlt']} with DLT)"
    if rec[c + "treated_at_dose"] != n:
        text += f" ({rec[c + 'dlts_at_dose']}/{rec[c + 'treated_at_dose']} at D{d})"
    return text


def _decision_cell(rec: dict[str, Any], i: int) -> str:
    import pandas as pd

    c = f"cohort_{i}_"
    if pd.isna(rec[c + "decision"]):
        return ""
    nxt = rec[c + "next_dose"]
    if pd.isna(nxt):
        sel = rec["selected_dose"]
        return f"{rec[c + 'decision']}: " + ("no dose" if pd.isna(sel) else f"select D{sel}")
    return f"{rec[c + 'decision']} -> D{nxt}"


def _print_pathways(frame: Any, name: str, cohorts: int, start_dose: int, csv: str | None) -> None:
    """Rich table of the pathways: one row per pathway, outcome and decision per cohort."""
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"{name}: dose transition pathways, {cohorts} cohort(s) from dose {start_dose}")
    t.add_column("#", justify="right")
    for i in range(1, cohorts + 1):
        t.add_column(f"Cohort {i}")
        t.add_column(f"Decision {i}")
    with_prob = "probability" in frame.columns
    if with_prob:
        t.add_column("Probability", justify="right")
    for rec in frame.to_dict("records"):
        cells = [str(rec["pathway"])]
        for i in range(1, cohorts + 1):
            cells += [_cohort_cell(rec, i), _decision_cell(rec, i)]
        if with_prob:
            cells.append(f"{rec['probability']:.4f}")
        t.add_row(*cells)
    con = Console()
    con.print(t)
    if csv is not None:
        con.print(f"Table written to {csv}")
