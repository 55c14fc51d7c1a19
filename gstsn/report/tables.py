"""Paper-style tables as plain data for the templates (escaped by jinja2; no HTML is built here).

- :func:`summary_table`: one row per cell, NM/BG/CL rank-1 mean ± 95 % CI half-width over seeds; published reference
  rows appended only for real CASIA-B groups, labelled "published, not run here".
- :func:`per_view_table`: the paper layout, rank-1 per probe view (11 columns) + mean, blocks NM / BG / CL.
- :func:`comparison_table`: paired differences with their raw intervals, raw and Holm-adjusted p and the verdict words
  (from the adjusted p), both distances.
- :func:`interaction_table`: a two-axis study's interactions (does one axis's effect depend on the other?), the
  paired difference-in-differences, both distances.
- :func:`timing_table`, :func:`top_ops_table`: the timing page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import pandas as pd

from gstsn.config import CONDITIONS, VIEWS
from gstsn.contention import CONTENDED_NOTE, any_contended
from gstsn.report import stats
from gstsn.report.labels import METHOD_NAMES, shape_label, show, variant_label
from gstsn.report.published import PUBLISHED, PUBLISHED_LABEL, PUBLISHED_PROTOCOL
from gstsn.report.verdicts import (
    DataGroup,
    compare,
    contrasts,
    family_size,
    interaction_family,
    interaction_word,
    interactions,
    short_verdict,
)
from gstsn.results.metrics import metric_key
from gstsn.results.multiplicity import POWER

DISTANCE_LABELS = {
    "per_part": "per-part distance (OpenGait; the main figure)",
    "flat": "flat distance (GaitSet's original code)",
}


@dataclass(frozen=True)
class Cell:
    """One table cell: ``text`` (+ a smaller ``sub`` text such as ``±0.8``), CSS class, tooltip, row span."""

    text: str
    sub: str = ""
    cls: str = ""
    title: str = ""
    rowspan: int = 1
    header: bool = False
    more: tuple[str, ...] = ()  # further small lines under ``sub`` (one per line where the table's CSS stacks them)


@dataclass
class Table:
    """A captioned table; ``rows`` are lists of :class:`Cell` (cells covered by a rowspan are left out)."""

    caption: str
    header: list[str]
    rows: list[list[Cell]]
    notes: list[str] = field(default_factory=list)
    cls: str = ""


def value_cell(iv: stats.Interval, what: str) -> Cell:
    if iv.n == 0:
        return Cell("—", cls="missing", title=f"{what}: no value")
    title = f"{what}: mean of {iv.n} seed(s)"
    if iv.has_interval:
        title += f", 95 % CI [{iv.low:.2f}, {iv.high:.2f}]"
        return Cell(f"{iv.mean:.1f}", sub=f"±{iv.half_width:.1f}", cls="num", title=title)
    return Cell(f"{iv.mean:.1f}", cls="num", title=title + " (no interval with one seed)")


def metric_interval(group: DataGroup, cell: str, key: str) -> stats.Interval:
    if key not in group.runs.columns:
        return stats.mean_ci([])
    return stats.mean_ci(group.runs.loc[group.runs["cell"] == cell, key].dropna())


def _method(group: DataGroup, cell: str) -> str:
    m = group.methods.get(cell)
    return METHOD_NAMES.get(m, m or "—")


def data_note(group: DataGroup) -> str:
    if group.synthetic is True:
        return "SYNTHETIC DATA: rank-1 on the procedural generator's test subjects, not comparable with CASIA-B."
    if group.synthetic is False:
        return "Real CASIA-B."
    return "Data kind unknown (no synthetic flag in runs.jsonl)."


def summary_table(group: DataGroup, distance: str) -> Table:
    """NM/BG/CL rank-1 (identical views excluded) per cell, mean ± CI over seeds; published rows for real data only."""
    header = ["variant", "method", "seeds", "NM", "BG", "CL", "collapsed", "train time (s)"]
    rows, marked = [], False
    for cell in group.cells:
        part = group.runs[group.runs["cell"] == cell]
        row = [Cell(cell, header=True, cls="baseline" if cell == group.baseline else ""), Cell(_method(group, cell))]
        row.append(Cell(str(part["seed"].nunique()), cls="num", title=", ".join(str(s) for s in sorted(part["seed"]))))
        for cond in CONDITIONS:
            row.append(value_cell(metric_interval(group, cell, metric_key("rank1", distance, cond)), f"{cell} {cond}"))
        n_coll = int(part["collapsed"].sum()) if "collapsed" in part.columns else 0
        row.append(Cell(f"{n_coll} of {len(part)}", cls="warn num" if n_coll else "num"))
        time_cell = value_cell(metric_interval(group, cell, "train_time_s"), f"{cell} training time")
        if any_contended(part) and time_cell.text != "—":
            time_cell = replace(time_cell, text=f"{time_cell.text} †", cls=f"{time_cell.cls} warn".strip())
            marked = True
        row.append(time_cell)
        rows.append(row)
    notes = [
        data_note(group),
        "Rank-1 % with identical views excluded; ± is the 95 % t-interval half-width over seeds.",
        *([CONTENDED_NOTE] if marked else []),
    ]
    if group.baseline:
        notes.append(f"Baseline cell: {group.baseline} (bold).")
    table = Table(f"Rank-1 summary, {DISTANCE_LABELS.get(distance, distance)}", header, rows, notes, cls="summary")
    if group.synthetic is False and distance == "per_part":
        rows.append([Cell(f"{PUBLISHED_LABEL} ({PUBLISHED_PROTOCOL})", cls="published-head", header=True)])
        for ref in PUBLISHED:
            row = [
                Cell(ref.model, header=True, cls="published"),
                Cell(ref.source, cls="published"),
                Cell("—", cls="published"),
            ]
            row += [Cell(str(ref.value(c)), cls="published num", title=PUBLISHED_LABEL) for c in CONDITIONS]
            row += [Cell(PUBLISHED_LABEL, cls="published"), Cell("—", cls="published")]
            rows.append(row)
        notes.append(f"Rows in italics are {PUBLISHED_LABEL}: each paper's own schedule at paper scale.")
    return table


def per_view_table(group: DataGroup, distance: str) -> Table:
    """Rank-1 per probe view (11 columns, identical views excluded) + mean, in blocks NM / BG / CL (paper layout)."""
    header = ["probe", "variant", "seeds", *VIEWS, "mean"]
    rows = []
    for cond in CONDITIONS:
        for i, cell in enumerate(group.cells):
            part = group.runs[group.runs["cell"] == cell]
            row = [Cell(cond, header=True, rowspan=len(group.cells), cls="block")] if i == 0 else []
            row += [
                Cell(cell, header=True, cls="baseline" if cell == group.baseline else ""),
                Cell(str(part["seed"].nunique()), cls="num"),
            ]
            for view in VIEWS:
                iv = metric_interval(group, cell, metric_key("rank1_view", distance, cond, view))
                row.append(value_cell(iv, f"{cell} {cond} probe view {view}"))
            row.append(
                value_cell(metric_interval(group, cell, metric_key("rank1", distance, cond)), f"{cell} {cond} mean")
            )
            rows.append(row)
    notes = [
        data_note(group),
        "Gallery NM#1-4; each column is a probe view, averaged over the 10 other gallery views; ± is the 95 % "
        "t-interval half-width over seeds.",
    ]
    caption = f"Rank-1 % per probe view, {DISTANCE_LABELS.get(distance, distance)}"
    return Table(caption, header, rows, notes, cls="paper")


def difference_cell(comp: stats.AdjustedComparison, word: str, title: str) -> Cell:
    """A paired difference's table cell: "difference [raw 95 % interval]", under it ``word`` (the verdict), "p … ·
    Holm p …" and, where not distinguishable, the seeds for 80 % power; without an interval, the difference alone."""
    if not comp.diff.has_interval:
        return Cell(stats.format_difference(comp.diff), cls="missing")
    more = [f"p {stats.format_p(comp.p)} · Holm p {stats.format_p(comp.p_holm)}"]
    if comp.verdict == stats.UNCLEAR:
        more.append(stats.format_seeds_needed(comp.seeds_needed, comp.diff.n))
    cls = {"better": "better", "worse": "worse"}.get(comp.verdict, "unclear")
    return Cell(stats.format_difference(comp.diff), sub=word, more=tuple(more), cls=cls, title=title)


def comparison_table(group: DataGroup) -> Table:
    """Every comparison of the group with its paired difference [95 % interval] and verdict, for both distances."""
    header = ["comparison", "axis", "distance", "NM", "BG", "CL"]
    rows = []
    for contrast in contrasts(group):
        for distance in DISTANCE_LABELS:
            row = [
                Cell(f"{contrast.cell} vs {contrast.reference}", header=True),
                Cell(contrast.axis or "reference row"),
                Cell(distance),
            ]
            for cond in CONDITIONS:
                comp = compare(group, contrast, distance, cond)
                title = (f"paired by seed over seeds {list(comp.seeds)}; raw 95 % interval; the verdict uses the "
                         f"Holm p over the {comp.m} comparisons on the {distance} distance")  # fmt: skip
                row.append(difference_cell(comp, short_verdict(comp.verdict), title))
            rows.append(row)
    sizes = ", ".join(f"{family_size(group, d)} on the {d} distance" for d in DISTANCE_LABELS)
    notes = [
        data_note(group),
        "Difference in rank-1 points (first minus second, paired by seed) with its raw 95 % t-interval; under it "
        "the verdict ('not distinguishable' at this sample size, or 'better' / 'worse'), the raw paired t-test p "
        "and the Holm–Bonferroni-adjusted p.",
        f"Adjusted for multiplicity: each distance's comparisons form one family ({sizes}); 'better' / 'worse' only "
        "when the Holm p is below 0.05, so a raw interval that excludes 0 can still be not distinguishable. Where it "
        f"is not distinguishable: the seeds that would give {POWER * 100:.0f} % power at the Bonferroni level "
        "0.05 / m, at the observed difference and seed-to-seed spread.",
    ]
    return Table("Paired differences", header, rows, notes, cls="comparisons")


def interaction_table(group: DataGroup) -> Table | None:
    """A two-axis study's interactions (:func:`gstsn.report.verdicts.interactions`) per distance: the paired
    difference-in-differences with its raw interval, p, Holm p among the interactions and the verdict; None for a
    study without one."""
    items = interactions(group)
    if not items:
        return None
    rows = []
    for inter in items:
        for distance in DISTANCE_LABELS:
            fam = interaction_family(group, distance)
            row = [
                Cell(inter.describe(show), header=True,
                     title=f"({inter.cell} − {inter.along}) − ({inter.across} − {inter.base}), paired by seed"),
                Cell(distance),
            ]  # fmt: skip
            for cond in CONDITIONS:
                comp = fam[(inter.cell, cond)]
                title = (f"paired by seed over seeds {list(comp.seeds)}; raw 95 % interval; Holm over the {comp.m} "
                         f"interaction comparisons on the {distance} distance")  # fmt: skip
                row.append(difference_cell(comp, interaction_word(comp), title))
            rows.append(row)
    notes = [
        data_note(group),
        "Does one axis's effect depend on the other? Per seed, the effect of the second axis (its baseline value → "
        "the named one) at the first axis's named value minus the same effect at the first axis's baseline value: "
        "(a, b) − (a, b₀) − (a₀, b) + (a₀, b₀). The same number is the change in the first axis's effect when the "
        "second moves; 0 means the two act independently. Hover a row for its four cells.",
        "Raw 95 % t-interval over seeds; the verdict uses the Holm p among the interactions of one distance, a "
        "family of their own (the paired differences above keep their adjustment).",
    ]
    return Table("Interactions (difference-in-differences)", ["interaction", "distance", *CONDITIONS], rows, notes,
                 cls="comparisons")  # fmt: skip


def _fmt(x, digits: int = 1, scale: float = 1.0, suffix: str = "") -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "—"
    return "—" if math.isnan(v) else f"{v * scale:.{digits}f}{suffix}"


def timing_table(df: pd.DataFrame, phase: str) -> Table:
    """One phase: a row per variant × shape × device × dtype: median time [CI], FLOPs, GFLOP/s, % of peak, memory."""
    header = [
        "variant",
        "shape",
        "device",
        "dtype",
        "median (ms)",
        "95 % CI (ms)",
        "GFLOP",
        "GFLOP/s",
        "% of peak",
        "peak memory (MiB)",
    ]
    rows = []
    for rec in df[df["phase"] == phase].to_dict("records"):
        rows.append(
            [
                Cell(variant_label(rec), header=True),
                Cell(shape_label(rec)),
                Cell(show(rec.get("device"))),
                Cell(show(rec.get("dtype"))),
                Cell(_fmt(rec.get("median_s"), 2, 1e3), cls="num"),
                Cell(f"[{_fmt(rec.get('ci_low_s'), 2, 1e3)}, {_fmt(rec.get('ci_high_s'), 2, 1e3)}]", cls="num"),
                Cell(_fmt(rec.get("flops"), 2, 1e-9), cls="num"),
                Cell(_fmt(rec.get("gflops_per_s"), 1), cls="num"),
                Cell(_fmt(rec.get("frac_of_peak"), 1, 100.0), cls="num"),
                Cell(_fmt(rec.get("peak_mem_bytes"), 0, 1 / 2**20), cls="num"),
            ]
        )
    notes = [
        "Median over repeats with its 95 % interval; % of peak = achieved GFLOP/s ÷ a matmul peak measured in "
        "the same run."
    ]
    return Table(f"Phase: {phase}", header, rows, notes, cls="timing")


def top_ops_table(df: pd.DataFrame, variant: str, limit: int = 15) -> Table:
    """The ``limit`` operators with the most self time in one variant's profiled training step."""
    part = df[df["model_variant"] == variant]
    device_time = (
        "self_device_ms" in part.columns
        and pd.to_numeric(part["self_device_ms"], errors="coerce").fillna(0).gt(0).any()
    )
    key = "self_device_ms" if device_time else "self_cpu_ms"
    part = part.assign(_k=pd.to_numeric(part[key], errors="coerce")).sort_values(["_k", "op"], ascending=[False, True])
    shares = pd.to_numeric(part["share"], errors="coerce")
    share_scale = 1.0 if shares.max(skipna=True) > 1.0 else 100.0  # a fraction of the step, or already percent
    has_category = "category" in part.columns
    header = ["operator", *(["category"] if has_category else []), "self CPU (ms)", "self device (ms)", "share of step"]
    rows = [
        [
            Cell(str(rec["op"]), header=True),
            *([Cell(show(rec.get("category")))] if has_category else []),
            Cell(_fmt(rec.get("self_cpu_ms"), 2), cls="num"),
            Cell(_fmt(rec.get("self_device_ms"), 2), cls="num"),
            Cell(_fmt(rec.get("share"), 1, share_scale, " %"), cls="num"),
        ]
        for rec in part.head(limit).to_dict("records")
    ]
    notes = [f"Sorted by {key.replace('_', ' ')}; top {min(limit, len(part))} of {len(part)} operators."]
    return Table(f"Top operators: {variant}", header, rows, notes, cls="ops")


def _ratio_words(low: float, high: float) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return "no interval"
    if high <= 0.8:
        return "≥ 20 % less time (the per-call reading of the claim holds)"
    if low > 1.0:
        return "slower than GaitSet"
    if high < 1.0:
        return "faster, but not shown to be 20 % faster"
    return "not distinguishable from GaitSet"


def ratio_table(df: pd.DataFrame) -> Table:
    """GSTSN ÷ GaitSet median time for every GSTSN row with a GaitSet row of the same phase, device, dtype and shape.

    The bounds come from the two rows' 95 % intervals (low = GSTSN low ÷ GaitSet high, high = GSTSN high ÷ GaitSet
    low): conservative, since the repeats of the two variants are not paired.
    """
    keys = [c for c in ("phase", "device", "dtype", "batch", "frames", "height", "width") if c in df.columns]
    header = ["phase", "variant", "shape", "device", "dtype", "GSTSN ÷ GaitSet", "bounds", "reading"]
    rows = []
    if not df.empty:
        is_gaitset = df["model"].astype(str).str.lower().eq("gaitset")
        for _, part in df.groupby(keys, sort=True, dropna=False):
            base = part[is_gaitset.loc[part.index]]
            if base.empty:
                continue
            b = base.iloc[0]
            for rec in part[~is_gaitset.loc[part.index]].to_dict("records"):
                try:
                    ratio = float(rec["median_s"]) / float(b["median_s"])
                    low = float(rec["ci_low_s"]) / float(b["ci_high_s"])
                    high = float(rec["ci_high_s"]) / float(b["ci_low_s"])
                except (TypeError, ValueError, ZeroDivisionError):
                    continue
                words = _ratio_words(low, high)
                cls = "better" if high <= 0.8 else "worse" if low > 1.0 else "unclear"
                rows.append(
                    [
                        Cell(str(rec["phase"]), header=True),
                        Cell(variant_label(rec)),
                        Cell(shape_label(rec)),
                        Cell(show(rec.get("device"))),
                        Cell(show(rec.get("dtype"))),
                        Cell(f"{ratio:.2f}", cls="num"),
                        Cell(f"[{_fmt(low, 2)}, {_fmt(high, 2)}]", cls="num"),
                        Cell(words, cls=cls),
                    ]
                )
    notes = [
        "Ratio of median times measured in the same run; the claim '20 % less time' per call means a ratio ≤ 0.80.",
        "Bounds combine the two variants' 95 % intervals (GSTSN low ÷ GaitSet high, GSTSN high ÷ GaitSet low): "
        "conservative, as repeats are not paired.",
    ]
    return Table("GSTSN ÷ GaitSet time, per phase (from timing.csv)", header, rows, notes, cls="timing")
