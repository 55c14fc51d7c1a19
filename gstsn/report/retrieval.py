"""Retrieval metrics beyond rank-1 and "who matched", from stored files only (``runs.jsonl`` keys and each run's
``matches.npz``, ``docs/results.md``); numpy, matplotlib and Pillow, no torch.

- :func:`retrieval_tables`: per cell, rank-5 / mAP / mINP (standard protocol) and the cross-view-gallery rank-1 /
  mAP, NM / BG / CL, mean ± 95 % interval over seeds (a table on each study page);
- :func:`retrieval_page`: the retrieval page of a study: for the first run (lowest seed) of each cell that stored
  ``matches.npz``, the shown cases (probe GEI and its first 5 matches, each with its distance, right or wrong), a
  per-view failure heatmap, the subjects that attract the most false matches and the 2-D projection.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gstsn.config import CONDITIONS, VIEWS
from gstsn.report.figures import figure_block, figure_style, to_svg
from gstsn.report.load import StudyData
from gstsn.report.tables import DISTANCE_LABELS, Cell, Table, data_note, metric_interval, value_cell
from gstsn.report.verdicts import DataGroup, data_groups
from gstsn.results.files import MATCHES_FILE
from gstsn.results.matches import MatchesError, load_matches
from gstsn.results.metrics import metric_key

MAX_CELLS = 6
HIGHLIGHTED_SUBJECTS = 10
METRICS = (("rank5", "rank-5"), ("map", "mAP"), ("minp", "mINP"), ("cv_rank1", "cross-view rank-1"),
           ("cv_map", "cross-view mAP"))  # fmt: skip


def page_file(study: StudyData) -> str:
    return f"retrieval-{study.name}.html"


# ------------------------------------------------------------------------------------------------- tables
def retrieval_tables(group: DataGroup, distance: str) -> Table | None:
    """rank-5 / mAP / mINP / cross-view rank-1 / cross-view mAP per cell (NM, BG, CL); None without those keys."""
    if not any(metric_key(m, distance, "NM") in group.runs.columns for m, _ in METRICS):
        return None
    header = ["variant", *[f"{label} {c}" for _, label in METRICS for c in CONDITIONS]]
    rows = []
    for cell in group.cells:
        row = [Cell(cell, header=True, cls="baseline" if cell == group.baseline else "")]
        for m, label in METRICS:
            for cond in CONDITIONS:
                row.append(
                    value_cell(metric_interval(group, cell, metric_key(m, distance, cond)), f"{cell} {label} {cond}")
                )
        rows.append(row)
    notes = [
        data_note(group),
        "Standard protocol (gallery NM#1-4 per view, identical views excluded, mean over probe views): rank-5 = a "
        "sequence of the probe's subject among the 5 nearest; mAP and mINP over the gallery sequences of its "
        "subject at that view. Cross-view gallery (OpenGait): probes NM#1 / BG#1 / CL#1, gallery NM#2 + BG#2 + CL#2 "
        "at all views minus the probe's own subject at its own view. ± is the 95 % t-interval half-width over seeds.",
    ]
    caption = f"Beyond rank-1: rank-5, mAP, mINP and the cross-view gallery, {DISTANCE_LABELS.get(distance, distance)}"
    return Table(caption, header, rows, notes, cls="retrieval")


# ------------------------------------------------------------------------------------------------- page
@dataclass
class Match:
    thumb: str  # data: URI or ""
    label: str
    distance: str
    right: bool


@dataclass
class Case:
    kind: str
    probe_label: str
    probe_thumb: str
    gallery_view: str
    matches: list[Match]


@dataclass
class RunSection:
    cell: str
    run_id: str
    seed: int
    distance: str
    cases: list[Case]
    figures: list[Any]
    attractors: Table
    size: str


@dataclass
class RetrievalPage:
    study: str
    sections: list[RunSection] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)


def _png_uri(image: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8), mode="L").save(buf, format="PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _label(m: dict[str, np.ndarray], row: int) -> str:
    subject = str(m["subjects"][m["row_subject"][row]])
    return f"{subject} {m['seq_types'][m['row_seq_type'][row]]} {m['views'][m['row_view'][row]]}"


def _cases(m: dict[str, np.ndarray]) -> list[Case]:
    thumbs = {int(r): _png_uri(img) for r, img in zip(m["thumb_row"], m["thumbs"], strict=True)}
    out = []
    for p, v, kind in zip(m["case_probe"], m["case_view"], m["case_kind"], strict=True):
        row = int(m["probe_row"][p])
        own = m["row_subject"][row]
        matches = []
        for j, dist in zip(m["top_index"][p, v], m["top_distance"][p, v], strict=True):
            if j < 0:
                continue
            matches.append(Match(thumbs.get(int(j), ""), _label(m, int(j)), f"{dist:.4g}",
                                 bool(m["row_subject"][j] == own)))  # fmt: skip
        out.append(Case(str(kind), _label(m, row), thumbs.get(row, ""), str(m["views"][v]), matches))
    return out


def failures(m: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per probe set, the ``(V, V)`` share (percent) of probes whose nearest gallery sequence is of another subject
    (probe view x gallery view); NaN where there are no probes or no gallery."""
    top1 = m["top_index"][:, :, 0].astype(np.int64)
    own = m["row_subject"][m["probe_row"]]
    wrong = m["row_subject"][np.maximum(top1, 0)] != own[:, None]
    pv = m["row_view"][m["probe_row"]]
    out = {}
    for cond in CONDITIONS:
        grid = np.full((len(VIEWS), len(VIEWS)), np.nan)
        mine = m["probe_set"] == cond
        for v1 in range(len(VIEWS)):
            at = mine & (pv == v1)
            if at.any():
                has = top1[at] >= 0
                with np.errstate(invalid="ignore"):
                    grid[v1] = np.where(has.any(0), 100.0 * (wrong[at] & has).sum(0) / has.sum(0), np.nan)
        out[cond] = grid
    return out


def attractors(m: dict[str, np.ndarray], top: int = 10) -> Table:
    """The gallery subjects that are most often a probe's wrong nearest match (gallery views other than the
    probe's own), with the split over probe sets."""
    top1 = m["top_index"][:, :, 0].astype(np.int64)
    own = m["row_subject"][m["probe_row"]]
    pv = m["row_view"][m["probe_row"]]
    valid = (top1 >= 0) & (np.arange(len(VIEWS))[None, :] != pv[:, None])
    wrong = valid & (m["row_subject"][np.maximum(top1, 0)] != own[:, None])
    culprit = m["row_subject"][top1[wrong]]
    conds = np.repeat(m["probe_set"][:, None], len(VIEWS), axis=1)[wrong]
    total = int(wrong.sum())
    counts = np.bincount(culprit, minlength=len(m["subjects"]))
    order = np.lexsort((np.arange(len(counts)), -counts))[:top]
    rows = []
    for s in order:
        if counts[s] == 0:
            break
        split = [int(np.sum((culprit == s) & (conds == c))) for c in CONDITIONS]
        rows.append([Cell(str(m["subjects"][s]), header=True), Cell(str(int(counts[s])), cls="num"),
                     Cell(f"{100 * counts[s] / max(total, 1):.1f} %", cls="num"),
                     *[Cell(str(x), cls="num") for x in split]])  # fmt: skip
    notes = [
        f"{total} wrong nearest matches over {int(valid.sum())} (probe, gallery view) pairs with the views differing; "
        f"an even spread would give each of the {len(m['subjects'])} subjects "
        f"{100 / max(len(m['subjects']), 1):.1f} %."
    ]
    header = ["gallery subject", "false matches attracted", "share", *[f"from {c}" for c in CONDITIONS]]
    return Table("Subjects that attract the most false matches", header, rows, notes, cls="attractors")


def failure_heatmap(m: dict[str, np.ndarray], key: str) -> Any:
    from matplotlib.figure import Figure

    grids = failures(m)
    with figure_style():
        fig = Figure(figsize=(10.4, 3.3), layout="constrained")
        axes = fig.subplots(1, len(CONDITIONS), squeeze=False)[0]
        image = None
        for i, (ax, cond) in enumerate(zip(axes, CONDITIONS, strict=True)):
            image = ax.imshow(grids[cond], vmin=0, vmax=100, cmap="magma_r", interpolation="none", aspect="equal")
            ax.set_xticks(range(len(VIEWS)), list(VIEWS), rotation=90, fontsize=6.5)
            ax.set_yticks(range(len(VIEWS)), list(VIEWS) if i == 0 else [], fontsize=6.5)
            ax.grid(False)
            ax.set_title(f"{cond} probes")
            ax.set_xlabel("gallery view")
            if i == 0:
                ax.set_ylabel("probe view")
        fig.colorbar(image, ax=list(axes), shrink=0.85, label="nearest match wrong, %")
        return to_svg(fig, key, "per-view failure heatmaps")


MARKERS = {"gallery": ("o", "gallery NM#1-4"), "NM": ("^", "NM probe"), "BG": ("s", "BG probe"),
           "CL": ("X", "CL probe"), "other": (".", "other")}  # fmt: skip


def _kind(seq_type: str) -> str:
    if seq_type in ("nm-01", "nm-02", "nm-03", "nm-04"):
        return "gallery"
    return {"nm-05": "NM", "nm-06": "NM", "bg-01": "BG", "bg-02": "BG", "cl-01": "CL", "cl-02": "CL"}.get(
        seq_type, "other"
    )


def projection_figure(m: dict[str, np.ndarray], key: str) -> Any:
    """PCA of the test embeddings: the first subjects in colour (one colour each), the others grey; the marker is
    the sequence's role (gallery, NM / BG / CL probe)."""
    import seaborn as sns
    from matplotlib.figure import Figure

    xy = m["xy"]
    n_sub = len(m["subjects"])
    shown = min(HIGHLIGHTED_SUBJECTS, n_sub)
    colors = sns.color_palette("tab10", shown)
    kinds = np.array([_kind(str(m["seq_types"][t])) for t in m["row_seq_type"]])
    with figure_style():
        fig = Figure(figsize=(7.4, 5.0), layout="constrained")
        ax = fig.subplots()
        grey = m["row_subject"] >= shown
        for kind, (marker, _) in MARKERS.items():
            sel = grey & (kinds == kind)
            if sel.any():
                ax.scatter(xy[sel, 0], xy[sel, 1], s=7, marker=marker, color="#c8cdd3", linewidths=0)
        for s in range(shown):
            for kind, (marker, _) in MARKERS.items():
                sel = (m["row_subject"] == s) & (kinds == kind)
                if sel.any():
                    ax.scatter(xy[sel, 0], xy[sel, 1], s=16, marker=marker, color=colors[s], linewidths=0,
                               label=str(m["subjects"][s]) if kind == "gallery" else None)  # fmt: skip
        for kind, (marker, label) in MARKERS.items():
            if (kinds == kind).any():
                ax.scatter([], [], marker=marker, color="#333333", label=label)
        var = m["xy_variance"]
        ax.set_xlabel(f"PC 1 ({100 * float(var[0]):.1f} % of the variance)")
        ax.set_ylabel(f"PC 2 ({100 * float(var[1]):.1f} %)")
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, title="subject / role")
        return to_svg(fig, key, "2-D projection of the test embeddings")


def _size(n: int) -> str:
    return f"{n / 1024:.0f} KiB" if n < 2**20 else f"{n / 2**20:.1f} MiB"


def retrieval_page(study: StudyData) -> RetrievalPage:
    """The retrieval page's content for ``study`` (see the module docstring); problems become sentences."""
    page = RetrievalPage(study.name)
    if study.runs.empty:
        page.problems.append("no finished run: nothing to show")
        return page
    groups = data_groups(study)
    cells = [(g, c) for g in groups for c in g.cells]  # a cell of each group: its own runs, never another group's
    for ci, (group, cell) in enumerate(cells):
        label = f"{cell} · {group.title}" if len(groups) > 1 else cell
        part = group.runs[group.runs["cell"] == cell].sort_values(["seed", "run_id"])
        found = None
        for _, run in part.iterrows():
            path = study.run_dir(str(run["run_id"])) / MATCHES_FILE
            if path.is_file():
                found = (run, path)
                break
        if found is None:
            page.problems.append(f"{label}: no run stored {MATCHES_FILE} (runs from before it existed, or not copied)")
            continue
        if len(page.sections) >= MAX_CELLS:
            page.left_out.append(label)
            continue
        run, path = found
        try:
            m = load_matches(path)
        except MatchesError as exc:
            page.problems.append(f"{label}: {exc}")
            continue
        key = f"r{ci}"
        figs = [
            figure_block("Where the nearest match is wrong", failure_heatmap(m, f"{key}-fail"),
                    "Share of probes whose nearest gallery sequence (at that gallery view) is of another subject: "
                    "100 − rank-1 of each cell, for this run.", "no probes"),
            figure_block("2-D projection of the test embeddings (PCA)", projection_figure(m, f"{key}-pca"),
                    f"Every test sequence of this run; the first {HIGHLIGHTED_SUBJECTS} subjects in colour, the "
                    "others grey; marker = gallery (NM#1-4) or NM / BG / CL probe. Sequences of one subject that "
                    "lie together are what the matcher can separate.", "no embeddings"),
        ]  # fmt: skip
        page.sections.append(
            RunSection(
                label,
                str(run["run_id"]),
                int(run["seed"]),
                str(m["distance"]),
                _cases(m),
                figs,
                attractors(m),
                _size(path.stat().st_size),
            )  # fmt: skip
        )
    return page


__all__ = [
    "attractors",
    "failures",
    "page_file",
    "retrieval_page",
    "retrieval_tables",
]
