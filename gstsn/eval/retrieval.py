"""Rank-5, mAP and mINP beside rank-1 on the standard CASIA-B protocol, exactly, plus each probe's first matches.

Same protocol as :mod:`gstsn.eval.protocol` (gallery ``nm-01..04``; probe sets NM, BG, CL; every probe view against
every gallery view), with more numbers per cell ``(v1, v2)``. For a probe filmed at v1, rank the gallery sequences
filmed at v2 by canonical distance (stable: ties in gallery input order); the *relevant* ones are those of the probe's
subject, at 0-based positions ``pos_1 < pos_2 < ... < pos_R``:

- ``rank1`` / ``rank5``: hit when ``pos_1 < k``; cell ``round(100 * hits / probes, 2)`` (OpenGait's arithmetic, as
  rank-1; a probe without a relevant gallery sequence there is a miss). ``rank1`` equals
  :func:`gstsn.eval.protocol.evaluate_rank1`'s tables, number for number.
- ``map``: AP ``= (sum_m m / (pos_m + 1)) / R`` (the sum taken in the order of ``m``), cell
  ``round(100 * mean AP, 2)`` over the probes at v1 that have a relevant gallery sequence at v2 (as OpenGait's
  ``compute_ACC_mAP`` leaves out a probe without one).
- ``minp``: INP ``= R / (pos_R + 1)`` (the share of the ranking down to the last relevant match that is relevant;
  OpenGait's ``evaluate_many``), cell as ``map``.

Each metric's figure is the rank-1 rule: per probe view the row mean over the other gallery views (identical view
excluded), then the mean over probe views; the identical-view-included variant averages whole rows.

:func:`evaluate_retrieval` also returns, per probe and gallery view, the first :data:`~gstsn.eval.ranking.TOP_K`
gallery rows in order and their distances ("who matched"). The function is pure: arrays in, a result out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import torch

from gstsn.data.naming import VIEWS
from gstsn.eval.inputs import EvalInputs
from gstsn.eval.rank1_result import mean_present, protocol_notes, same_floats, summarise_table
from gstsn.eval.ranking import TOP_K, Ranking, rank_relevant
from gstsn.eval.sets import PROBE_SETS, STANDARD_TYPES, standard_layout

#: metrics of the standard protocol, in display order
METRICS: tuple[str, ...] = ("rank1", "rank5", "map", "minp")
#: the metrics that are new beside the rank-1 evaluator's (written by :meth:`RetrievalResult.to_rows` by default)
EXTRA_METRICS: tuple[str, ...] = ("rank5", "map", "minp")
METRIC_LABELS: Mapping[str, str] = MappingProxyType(
    {"rank1": "rank-1", "rank5": "rank-5", "map": "mAP", "minp": "mINP", "cv_rank1": "rank-1", "cv_map": "mAP"}
)


# ------------------------------------------------------------------------------------------- per-probe values
def hits_at(ranking: Ranking, k: int) -> np.ndarray:
    """bool ``(P, V)``: a relevant gallery entry among the first ``k``."""
    first = ranking.positions[..., 0] if ranking.positions.shape[2] else np.full(ranking.n_relevant.shape, -1)
    return (ranking.n_relevant > 0) & (first >= 0) & (first < k)


def average_precision(ranking: Ranking) -> np.ndarray:
    """float64 ``(P, V)``: AP ``= (sum_m m / (pos_m + 1)) / R``, summed in the order of ``m``; NaN where ``R = 0``."""
    pos, n_rel = ranking.positions, ranking.n_relevant
    total = np.zeros(n_rel.shape, dtype=np.float64)
    for m in range(pos.shape[2]):
        term = np.where(pos[..., m] >= 0, (m + 1) / (np.maximum(pos[..., m], 0) + 1.0), 0.0)
        total = total + term
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_rel > 0, total / n_rel, np.nan)


def inverse_negative_penalty(ranking: Ranking) -> np.ndarray:
    """float64 ``(P, V)``: INP ``= R / (pos_R + 1)``; NaN where ``R = 0``."""
    n_rel = ranking.n_relevant
    if ranking.positions.shape[2] == 0:
        return np.full(n_rel.shape, np.nan)
    last = np.take_along_axis(ranking.positions, np.maximum(n_rel - 1, 0)[..., None], axis=2)[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_rel > 0, n_rel / (last + 1.0), np.nan)


def cell_of_hits(hits: np.ndarray) -> float:
    """``round(100 * hits / probes, 2)`` (OpenGait); NaN without probes."""
    return float(np.round(np.sum(hits) * 100 / len(hits), 2)) if len(hits) else math.nan


def cell_of_means(values: np.ndarray) -> float:
    """``round(100 * mean, 2)`` over the values present (in the order given); NaN when none is."""
    present = values[~np.isnan(values)]
    return float(np.round(np.mean(present) * 100, 2)) if present.size else math.nan


# ------------------------------------------------------------------------------------------------------ result
@dataclass(frozen=True)
class RetrievalResult:
    """Rank-1, rank-5, mAP and mINP (percent) of one set of features under the standard CASIA-B protocol.

    - ``tables[metric][cond]``: 11 x 11 DataFrame (index probe view, columns gallery view), NaN = left out;
    - ``per_view_excl[metric]`` / ``per_view_incl[metric]``: DataFrame (probe view x probe set);
    - ``summary_excl[metric]`` (the main figures) / ``summary_incl[metric]``: probe set -> mean over probe views;
    - ``n_probes``: DataFrame (probe view x probe set); ``notes``: what was left out, in words;
    - who matched: ``probe_rows`` (P,) the input row of each probe (probe sets in order NM, BG, CL, input order
      within), ``probe_set`` (P,) its probe set, ``top_index`` (P, 11, k) input rows of its first ``k`` gallery
      sequences per gallery view in order (``-1`` padding) and ``top_distance`` their distances;
    - ``n_rechecked``: canonical distances computed for undecided pairs (diagnostic; excluded from equality).
    """

    distance: str
    probe_sets: tuple[str, ...]
    views: tuple[str, ...]
    tables: Mapping[str, Mapping[str, pd.DataFrame]]
    per_view_excl: Mapping[str, pd.DataFrame]
    per_view_incl: Mapping[str, pd.DataFrame]
    summary_excl: Mapping[str, Mapping[str, float]]
    summary_incl: Mapping[str, Mapping[str, float]]
    n_probes: pd.DataFrame
    probe_rows: np.ndarray
    probe_set: np.ndarray
    top_index: np.ndarray
    top_distance: np.ndarray
    notes: tuple[str, ...] = ()
    n_rechecked: int = field(default=0, compare=False)

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(self.tables)

    def same_numbers(self, other: RetrievalResult) -> bool:
        """True when every table cell, per-view number, summary and first-match row is identical (NaN equal NaN)."""

        def eq(a: Any, b: Any) -> bool:
            a, b = np.asarray(a), np.asarray(b)
            return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))

        return (
            self.distance == other.distance
            and self.metrics == other.metrics
            and all(eq(self.tables[m][c], other.tables[m][c]) for m in self.metrics for c in self.probe_sets)
            and all(eq(self.per_view_excl[m], other.per_view_excl[m]) for m in self.metrics)
            and all(eq(self.per_view_incl[m], other.per_view_incl[m]) for m in self.metrics)
            and all(same_floats(self.summary_excl[m], other.summary_excl[m]) for m in self.metrics)
            and all(same_floats(self.summary_incl[m], other.summary_incl[m]) for m in self.metrics)
            and eq(self.probe_rows, other.probe_rows)
            and eq(self.top_index, other.top_index)
        )

    def to_rows(self, metrics: Sequence[str] = EXTRA_METRICS) -> list[dict[str, Any]]:
        """Tidy rows ``condition, probe_view, gallery_view, metric, value, distance`` as
        :meth:`gstsn.eval.protocol.Rank1Result.to_rows` writes them for rank-1: ``<metric>`` per cell,
        ``<metric>_excl_identical`` / ``<metric>_incl_identical`` per probe view (``gallery_view="all"``) and their
        mean (``probe_view="mean"``). By default only the metrics the rank-1 rows lack (rank-5, mAP, mINP)."""
        rows: list[dict[str, Any]] = []

        def add(cond: str, pv: str, gv: str, metric: str, value: float) -> None:
            if not math.isnan(value):
                rows.append(
                    {"condition": cond, "probe_view": pv, "gallery_view": gv, "metric": metric,
                     "value": float(value), "distance": self.distance}
                )  # fmt: skip

        for metric in metrics:
            for cond in self.probe_sets:
                table = self.tables[metric][cond]
                for pv in self.views:
                    for gv in self.views:
                        add(cond, pv, gv, metric, table.at[pv, gv])
                for suffix, per_view, summary in (
                    ("excl_identical", self.per_view_excl[metric], self.summary_excl[metric]),
                    ("incl_identical", self.per_view_incl[metric], self.summary_incl[metric]),
                ):
                    for pv in self.views:
                        add(cond, pv, "all", f"{metric}_{suffix}", per_view.at[pv, cond])
                    add(cond, "mean", "all", f"{metric}_{suffix}", summary[cond])
        return rows


# ------------------------------------------------------------------------------------------------------ entry
def evaluate_retrieval(
    features: np.ndarray | torch.Tensor,
    subject: Any,
    seq_type: Any,
    view: Any,
    distance: str = "per_part",
    device: torch.device | str | None = None,
    *,
    top_k: int = TOP_K,
    probe_chunk: int | None = None,
    part_chunk: int | None = None,
) -> RetrievalResult:
    """Rank-1, rank-5, mAP and mINP of ``features`` under the standard CASIA-B protocol (see the module docstring).

    Arguments as :func:`gstsn.eval.protocol.evaluate_rank1`; ``top_k`` first matches are kept per probe and gallery
    view (0: none). Chunk sizes, thread counts and the device never change the result. Raises :class:`ProtocolError`.
    """
    inp = EvalInputs.check(features, subject, seq_type, view, distance, device, probe_chunk, part_chunk, STANDARD_TYPES)
    layout = standard_layout(inp.seq_type, inp.view_idx)
    g_slots, gallery_counts, cond_rows, p_rows = layout.g_slots, layout.gallery_counts, layout.cond_rows, layout.p_rows
    ranking = rank_relevant(
        inp.x, p_rows, g_slots, inp.codes, inp.view_idx, distance,
        top_k=top_k, probe_chunk=inp.probe_chunk, part_chunk=inp.part_chunk,
    )  # fmt: skip
    per_probe = {
        "rank1": hits_at(ranking, 1),
        "rank5": hits_at(ranking, 5),
        "map": average_precision(ranking),
        "minp": inverse_negative_penalty(ranking),
    }
    probe_set = np.concatenate([np.full(len(r), c) for c, r in cond_rows.items()]) if len(p_rows) else np.array([])
    notes = protocol_notes(inp.subject, inp.seq_type, inp.view)
    return _build(per_probe, probe_set, inp.view_idx[p_rows], gallery_counts, distance, notes, ranking, p_rows)


def metric_tables(
    values: np.ndarray, probe_views: np.ndarray, gallery_counts: np.ndarray, hits: bool, views: Sequence[str] = VIEWS
) -> np.ndarray:
    """The ``(V, V)`` table of one metric and probe set from per-probe values ``(P_c, V)`` (bool hits or float)."""
    nv = len(views)
    table = np.full((nv, nv), np.nan)
    for v1 in range(nv):
        at = values[probe_views == v1]
        if len(at) == 0:
            continue
        for v2 in range(nv):
            table[v1, v2] = cell_of_hits(at[:, v2]) if hits else cell_of_means(at[:, v2])
    table[:, np.asarray(gallery_counts) == 0] = np.nan
    return table


def _build(per_probe, probe_set, probe_views, gallery_counts, distance, notes, ranking, p_rows) -> RetrievalResult:
    views = tuple(VIEWS)
    conds = tuple(PROBE_SETS)
    index = pd.Index(views, name="probe_view")
    tables, excl, incl, s_excl, s_incl = {}, {}, {}, {}, {}
    for metric, values in per_probe.items():
        tables[metric], e_cols, i_cols, s_e, s_i = {}, {}, {}, {}, {}
        for cond in conds:
            mine = probe_set == cond
            table = metric_tables(values[mine], probe_views[mine], gallery_counts, hits=values.dtype == bool)
            tables[metric][cond] = pd.DataFrame(table, index=index, columns=pd.Index(views, name="gallery_view"))
            e, i = summarise_table(table)
            e_cols[cond], i_cols[cond], s_e[cond], s_i[cond] = e, i, mean_present(e), mean_present(i)
        tables[metric] = MappingProxyType(tables[metric])
        excl[metric] = pd.DataFrame(e_cols, index=index, columns=list(conds))
        incl[metric] = pd.DataFrame(i_cols, index=index, columns=list(conds))
        s_excl[metric], s_incl[metric] = MappingProxyType(s_e), MappingProxyType(s_i)
    counts = {c: np.bincount(probe_views[probe_set == c], minlength=len(views)) for c in conds}
    return RetrievalResult(
        distance=distance,
        probe_sets=conds,
        views=views,
        tables=MappingProxyType(tables),
        per_view_excl=MappingProxyType(excl),
        per_view_incl=MappingProxyType(incl),
        summary_excl=MappingProxyType(s_excl),
        summary_incl=MappingProxyType(s_incl),
        n_probes=pd.DataFrame(counts, index=index, columns=list(conds)),
        probe_rows=p_rows,
        probe_set=probe_set.astype(str),
        top_index=ranking.top_index,
        top_distance=ranking.top_distance,
        notes=tuple(notes),
        n_rechecked=ranking.n_rechecked,
    )


__all__ = [
    "EXTRA_METRICS",
    "METRICS",
    "METRIC_LABELS",
    "RetrievalResult",
    "average_precision",
    "evaluate_retrieval",
    "hits_at",
    "inverse_negative_penalty",
]
