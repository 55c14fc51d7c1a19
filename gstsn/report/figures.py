"""Plots as inline SVG text (matplotlib ``Figure`` objects, no pyplot state; seaborn draws into given axes).

Deterministic: a fixed ``svg.hashsalt``, no date metadata, sorted inputs, and every element id prefixed with the
figure's key so that several SVGs on one page never share an id. Text stays text (``svg.fonttype = none``), so the
SVGs are small and searchable. Every function returns ``None`` when its input is empty (the page says so instead).
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from markupsafe import Markup, escape
from matplotlib.figure import Figure

from gstsn.config import CONDITIONS, DISTANCES, VIEWS
from gstsn.report import stats
from gstsn.report.labels import mpl_text, wrap_cell
from gstsn.report.verdicts import DataGroup
from gstsn.results.metrics import metric_key

RC = {
    "svg.hashsalt": "gstsn-report",
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 8.5,
    "axes.titlesize": 9.5,
    "axes.labelsize": 8.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "figure.dpi": 100,
    "savefig.dpi": 100,
}
COND_COLORS = {"NM": "#0072B2", "BG": "#E69F00", "CL": "#009E73"}
MAX_CURVE_POINTS = 300


@dataclass
class FigureBlock:
    """A figure on a page: its SVG, or (when ``svg`` is None) the sentence saying why it is missing."""

    title: str
    svg: Any
    caption: str
    missing: str = ""


def figure_block(title: str, svg: Any, caption: str, missing: str) -> FigureBlock:
    """A :class:`FigureBlock`; ``missing`` is kept only when there is no SVG."""
    return FigureBlock(title, svg, caption, "" if svg is not None else missing)


@contextmanager
def figure_style() -> Iterator[None]:
    """The pages' matplotlib style (:data:`RC`), for the figures drawn inside it."""
    with matplotlib.rc_context(RC):
        yield


def _palette(cells: list[str]) -> dict[str, tuple]:
    colors = sns.color_palette("colorblind" if len(cells) <= 10 else "husl", len(cells))
    return {c: tuple(colors[i]) for i, c in enumerate(cells)}


def to_svg(fig: Figure, key: str, label: str) -> Markup:
    """The figure as an inline ``<svg>`` element whose ids are prefixed with ``key`` (unique per page)."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", key):
        raise ValueError(f"figure key {key!r} must be a plain identifier (letters, digits, _ and -)")
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})  # figures use constrained layout: no tight bbox pass
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    text = re.sub(r'\bid="', f'id="{key}-', text)
    text = _dedupe_ids(text)
    text = text.replace("url(#", f"url(#{key}-").replace('href="#', f'href="#{key}-')
    text = text.replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" class="plot" ', 1)
    return Markup(text.strip())


def _dedupe_ids(text: str) -> str:
    """Rename repeated ids (matplotlib names images by content hash, so two identical colour bars share one).

    References (``#id``) resolve to the first element with that id, which is the one kept; the repeats were identical
    definitions, so renaming them changes nothing on screen.
    """
    seen: dict[str, int] = {}

    def rename(match: re.Match[str]) -> str:
        ident = match.group(1)
        seen[ident] = seen.get(ident, 0) + 1
        return match.group(0) if seen[ident] == 1 else f'id="{ident}-{seen[ident]}"'

    return re.sub(r'\bid="([^"]+)"', rename, text)


def _t_errorbar(values: pd.Series) -> tuple[float, float]:
    iv = stats.mean_ci(values)
    return (iv.low, iv.high) if iv.has_interval else (iv.mean, iv.mean)


#: average width of a 7.5 pt tick-label character, inches (DejaVu Sans)
_TICK_CHAR_IN = 0.062


def _label_chars(width: float, panels: int, cells: int) -> int:
    """Characters of 7.5 pt tick label that fit under one of ``cells`` categories of a ``width``-inch figure with
    ``panels`` panels (less the y axis and the legend, ~1.6 in)."""
    slot = max(0.1, (width - 1.6) / max(1, panels) / max(1, cells))
    return max(4, int(slot / _TICK_CHAR_IN))


def _fit_labels(labels: list[str], chars: int) -> list[str]:
    """The tick labels, each line broken after its ``=`` (``idr_stat=max+median`` → ``idr_stat=`` / ``max+median``)
    when any line is longer than ``chars``, so that neighbouring labels do not run into each other (all of them, so
    that they stay alike)."""
    if all(len(line) <= chars for label in labels for line in label.split("\n")):
        return labels

    def broken(label: str) -> str:
        lines = []
        for line in label.split("\n"):
            key, eq, value = line.partition("=")
            lines.extend([key + eq, value] if eq and value else [line])
        return "\n".join(lines)

    return [broken(label) for label in labels]


def axis_pointplot(group: DataGroup, key: str) -> Markup | None:
    """Rank-1 per cell (x) and condition (colour), mean with 95 % t-interval over seeds; one panel per distance."""
    records = []
    for distance in DISTANCES:
        for cond in CONDITIONS:
            col = metric_key("rank1", distance, cond)
            if col not in group.runs.columns:
                continue
            for cell, value in zip(group.runs["cell"], group.runs[col], strict=True):
                if value is not None and not (isinstance(value, float) and math.isnan(value)):
                    records.append({"distance": distance, "condition": cond, "cell": cell, "rank1": float(value)})
    if not records:
        return None
    df = pd.DataFrame(records)
    distances = [d for d in DISTANCES if d in set(df["distance"])]
    width = min(11.0, 1.6 + 0.9 * len(group.cells) * len(distances))
    cells = list(dict.fromkeys([*group.cells, *df["cell"]]))  # the plotted order is group.cells
    labels = _fit_labels([wrap_cell(mpl_text(c)) for c in cells], _label_chars(width, len(distances), len(group.cells)))
    labels = dict(zip(cells, labels, strict=True))
    order = [labels[c] for c in group.cells]
    df["cell"] = df["cell"].map(labels)
    with figure_style():
        fig = Figure(figsize=(width, 3.4), layout="constrained")
        axes = fig.subplots(1, len(distances), sharey=True, squeeze=False)[0]
        for ax, distance in zip(axes, distances, strict=True):
            sns.pointplot(
                data=df[df["distance"] == distance],
                x="cell",
                y="rank1",
                hue="condition",
                order=order,
                hue_order=[c for c in CONDITIONS if c in set(df["condition"])],
                palette=COND_COLORS,
                errorbar=_t_errorbar,
                dodge=0.35,
                linestyle="none",
                markersize=5,
                capsize=0.12,
                err_kws={"linewidth": 1.2},
                ax=ax,
            )
            ax.set_title(f"{distance} distance")
            ax.set_xlabel("")
            ax.set_ylabel("rank-1 % (identical views excluded)")
            ax.tick_params(axis="x", labelsize=7.5)
            low, high = ax.get_ylim()
            ax.set_ylim(max(low, 0.0), min(high, 100.0))  # rank-1 lives in [0, 100]; wide intervals are cut there
            if ax is not axes[-1] and ax.get_legend() is not None:
                ax.get_legend().remove()
        if axes[-1].get_legend() is not None:
            sns.move_legend(axes[-1], "upper left", bbox_to_anchor=(1.0, 1.0), title="probe set")
        return to_svg(fig, key, "rank-1 per variant and condition with 95 % intervals")


def heatmaps(group: DataGroup, tables: pd.DataFrame, cell: str, distance: str, key: str) -> Markup | None:
    """The cell's 11×11 probe × gallery rank-1 tables (mean over its seeds), one panel per condition.

    Colour only, drawn as an 11×11 image (crisp pixels): 363 number labels per figure made pages slow to render and
    heavy. The per-view numbers are in the paper-style table; missing cells are left blank.
    """
    run_ids = set(group.runs.loc[group.runs["cell"] == cell, "run_id"])
    part = tables[tables["run_id"].isin(run_ids) & (tables["distance"] == distance)]
    conds = [c for c in CONDITIONS if c in set(part["condition"])]
    if part.empty or not conds:
        return None
    with figure_style():
        fig = Figure(figsize=(3.2 * len(conds) + 0.8, 3.3), layout="constrained")
        axes = fig.subplots(1, len(conds), squeeze=False)[0]
        image = None
        for i, (ax, cond) in enumerate(zip(axes, conds, strict=True)):
            sub = part[part["condition"] == cond]
            grid = sub.groupby(["probe_view", "gallery_view"])["value"].mean().unstack("gallery_view")
            grid = grid.reindex(index=list(VIEWS), columns=list(VIEWS)).to_numpy(dtype=float)
            image = ax.imshow(grid, vmin=0, vmax=100, cmap="viridis", interpolation="none", aspect="equal")
            ax.set_xticks(range(len(VIEWS)), list(VIEWS), rotation=90, fontsize=6.5)
            ax.set_yticks(range(len(VIEWS)), list(VIEWS) if i == 0 else [], fontsize=6.5)
            ax.grid(False)
            n = len(set(sub["run_id"]))
            ax.set_title(f"{cond} probes ({n} seed{'s' if n != 1 else ''})")
            ax.set_xlabel("gallery view")
            if i == 0:
                ax.set_ylabel("probe view")
        fig.colorbar(image, ax=list(axes), shrink=0.85, label="rank-1 %")
        return to_svg(fig, key, f"11 by 11 rank-1 heatmaps of {cell}")


def delta_heatmap(group: DataGroup, pairs: list[tuple[str, str]], distance: str, key: str) -> Markup | None:
    """GSTSN − GaitSet rank-1 per condition (rows) and probe view (columns), paired by seed, annotated with ±CI.

    Drawn only for pairs with at least 2 paired seeds (a difference is never shown without its interval).
    """
    panels = []
    for gstsn_cell, gaitset_cell in pairs:
        mean = np.full((len(CONDITIONS), len(VIEWS)), np.nan)
        annot = np.full(mean.shape, "", dtype=object)
        n_max = 0
        for r, cond in enumerate(CONDITIONS):
            for c, view in enumerate(VIEWS):
                comp = stats.paired_difference(
                    group.runs, metric_key("rank1_view", distance, cond, view), gstsn_cell, gaitset_cell
                )
                n_max = max(n_max, comp.diff.n)
                if comp.diff.has_interval:
                    mean[r, c] = comp.diff.mean
                    annot[r, c] = f"{comp.diff.mean:+.1f}\n±{comp.diff.half_width:.1f}"
        if np.isfinite(mean).any():
            panels.append((gstsn_cell, gaitset_cell, mean, annot, n_max))
    if not panels:
        return None
    limit = max(1.0, float(np.nanmax(np.abs(np.concatenate([p[2].ravel() for p in panels])))))
    with figure_style():
        fig = Figure(figsize=(9.0, 1.9 * len(panels) + 0.4), layout="constrained")
        axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
        for ax, (a, b, mean, annot, n) in zip(axes, panels, strict=True):
            frame = pd.DataFrame(mean, index=list(CONDITIONS), columns=list(VIEWS))
            sns.heatmap(
                frame,
                cmap="RdBu",
                vmin=-limit,
                vmax=limit,
                center=0,
                annot=annot,
                fmt="",
                annot_kws={"size": 6.5},
                cbar_kws={"label": "GSTSN − GaitSet (points)"},
                ax=ax,
                linewidths=0.3,
                linecolor="white",
            )
            ax.set_title(mpl_text(f"{a} − {b} ({n} paired seeds; ±: 95 % interval half-width)"))
            ax.set_xlabel("probe view")
            ax.set_ylabel("probe set")
            ax.tick_params(labelsize=7, rotation=0)
        return to_svg(fig, key, "GSTSN minus GaitSet rank-1 per probe view with 95 % intervals")


def _thin(iterations: np.ndarray) -> np.ndarray:
    """At most ``MAX_CURVE_POINTS`` evenly spaced iterations (always keeping the first and the last)."""
    its = np.unique(iterations)
    if its.size <= MAX_CURVE_POINTS:
        return its
    return its[np.unique(np.linspace(0, its.size - 1, MAX_CURVE_POINTS).round().astype(int))]


def _mean_band(df: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Mean and 95 % t-interval of ``y`` over runs at each ``x`` (band NaN where fewer than 2 runs)."""
    rows = []
    for xv, part in df.groupby(x, sort=True):
        iv = stats.mean_ci(part[y])
        rows.append((xv, iv.mean, iv.low, iv.high))
    return pd.DataFrame(rows, columns=[x, "mean", "low", "high"])


def training_curves(group: DataGroup, logs: pd.DataFrame, key: str) -> Markup | None:
    """Loss, share of non-zero triplets and mean distances against iteration; per cell mean over seeds with CI band."""
    cell_of = dict(zip(group.runs["run_id"], group.runs["cell"], strict=True))
    logs = logs[logs["run_id"].isin(cell_of)].copy()
    if logs.empty:
        return None
    logs["cell"] = logs["run_id"].map(cell_of)
    logs = logs[logs["iteration"].isin(_thin(logs["iteration"].to_numpy()))]
    panels = [("loss", "BA+ triplet loss"), ("nonzero_frac", "share of non-zero triplets")]
    if {"dist_ap", "dist_an"} <= set(logs.columns):
        panels.append(("dist", "mean distance: a–n (solid), a–p (dashed)"))
    colors = _palette(group.cells)
    with figure_style():
        fig = Figure(figsize=(3.6 * len(panels) + 0.4, 3.2), layout="constrained")
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, (col, title) in zip(axes, panels, strict=True):
            for cell in group.cells:
                part = logs[logs["cell"] == cell]
                if part.empty:
                    continue
                series = [("dist_an", "-"), ("dist_ap", "--")] if col == "dist" else [(col, "-")]
                for name, style in series:
                    band = _mean_band(
                        part[["iteration", name]].apply(pd.to_numeric, errors="coerce"), "iteration", name
                    )
                    label = mpl_text(cell) if style == "-" else None
                    ax.plot(band["iteration"], band["mean"], style, color=colors[cell], linewidth=1.2, label=label)
                    ok = band["low"].notna()
                    if ok.any():
                        ax.fill_between(
                            band["iteration"][ok],
                            band["low"][ok],
                            band["high"][ok],
                            color=colors[cell],
                            alpha=0.15,
                            linewidth=0,
                        )
            ax.set_title(title, fontsize=8.5)
            ax.set_xlabel("iteration")
        axes[0].legend(loc="upper right", fontsize=7)
        return to_svg(fig, key, "training loss and non-zero triplet share against iteration")


def accuracy_vs_time(group: DataGroup, curves: pd.DataFrame, key: str) -> Markup | None:
    """Rank-1 against training wall time (periodic evaluation), per condition; per cell mean over seeds with CI."""
    cell_of = dict(zip(group.runs["run_id"], group.runs["cell"], strict=True))
    curves = curves[curves["run_id"].isin(cell_of)].copy()
    if curves.empty:
        return None
    distance = "per_part" if "per_part" in set(curves["distance"]) else sorted(set(curves["distance"]))[0]
    curves = curves[curves["distance"] == distance]
    curves["cell"] = curves["run_id"].map(cell_of)
    conds = [c for c in CONDITIONS if c in set(curves["condition"])]
    colors = _palette(group.cells)
    with figure_style():
        fig = Figure(figsize=(3.5 * len(conds) + 0.4, 3.2), layout="constrained")
        axes = fig.subplots(1, len(conds), sharey=True, squeeze=False)[0]
        for ax, cond in zip(axes, conds, strict=True):
            for cell in group.cells:
                part = curves[(curves["cell"] == cell) & (curves["condition"] == cond)]
                if part.empty:
                    continue
                acc = _mean_band(part, "iteration", "rank1")
                wall = part.groupby("iteration", sort=True)["wall_time"].mean().reindex(acc["iteration"]).to_numpy()
                ax.plot(
                    wall, acc["mean"], "-o", color=colors[cell], markersize=2.5, linewidth=1.2, label=mpl_text(cell)
                )
                ok = acc["low"].notna().to_numpy()
                if ok.any():
                    ax.fill_between(
                        wall[ok], acc["low"][ok], acc["high"][ok], color=colors[cell], alpha=0.15, linewidth=0
                    )
            ax.set_title(f"{cond} probes ({distance} distance)")
            ax.set_xlabel("training wall time (s)")
        axes[0].set_ylabel("rank-1 %")
        axes[0].legend(loc="lower right", fontsize=7)
        return to_svg(fig, key, "rank-1 against training wall time")
