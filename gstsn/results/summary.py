"""Text over a study's statistics: a mean or a difference always with its interval (:func:`format_mean`,
:func:`format_difference`), the table ``gstsn ablations summary`` prints (:func:`format_study`) and its Markdown
variant for the README (:func:`markdown_summary`). No torch import."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gstsn.config import CONDITIONS
from gstsn.contention import CONTENDED_NOTE, any_contended
from gstsn.results import runs as runs_format
from gstsn.results.budget import study_curves
from gstsn.results.curves import CurveError
from gstsn.results.stats import (
    INTERACTION_WORDS,
    UNCLEAR,
    Interval,
    rank1_metrics,
    read_runs_frame,
    study_interactions,
    study_statistics,
)
from gstsn.results.time_to_target import MODEL_LABELS, PER_ITERATION, format_ratio, times_to_target


def _signed(x: float, digits: int, minus: str = "-") -> str:
    text = f"{x:+.{digits}f}"
    return f"{0:.{digits}f}" if float(text) == 0 else text.replace("-", minus)  # no "-0.0" or "+0.0"


def format_mean(iv: Interval, digits: int = 1) -> str:
    """``"95.1 [94.3, 95.9]"``; one value (no interval): ``"95.1 (1 seed)"``; none: ``"—"``."""
    if iv.n == 0:
        return "—"
    if not iv.has_interval:
        return f"{iv.mean:.{digits}f} (1 seed)"
    return f"{iv.mean:.{digits}f} [{iv.low:.{digits}f}, {iv.high:.{digits}f}]"


def format_difference(iv: Interval, digits: int = 1, minus: str = "-") -> str:
    """``"+1.3 [-0.2, +2.8]"`` (``minus="−"`` for typography). Without an interval there is no difference to print:
    ``"n/a (1 paired seed)"``."""
    if not iv.has_interval:
        return f"n/a ({iv.n} paired seed{'s' if iv.n != 1 else ''})"
    low, mean, high = (_signed(v, digits, minus) for v in (iv.low, iv.mean, iv.high))
    return f"{mean} [{low}, {high}]"


def format_study(study_dir: str | Path, distance: str = "per_part", digits: int = 1) -> str:
    """A plain-text summary of one study: per cell the NM/BG/CL means with 95 % intervals, then every paired
    comparison with its interval and verdict (``distance``'s identical-view-excluded rank-1)."""
    study_dir = Path(study_dir)
    metrics = rank1_metrics([distance])
    summary, comparisons = study_statistics(study_dir, metrics)
    lines = [f"== {study_dir.name}: rank-1 % ({distance}, identical views excluded), mean [95 % CI] over seeds"]
    problems = runs_format.read_runs(study_dir / runs_format.RUNS_FILE).problems()
    lines += [f"  WARNING: {p}" for p in problems]
    if summary.empty:
        return "\n".join([*lines, "  (no finished runs)"])
    width = max(len(c) for c in summary["cell"]) + 2
    lines.append(" " * width + "".join(f"{c:>24}" for c in CONDITIONS) + "   seeds")
    for cell, part in summary.groupby("cell", sort=False):
        cols = []
        for metric in metrics:
            r = part.loc[part["metric"] == metric].iloc[0]
            cols.append(f"{format_mean(Interval(r['mean'], r['low'], r['high'], int(r['n'])), digits):>24}")
        lines.append(f"{cell:<{width}}" + "".join(cols) + f"   {part['seeds'].iloc[0]}")
    if not comparisons.empty:
        m = int(comparisons["m"].max())
        lines.append(
            f"paired differences (cell − reference, by seed), raw 95 % CI, p (paired t-test), Holm p over the study's "
            f"{m} comparisons; verdict from the Holm p:"
        )
        for (cell, ref), part in comparisons.groupby(["cell", "reference"], sort=False):
            lines.append(f"  {cell} vs {ref}: " + "; ".join(_difference_items(part, metrics, digits)))
    lines += interaction_lines(study_dir, distance, digits)
    return "\n".join([*lines, *time_to_target_lines(study_dir, distance, digits)])


def _difference_items(part: pd.DataFrame, metrics: list[str], digits: int, words: dict[str, str] | None = None
                      ) -> list[str]:  # fmt: skip
    """``NM +1.2 [-0.3, +2.7] p 0.09 Holm 0.27 not distinguishable…, 8 seeds for 80 % power`` per metric, from the
    rows of one comparison (``diff, low, high, n, p, p_holm, verdict, seeds_needed``); ``words`` renames verdicts."""
    from gstsn.results.multiplicity import format_p, format_seeds_needed  # imports this module

    items = []
    for metric in metrics:
        r = part.loc[part["metric"] == metric].iloc[0]
        iv = Interval(r["diff"], r["low"], r["high"], int(r["n"]))
        text = f"{metric.rsplit('.', 1)[1]} {format_difference(iv, digits)}"
        if iv.has_interval:
            word = (words or {}).get(r["verdict"], r["verdict"])
            text += f" p {format_p(r['p'])} Holm {format_p(r['p_holm'])} {word}"
            if r["verdict"] == UNCLEAR:
                needed = None if pd.isna(r["seeds_needed"]) else int(r["seeds_needed"])
                text += f", {format_seeds_needed(needed, iv.n)}"
        items.append(text)
    return items


def interaction_lines(study_dir: str | Path, distance: str = "per_part", digits: int = 1) -> list[str]:
    """A two-axis study's interactions (:func:`gstsn.results.stats.compare_interactions`): per contrast the
    difference-in-differences by seed with its interval, p and Holm p among the interactions; none for another
    study."""
    metrics = rank1_metrics([distance])
    table = study_interactions(study_dir, metrics)
    if table.empty:
        return []
    m = int(table["m"].max())
    lines = [
        f"interactions (does one axis's effect depend on the other? difference-in-differences by seed), raw 95 % CI, "
        f"p, Holm p over the {m} interaction comparisons:"
    ]
    for what, part in table.groupby("what", sort=False):
        items = _difference_items(part, metrics, digits, INTERACTION_WORDS)
        lines.append(f"  {what}: " + "; ".join(items))
    return lines


def _ratio(iv: Interval) -> str:
    if iv.n == 0:
        return "—"
    if not iv.has_interval:
        return f"{format_ratio(iv.mean)} (1 seed)"
    return f"{format_ratio(iv.mean)} [{format_ratio(iv.low)}, {format_ratio(iv.high)}]"


def time_to_target_lines(study_dir: str | Path, distance: str = "per_part", digits: int = 1) -> list[str]:
    """The "20 % less time" reading as time to target (:mod:`gstsn.results.time_to_target`), one line per setting
    and GSTSN variant whose GaitSet and GSTSN runs have curves: per model the mean seconds to the NM target with its
    interval and the seeds that never reached it, the GSTSN ÷ GaitSet ratio (geometric mean over seeds) beside the
    per-iteration one. A study without such runs has no line."""
    try:
        rows, curves = study_curves(study_dir)
    except CurveError as exc:
        return [f"  WARNING: time to target not computed: {exc}"]
    lines = []
    for tt in times_to_target(rows, curves, distance):
        first, per_it = tt.rows[0], next(r for r in tt.rows if r.what == PER_ITERATION)
        contended = sorted({t.seed for r in tt.rows for runs in r.times.values() for t in runs if t.contended})
        models = []
        for model, name in MODEL_LABELS.items():
            text = f"{name} {format_mean(first.means[model], digits)} s"
            missed = [str(t.seed) for t in first.times[model] if t.seconds is None]
            models.append(text + (f" (not reached: seed(s) {', '.join(missed)})" if missed else ""))
        lines.append(
            f"  time to target, {tt.paired.gstsn_label} ({first.what} target {first.target:.{digits}f} = "
            f"{tt.fraction * 100:g} % of GaitSet's final {first.gaitset_final.mean:.{digits}f}): " + ", ".join(models)
            + f"; GSTSN ÷ GaitSet {_ratio(first.ratio)} (geometric mean over seeds), per iteration "
            + _ratio(per_it.ratio)
            + ("; contention not recorded" if not tt.contention_recorded else "")
            + (f"; seed(s) {', '.join(map(str, contended))} trained under contention" if contended else "")
        )  # fmt: skip
    return lines


_METHOD_NAMES = {"gaitset": "GaitSet", "gstsn": "GSTSN", "gei": "GEI (non-learned)"}


def _minutes(rows: pd.DataFrame, column: str) -> str:
    col = pd.to_numeric(rows[column], errors="coerce") if column in rows.columns else pd.Series(dtype=float)
    return f"{col.mean() / 60:.1f}" if col.notna().any() else "—"


def markdown_summary(study_dir: str | Path, distance: str = "per_part", digits: int = 1) -> str:
    """A Markdown table of one study (README, docs): per cell its method, NM / BG / CL rank-1 as mean ± 95 %
    t-interval half-width over seeds (``distance``, identical views excluded), the seeds, and the mean training and
    evaluation minutes per run (marked † where a run trained under contention, with a note below the table)."""
    study_dir = Path(study_dir)
    metrics = rank1_metrics([distance])
    summary, _ = study_statistics(study_dir, metrics)
    runs = read_runs_frame(study_dir)
    lines = [
        f"| cell | method | {' | '.join(CONDITIONS)} | seeds | train min / run | eval min / run |",
        "|---|---|" + "---|" * len(CONDITIONS) + "---|---|---|",
    ]
    marked = False
    for cell, part in summary.groupby("cell", sort=False):
        rows = runs[runs["cell"] == cell]
        mark = " †" if any_contended(rows) else ""
        marked = marked or bool(mark)
        method = str(rows["method"].iloc[0]) if "method" in rows.columns and len(rows) else ""
        values = []
        for metric in metrics:
            r = part.loc[part["metric"] == metric].iloc[0]
            iv = Interval(r["mean"], r["low"], r["high"], int(r["n"]))
            values.append(
                f"{iv.mean:.{digits}f} ± {(iv.high - iv.low) / 2:.{digits}f}"
                if iv.has_interval
                else format_mean(iv, digits)
            )

        lines.append(
            f"| {cell} | {_METHOD_NAMES.get(method, method)} | {' | '.join(values)} | {part['seeds'].iloc[0]} | "
            f"{_minutes(rows, 'train_time_s')}{mark} | {_minutes(rows, 'eval_time_s')} |"
        )
    if marked:
        lines += ["", CONTENDED_NOTE]
    return "\n".join(lines)


__all__ = [
    "format_difference",
    "format_mean",
    "format_study",
    "interaction_lines",
    "markdown_summary",
    "time_to_target_lines",
]
