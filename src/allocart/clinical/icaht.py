"""Immune effector cell-associated haematotoxicity (ICAHT), EHA/EBMT consensus grading.

Early ICAHT (day 0 to +30) by the duration of neutropenia:

===== ======================================= =======================
Grade ANC <= 500/uL                           ANC <= 100/uL
===== ======================================= =======================
1     1-6 days                                (< 7 days)
2     7-13 days                               (< 7 days)
3     14-30 days                              or 7-13 days
4     >= 31 days (or convention 4 below)      or >= 14 days
===== ======================================= =======================

Late ICAHT (after day +30; days 31-100 here) by the nadir of non-transient neutropenia (at least
two values <= 1500/uL): grade 1 <= 1500, 2 <= 1000, 3 <= 500, 4 <= 100/uL. Which values make
neutropenia non-transient is an option (``late_rule``): ``"min_values"`` (default) needs
``late_min_values`` (2) values <= 1500/uL; ``"reference"`` reproduces the reference
implementation (Liang): the lowest value of each day, the two lowest of those, the lowest graded
when the second-lowest is also <= 1500/uL or is missing (a single day with a value), else grade 0.

Counting conventions, each an option: thresholds are inclusive (<=); the duration is the
longest episode, joining episodes separated by a non-stable recovery (fewer than 3 consecutive
days above the threshold, the bridging days counted), or the cumulative number of days below
the threshold (T-ICAHT proposal); gaps of up to 7 days between measurements are linearly
interpolated and the lowest value of each day is used; an ANC <= 500 episode that starts on
day 0-3 and is still open at the last value within day 0-30 is grade 4 (reference
implementation). Pre-existing neutropenia (baseline ANC) and G-CSF use are reported.

References
----------
Rejeski K, et al. Blood 2023;142:865-77. doi:10.1182/blood.2023020578
Liang EC. Automated ICAHT grading, github.com/emilyliangmd/automatedicahtgrading.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from allocart.clinical.records import PatientRecords
from allocart.clinical.results import Context, Options, ScoreResult, grade_label
from allocart.clinical.timing import require_day_zero

__all__ = ["IcahtOptions", "score_icaht", "daily_series", "episodes", "early_grade"]


class IcahtOptions(Options):
    """Options of ICAHT grading."""

    duration: Literal["longest_episode", "cumulative"] = Field(
        "longest_episode",
        description="Longest episode with non-stable recoveries bridged, or cumulative days.",
    )
    stable_recovery_days: int = Field(
        3, ge=1, description="Consecutive days above the threshold that end an episode."
    )
    interpolate_max_gap_days: int = Field(
        7, ge=0, description="Interpolate linearly across at most this many missing days (0 = off)."
    )
    inclusive: bool = Field(
        True, description="Neutropenia is ANC <= threshold (False: < threshold)."
    )
    open_episode_grade4: bool = Field(
        True,
        description="Grade 4 for an early episode starting by open_episode_start_max_day still open at day 30.",
    )
    open_episode_start_max_day: int = Field(3, ge=0, le=30)
    early_end_day: int = Field(30, ge=1, description="Last day of the early window.")
    late_end_day: int = Field(
        100, ge=31, description="Last day of the late window (reference implementation: 100)."
    )
    late_rule: Literal["min_values", "reference"] = Field(
        "min_values",
        description="Late ICAHT needs non-transient neutropenia (Rejeski 2023: >= 2 values <= 1500/uL). min_values: at "
        "least late_min_values values <= 1500/uL, nadir graded. reference: as the reference code (Liang, "
        "automatedicahtgrading): the two lowest daily-minimum values after day 30, the lowest graded when the "
        "second-lowest is also <= 1500/uL or when only one day has a value, otherwise grade 0.",
    )
    late_min_values: int = Field(
        2,
        ge=1,
        description="late_rule min_values: values <= 1500/uL needed for late ICAHT (2: Rejeski 2023 non-transient "
        "neutropenia; 1: any single value).",
    )


def daily_series(patient: PatientRecords, first: int, last: int, max_gap: int) -> dict[int, float]:
    """Lowest ANC (10^9/L) per day in ``first..last``, with short gaps interpolated."""
    measured: dict[int, float] = {}
    for lab in patient.labs:
        if lab.code == "NEUT" and not lab.is_urine():
            d = patient.calendar_day(lab.time)
            measured[d] = min(measured.get(d, lab.std_value), lab.std_value)
    days = sorted(measured)
    series = {d: v for d, v in measured.items() if first <= d <= last}
    for a, b in zip(days, days[1:]):
        missing = b - a - 1
        if 0 < missing <= max_gap:
            for d in range(a + 1, b):
                if first <= d <= last:
                    series[d] = measured[a] + (measured[b] - measured[a]) * (d - a) / (b - a)
    return dict(sorted(series.items()))


def _below(value: float, threshold: float, inclusive: bool) -> bool:
    return value <= threshold if inclusive else value < threshold


def episodes(
    series: dict[int, float], threshold: float, opts: IcahtOptions
) -> list[tuple[int, int]]:
    """Neutropenic episodes (first day, last day); non-stable recoveries are bridged.

    An unmeasured day (beyond the interpolation limit) ends an episode.
    """
    out: list[tuple[int, int]] = []
    start = end = None
    above_run = 0
    prev_day = None
    for day, value in series.items():
        if prev_day is not None and day != prev_day + 1 and start is not None:
            out.append((start, end))  # type: ignore[arg-type]
            start = end = None
        prev_day = day
        if _below(value, threshold, opts.inclusive):
            if start is None:
                start = day
            end = day
            above_run = 0
        elif start is not None:
            above_run += 1
            if above_run >= opts.stable_recovery_days:
                out.append((start, end))  # type: ignore[arg-type]
                start = end = None
                above_run = 0
    if start is not None:
        out.append((start, end))  # type: ignore[arg-type]
    return out


def _duration(
    series: dict[int, float], threshold: float, opts: IcahtOptions
) -> tuple[int, list[tuple[int, int]]]:
    eps = episodes(series, threshold, opts)
    if opts.duration == "cumulative":
        return sum(_below(v, threshold, opts.inclusive) for v in series.values()), eps
    return max((b - a + 1 for a, b in eps), default=0), eps


def early_grade(d500: int, d100: int) -> int:
    """Early ICAHT grade from the durations (days) at ANC <= 500 and <= 100/uL."""
    if d500 >= 31 or d100 >= 14:
        return 4
    if d500 >= 14 or d100 >= 7:
        return 3
    if d500 >= 7:
        return 2
    return 1 if d500 >= 1 else 0


def _late_grade(nadir: float) -> int:
    if nadir <= 0.1:
        return 4
    if nadir <= 0.5:
        return 3
    return 2 if nadir <= 1.0 else 1


def score_icaht(patient: PatientRecords, ctx: Context) -> list[ScoreResult]:
    """Early and late ICAHT grades of one patient."""
    opts: Any = ctx.options
    require_day_zero(patient, "ICAHT")
    flags: list[str] = []
    pre = [
        lab
        for lab in patient.labs
        if lab.code == "NEUT" and not lab.is_urine() and patient.day_of(lab.time) < 0
    ]
    baseline = max(pre, key=lambda lab: patient.day_of(lab.time)).std_value if pre else None
    if baseline is not None and baseline <= 1.5:
        flags.append(
            f"pre-existing neutropenia at lymphodepletion (baseline ANC {baseline * 1000:g}/uL)"
        )
    gcsf = [
        m.name
        for m in patient.medications
        if m.category == "g_csf" and patient.day_of(m.start) >= 0
    ]
    if gcsf:
        flags.append("G-CSF given (does not change the grade)")

    early = daily_series(patient, 0, opts.early_end_day, opts.interpolate_max_gap_days)
    if not early:
        out = [
            ctx.not_evaluable(
                patient,
                item="early",
                time=None,
                reason=f"no ANC (NEUT) between day 0 and {opts.early_end_day}",
            )
        ]
    else:
        d500, eps500 = _duration(early, 0.5, opts)
        d100, eps100 = _duration(early, 0.1, opts)
        grade = early_grade(d500, d100)
        last_day = max(early)
        open_episode = [
            e for e in eps500 if e[1] == last_day and e[0] <= opts.open_episode_start_max_day
        ]
        if opts.open_episode_grade4 and open_episode and grade < 4:
            grade = 4
            flags.append(
                f"ANC <= 500 from day {open_episode[0][0]} not recovered by day {last_day}: grade 4 (convention 4)"
            )
        out = [
            ctx.result(
                patient,
                item="early",
                value=grade,
                label=grade_label(grade, "ICAHT", "early"),
                components={
                    "days_anc_le_500": d500,
                    "days_anc_le_100": d100,
                    "episodes_le_500": eps500,
                    "episodes_le_100": eps100,
                    "baseline_anc_10e9_l": baseline,
                    "g_csf": gcsf,
                    "days_with_values": len(early),
                },
                flags=flags,
            )
        ]

    end = opts.late_end_day
    if patient.last_follow_up is not None:
        end = min(end, patient.calendar_day(patient.last_follow_up))
    late_values = [
        (patient.calendar_day(lab.time), lab.std_value)
        for lab in patient.labs
        if lab.code == "NEUT"
        and not lab.is_urine()
        and opts.early_end_day < patient.calendar_day(lab.time) <= end
    ]
    low = [v for _, v in late_values if v <= 1.5]
    late_flags = []
    components: dict[str, Any] = {}
    if opts.late_rule == "reference":
        daily: dict[int, float] = {}
        for d, v in late_values:
            daily[d] = min(daily.get(d, v), v)
        lowest = sorted(daily.values())[:2]
        components["two_lowest_daily_10e9_l"] = lowest
        if lowest and lowest[0] <= 1.5 and (len(lowest) == 1 or lowest[1] <= 1.5):
            late = _late_grade(lowest[0])
        else:
            late = 0
            if lowest and lowest[0] <= 1.5:
                late_flags.append(
                    f"second-lowest daily ANC {lowest[1] * 1000:g}/uL above 1500/uL: transient (reference rule)"
                )
    elif len(low) >= opts.late_min_values:
        late = _late_grade(min(low))
    else:
        late = 0
        if low:
            late_flags.append(
                f"{len(low)} value(s) <= 1500/uL: transient, below late_min_values = {opts.late_min_values}"
            )
    out.append(
        ctx.result(
            patient,
            item="late",
            value=late,
            label=grade_label(late, "ICAHT", "late"),
            evaluable=bool(late_values),
            components={
                "values": late_values,
                "low_values": len(low),
                "nadir_10e9_l": min(low) if low else None,
                "window_days": [opts.early_end_day + 1, end],
                "rule": opts.late_rule,
                **components,
            },
            flags=late_flags,
        )
    )
    return out
