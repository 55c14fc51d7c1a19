"""Two readings from the evaluation curves of paired GaitSet / GSTSN runs, for the study and timing pages.

- Does the verdict depend on the budget? GSTSN − GaitSet rank-1 against training iterations, paired by seed, with its
  95 % interval at each evaluation (:mod:`gstsn.results.budget`): a figure and a table.
- The "20 % less time" claim as time to target (:mod:`gstsn.results.time_to_target`): per seed the training seconds
  each model needs to reach 95 % of GaitSet's final rank-1, the mean per model and the GSTSN ÷ GaitSet ratio with
  their intervals, beside the time per iteration; times measured under contention marked.

Both appear only where a group has GaitSet and GSTSN runs paired by seed with curves, so pages without curves are
unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib
import pandas as pd
from markupsafe import Markup
from matplotlib.figure import Figure

from gstsn.config import CONDITIONS
from gstsn.contention import CONTENDED_SHARE
from gstsn.report.figures import COND_COLORS, RC, to_svg
from gstsn.report.labels import show, variant_label
from gstsn.report.load import StudyData
from gstsn.report.stats import format_difference
from gstsn.report.tables import Cell, Table
from gstsn.report.tta_curves import setting_title
from gstsn.results.budget import BudgetCurve, budget_curves
from gstsn.results.curves import PairedRuns
from gstsn.results.stats import Interval
from gstsn.results.time_to_target import (
    CLAIM_RATIO,
    MODEL_LABELS,
    MODELS,
    PER_ITERATION,
    RunTime,
    TimeRow,
    TimeToTarget,
    format_ratio,
    ratio_words,
    times_to_target,
)

BUDGET_CAPTION = (
    "Each thin grey line is one seed: GSTSN's rank-1 minus its GaitSet partner's (same seed and settings) at the "
    "evaluations both runs made; the coloured line is the mean over the seeds and the band its 95 % t-interval at "
    "that iteration (no band with one seed). Where the band lies wholly above 0 GSTSN is ahead at that budget, wholly "
    "below 0 GaitSet is; a band that crosses 0 at every budget means more training does not change the verdict."
)


def setting_name(paired: PairedRuns) -> str:
    """The setting of a pair group in words (data, device, profile, iterations)."""
    its = paired.row.get("iterations")
    return setting_title(dict(paired.row)) + (f", {show(its)} iterations" if its is not None else "")


def comparison_name(paired: PairedRuns, gaitset: str | None = None) -> str:
    """``temporal=true − temporal=false`` on a study page (the cells), ``GSTSN median, LSTM×2 − GaitSet`` on the
    timing page (``gaitset`` given)."""
    return f"{paired.gstsn_label} − {gaitset or paired.row.get('cell') or 'GaitSet'}"


# ----------------------------------------------------------------------------------------------------------------------
# Does the verdict depend on the budget?


def budget_figure(bc: BudgetCurve, key: str) -> Markup | None:
    """One panel per probe set: the per-seed differences (thin), their mean and 95 % band against iterations."""
    if bc.points.empty:
        return None
    conds = [c for c in CONDITIONS if c in set(bc.points["condition"])]
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(3.5 * len(conds) + 0.4, 3.2), layout="constrained")
        axes = fig.subplots(1, len(conds), sharey=True, squeeze=False)[0]
        for ax, cond in zip(axes, conds, strict=True):
            ax.axhline(0.0, color="#444444", linewidth=0.8)
            seeds = bc.per_seed[bc.per_seed["condition"] == cond]
            for i, (_, part) in enumerate(seeds.groupby("seed", sort=True)):
                ax.plot(part["iteration"], part["diff"], "-", color="#9a9a9a", linewidth=0.7, alpha=0.8,
                        label="one seed" if i == 0 else None)  # fmt: skip
            pts = bc.points[bc.points["condition"] == cond]
            color = COND_COLORS.get(cond, "#333333")
            ax.plot(pts["iteration"], pts["mean"], "-o", color=color, markersize=3.5, linewidth=1.6,
                    label="mean over seeds")  # fmt: skip
            ok = pts["low"].notna() & pts["high"].notna()
            if ok.any():
                ax.fill_between(pts["iteration"][ok], pts["low"][ok], pts["high"][ok], color=color, alpha=0.2,
                                linewidth=0, label="95 % interval")  # fmt: skip
            ax.set_title(f"{cond} probes ({bc.distance} distance)")
            ax.set_xlabel("training iteration")
        axes[0].set_ylabel("GSTSN − GaitSet rank-1 (points)")
        axes[0].legend(loc="best", fontsize=7)
        return to_svg(fig, key, "GSTSN minus GaitSet rank-1 against training iterations, paired by seed, 95 % band")


def budget_table(bc: BudgetCurve) -> Table:
    """Per evaluation iteration: the mean difference with its raw 95 % interval per probe set, and the seeds."""
    conds = [c for c in CONDITIONS if c in set(bc.points["condition"])]
    rows = []
    for it in sorted(set(bc.points["iteration"])):
        at = bc.points[bc.points["iteration"] == it]
        row = [Cell(show(int(it)), header=True, cls="num")]
        seeds = sorted({s for v in at["seeds"] for s in str(v).split(",") if s}, key=int)
        row.append(Cell(str(len(seeds)), cls="num", title="seeds: " + ", ".join(seeds)))
        for cond in conds:
            p = at[at["condition"] == cond]
            if p.empty:
                row.append(Cell("—", cls="missing", title=f"{cond}: no pair evaluated at iteration {it}"))
                continue
            r = p.iloc[0]
            iv = Interval(float(r["mean"]), float(r["low"]), float(r["high"]), int(r["n"]))
            row.append(Cell(format_difference(iv), cls="num", title=f"{cond}, seeds {r['seeds']}"))
        rows.append(row)
    notes = [
        f"Rank-1 points, GSTSN − GaitSet ({bc.distance} distance, identical views excluded), paired by seed at each "
        "evaluation both runs of a pair made: the mean over the seeds with its raw 95 % t-interval at that iteration. "
        "The intervals are not adjusted for the number of iterations shown; the verdict above is the one adjusted for "
        "the study's comparisons, at the final budget.",
        *bc.problems,
    ]
    caption = f"GSTSN − GaitSet rank-1 against training iterations: {comparison_name(bc.paired)}"
    return Table(caption, ["iteration", "seeds", *conds], rows, notes, cls="comparisons")


# ----------------------------------------------------------------------------------------------------------------------
# Time to target


def _num(x: float, digits: int) -> str:
    return f"{x:.{digits}f}".replace("-", "−")


def _percent(fraction: float) -> str:
    return f"{fraction * 100:g} %"


def _time_text(seconds: float | None, per_iteration: bool) -> str:
    return "—" if seconds is None else _num(seconds, 3 if per_iteration else 1)


def _run_cell(t: RunTime, per_iteration: bool) -> Cell:
    share = "contention not recorded" if t.share is None else f"other processes took {t.share:.0%} of the CPUs"
    if t.seconds is None:
        what = "time not recorded" if per_iteration else "never reached the target within its curve"
        return Cell("not recorded" if per_iteration else "not reached", cls="warn", title=f"run {t.run_id}: {what}")
    mark = " †" if t.contended else ""
    return Cell(_time_text(t.seconds, per_iteration) + mark, cls="num", title=f"run {t.run_id}; {share}")


def _mean_cell(iv: Interval, runs: tuple[RunTime, ...], per_iteration: bool) -> Cell:
    digits = 3 if per_iteration else 1
    missing = [str(t.seed) for t in runs if t.seconds is None]
    sub = f"{iv.n} of {len(runs)} seed{'s' if len(runs) != 1 else ''}"
    if missing:
        sub += f"; seed{'s' if len(missing) > 1 else ''} {', '.join(missing)} " + (
            "not recorded" if per_iteration else "not reached, left out"
        )
    if iv.n == 0:
        return Cell("—", sub=sub, cls="missing")
    if not iv.has_interval:
        return Cell(_num(iv.mean, digits), sub=sub + " (no interval)", cls="num")
    return Cell(f"{_num(iv.mean, digits)} [{_num(iv.low, digits)}, {_num(iv.high, digits)}]", sub=sub, cls="num")


def _ratio_cell(iv: Interval) -> Cell:
    if iv.n == 0:
        return Cell("—", sub="no seed with both times", cls="missing")
    seeds = f"geometric mean of {iv.n} seed{'s' if iv.n != 1 else ''}"
    if not iv.has_interval:
        return Cell(format_ratio(iv.mean), sub=seeds + " (no interval)", cls="num")
    text = f"{format_ratio(iv.mean)} [{format_ratio(iv.low)}, {format_ratio(iv.high)}]"
    return Cell(text, sub=seeds, more=(ratio_words(iv),), cls="num")


def _reading_cell(r: TimeRow, fraction: float, span: int) -> Cell:
    if r.what == PER_ITERATION:
        return Cell("seconds per training iteration", rowspan=span, header=True)
    final = r.gaitset_final
    return Cell(f"{r.what}: target {r.target:.1f}", sub=f"{_percent(fraction)} of GaitSet's final {final.mean:.1f}",
                rowspan=span, header=True)  # fmt: skip


def _contention_note(tt: TimeToTarget) -> str:
    if not tt.contention_recorded:
        return (
            "Contention not recorded: these runs' rows predate cpu_others_share, so whether other processes took CPU "
            "time while they trained is unknown."
        )
    runs = {t.run_id: (m, t) for r in tt.rows for m in MODELS for t in r.times[m]}
    busy = [f"{MODEL_LABELS[m]} seed {t.seed} ({t.share:.0%})" for m, t in runs.values() if t.contended]
    unknown = [f"{MODEL_LABELS[m]} seed {t.seed}" for m, t in runs.values() if t.share is None]
    text = (
        f"† measured under contention (other processes took over {CONTENDED_SHARE:.0%} of the CPUs while the run "
        f"trained): {', '.join(busy)}; compare these times with care."
        if busy
        else f"All runs with a recorded share trained on quiet cores (other processes ≤ {CONTENDED_SHARE:.0%})."
    )
    if unknown:
        text += f" Contention not recorded for {', '.join(unknown)}."
    return text


def _spacing(curves: pd.DataFrame, paired: PairedRuns) -> str:
    """How often the GaitSet runs of ``paired`` evaluated, in words."""
    ids = {gaitset for _, gaitset, _ in paired.pairs}
    its = pd.to_numeric(curves.loc[curves["run_id"].astype(str).isin(ids), "iteration"], errors="coerce").dropna()
    its = sorted(set(its))
    if len(its) == 1:
        return f"a single evaluation, at iteration {show(float(its[0]))}"
    steps = pd.Series(its).diff().dropna()
    return f"evaluations every {show(float(steps.median()))} iterations" if not steps.empty else "no evaluation"


def time_to_target_table(tt: TimeToTarget, curves: pd.DataFrame, title: str, gaitset: str | None = None) -> Table:
    """Per reading (NM / BG / CL target, time per iteration): one row per seed and a summary row."""
    header = ["reading", "seed", "GaitSet (s)", "GSTSN (s)", "GSTSN ÷ GaitSet"]
    rows: list[list[Cell]] = []
    for r in tt.rows:
        per_it = r.what == PER_ITERATION
        seeds = [t.seed for t in r.times["gaitset"]]
        by_seed = {m: {t.seed: t for t in r.times[m]} for m in MODELS}
        for i, seed in enumerate(seeds):
            row = [_reading_cell(r, tt.fraction, len(seeds) + 1)] if i == 0 else []
            row.append(Cell(str(seed), cls="num"))
            row += [_run_cell(by_seed[m][seed], per_it) for m in MODELS]
            ratio = r.ratios.get(seed)
            row.append(Cell("—", cls="missing") if ratio is None else Cell(format_ratio(ratio), cls="num"))
            rows.append(row)
        rows.append([
            Cell("mean [95 % CI]", cls="baseline"),
            *(_mean_cell(r.means[m], r.times[m], per_it) for m in MODELS),
            _ratio_cell(r.ratio),
        ])  # fmt: skip
    missing = [f"{r.what}: {', '.join(r.missing)}" for r in tt.rows if r.missing and r.what != PER_ITERATION]
    notes = [
        f"Target per probe set: {_percent(tt.fraction)} of GaitSet's final rank-1 (TARGET_FRACTION; the mean over the "
        f"paired GaitSet runs of their last evaluation, {tt.distance} distance, identical views excluded). Time: "
        "training seconds (evaluation excluded) at the first evaluation at or above the target, so known to within "
        f"one evaluation interval ({_spacing(curves, tt.paired)}).",
        "Mean: over the seeds that reached the target, with its 95 % t-interval. Ratio: GSTSN ÷ GaitSet per seed "
        "where both reached it; over the seeds, the geometric mean with the 95 % t-interval computed on the logarithms "
        f"of the ratios (so it is asymmetric); ≤ {CLAIM_RATIO} would be '20 % less time'. The last block is the time "
        "per training iteration (sec_per_iter), the per-iteration reading of the claim, for the same runs.",
    ]
    if missing:
        notes.append("Not reached within the run (left out of the mean and the ratio): " + "; ".join(missing) + ".")
    notes.append(_contention_note(tt))
    notes += tt.problems
    caption = f"Time to target, {title}: {comparison_name(tt.paired, gaitset)}"
    return Table(caption, header, rows, notes, cls="comparisons")


# ----------------------------------------------------------------------------------------------------------------------
# Page sections


def _records(runs: pd.DataFrame) -> list[dict[str, Any]]:
    return runs.to_dict("records") if not runs.empty else []


def group_readings(runs: pd.DataFrame, curves: pd.DataFrame) -> tuple[list[BudgetCurve], list[TimeToTarget]]:
    """The budget curves and time-to-target readings of a study's data group (its runs and the study's curves)."""
    if runs.empty or curves.empty or "method" not in runs.columns:
        return [], []
    rows = _records(runs)
    return budget_curves(rows, curves), times_to_target(rows, curves)


def timing_page_tables(studies: list[StudyData]) -> list[Table]:
    """Time to target for the timing page: the paired runs of every study (a run several studies hold read once),
    GSTSN variants named as on that page."""
    rows: dict[str, Mapping[str, Any]] = {}
    frames = []
    for study in studies:
        if study.runs.empty or study.eval_curves.empty or "method" not in study.runs.columns:
            continue
        for row in _records(study.runs):
            rid = str(row["run_id"])
            if rid not in rows:
                rows[rid] = row
                frames.append(study.eval_curves[study.eval_curves["run_id"].astype(str) == rid])
    frames = [f for f in frames if not f.empty]
    if not frames:
        return []
    curves = pd.concat(frames, ignore_index=True)

    def label(row: Mapping[str, Any]) -> str:
        return variant_label(dict(row, model="gstsn"))

    readings = times_to_target(rows.values(), curves, label=label)
    return [time_to_target_table(tt, curves, setting_name(tt.paired), "GaitSet") for tt in readings]


__all__ = [
    "BUDGET_CAPTION",
    "budget_figure",
    "budget_table",
    "comparison_name",
    "group_readings",
    "setting_name",
    "time_to_target_table",
    "timing_page_tables",
]
