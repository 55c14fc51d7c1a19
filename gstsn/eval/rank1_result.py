"""The rank-1 protocol's result (:class:`Rank1Result`: the 11×11 tables per probe set, their summaries, notes) and
how it is built from the nearest-subject tables."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from gstsn.data.naming import VIEWS
from gstsn.eval.sets import GALLERY_TYPES, PROBE_SETS

#: the metric names used in :meth:`Rank1Result.to_rows`
METRIC_CELL = "rank1"
METRIC_EXCL = "rank1_excl_identical"
METRIC_INCL = "rank1_incl_identical"
METRIC_N_PROBES = "n_probes"


# ---------------------------------------------------------------------------------------------------------- result
@dataclass(frozen=True)
class Rank1Result:
    """Rank-1 accuracies (percent) of one set of features under the CASIA-B protocol.

    - ``tables``: probe set -> DataFrame (index: probe view, columns: gallery view), 11 x 11; NaN = cell left out
      (no probe or no gallery sequences there; see ``notes``).
    - ``per_view_excl`` / ``per_view_incl``: DataFrame (index: probe view, columns: probe sets): each probe view's row
      mean over the other gallery views (identical view excluded) / over all gallery views.
    - ``summary_excl`` (the main figure) / ``summary_incl``: probe set -> mean of the per-view numbers.
    - ``n_probes``: DataFrame (probe view x probe set) of probe sequence counts; ``n_gallery``: Series per view.
    - ``distance``: ``per_part`` or ``flat``; ``notes``: what was left out or cannot be matched, in words.
    - ``n_rechecked``: (probe, gallery view) pairs whose near-tied candidates were recomputed in float64 (a
      diagnostic that depends on the device and rounding; excluded from equality).
    """

    distance: str
    probe_sets: tuple[str, ...]
    views: tuple[str, ...]
    tables: Mapping[str, pd.DataFrame]
    per_view_excl: pd.DataFrame
    per_view_incl: pd.DataFrame
    summary_excl: Mapping[str, float]
    summary_incl: Mapping[str, float]
    n_probes: pd.DataFrame
    n_gallery: pd.Series
    notes: tuple[str, ...] = ()
    n_rechecked: int = field(default=0, compare=False)

    @property
    def summary(self) -> Mapping[str, float]:
        """The main figure per probe set: identical views excluded."""
        return self.summary_excl

    def same_numbers(self, other: Rank1Result) -> bool:
        """True when every table cell, per-view number and summary is identical (NaN equals NaN)."""

        def eq(a: pd.DataFrame | pd.Series, b: pd.DataFrame | pd.Series) -> bool:
            return a.shape == b.shape and bool(np.array_equal(a.to_numpy(), b.to_numpy(), equal_nan=True))

        return (
            self.distance == other.distance
            and self.probe_sets == other.probe_sets
            and all(eq(self.tables[c], other.tables[c]) for c in self.probe_sets)
            and eq(self.per_view_excl, other.per_view_excl)
            and eq(self.per_view_incl, other.per_view_incl)
            and same_floats(self.summary_excl, other.summary_excl)
            and same_floats(self.summary_incl, other.summary_incl)
        )

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows ``condition, probe_view, gallery_view, metric, value, distance``.

        - ``rank1``: one row per table cell that is not left out;
        - ``rank1_excl_identical`` / ``rank1_incl_identical``: per probe view (``gallery_view="all"``) and the probe
          set's mean (``probe_view="mean"``);
        - ``n_probes``: probe sequences per probe view (``gallery_view="all"``).
        Left-out (NaN) numbers produce no row; ``notes`` says why.
        """
        rows: list[dict[str, Any]] = []

        def add(cond: str, pv: str, gv: str, metric: str, value: float) -> None:
            if not math.isnan(value):
                rows.append(
                    {
                        "condition": cond,
                        "probe_view": pv,
                        "gallery_view": gv,
                        "metric": metric,
                        "value": float(value),
                        "distance": self.distance,
                    }
                )

        for cond in self.probe_sets:
            table = self.tables[cond]
            for pv in self.views:
                for gv in self.views:
                    add(cond, pv, gv, METRIC_CELL, table.at[pv, gv])
            for metric, per_view, summary in (
                (METRIC_EXCL, self.per_view_excl, self.summary_excl),
                (METRIC_INCL, self.per_view_incl, self.summary_incl),
            ):
                for pv in self.views:
                    add(cond, pv, "all", metric, per_view.at[pv, cond])
                add(cond, "mean", "all", metric, summary[cond])
            for pv in self.views:
                add(cond, pv, "all", METRIC_N_PROBES, float(self.n_probes.at[pv, cond]))
        return rows


def same_floats(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    return a.keys() == b.keys() and all((a[k] == b[k]) or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


# ------------------------------------------------------------------------------------------------------- tables
def summarise_table(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-probe-view means of an ``(V, V)`` table, NaN cells left out: ``(excl, incl)``, each ``(V,)``.

    With every cell present ``excl`` equals OpenGait's ``de_diag`` bit for bit (``sum(row with the diagonal zeroed)
    / (V - 1)``); a row without any cell is NaN.
    """
    valid = ~np.isnan(table)
    off = valid & ~np.eye(len(table), dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        excl = np.sum(np.where(off, table, 0.0), axis=1) / off.sum(axis=1)
        incl = np.sum(np.where(valid, table, 0.0), axis=1) / valid.sum(axis=1)
    return excl, incl


def mean_present(values: np.ndarray) -> float:
    present = values[~np.isnan(values)]
    return float(np.mean(present)) if present.size else math.nan


def build_result(
    correct: Mapping[str, np.ndarray],
    probe_views: Mapping[str, np.ndarray],
    gallery_counts: np.ndarray,
    distance: str,
    views: Sequence[str] = VIEWS,
    notes: Sequence[str] = (),
    n_rechecked: int = 0,
) -> Rank1Result:
    """Assemble a :class:`Rank1Result` from per-probe correctness.

    ``correct[c]``: bool ``(P_c, V)``, whether probe ``i`` of probe set ``c`` is matched correctly at gallery view
    ``j``; ``probe_views[c]``: int ``(P_c,)`` view index of each probe; ``gallery_counts``: int ``(V,)`` gallery
    sequences per view (a view without any leaves its column out). Shared by the fast path and the tests' reference.
    """
    views = tuple(views)
    nv = len(views)
    tables, excl, incl, counts = {}, {}, {}, {}
    summary_excl, summary_incl = {}, {}
    for cond, ok in correct.items():
        table = np.full((nv, nv), np.nan)
        n = np.bincount(probe_views[cond], minlength=nv)
        for v1 in range(nv):
            if n[v1] == 0:
                continue
            hits = np.sum(ok[probe_views[cond] == v1], 0)
            table[v1] = np.round(hits * 100 / n[v1], 2)  # OpenGait's arithmetic
        table[:, np.asarray(gallery_counts) == 0] = np.nan
        e, i = summarise_table(table)
        tables[cond] = pd.DataFrame(
            table, index=pd.Index(views, name="probe_view"), columns=pd.Index(views, name="gallery_view")
        )
        excl[cond], incl[cond], counts[cond] = e, i, n
        summary_excl[cond], summary_incl[cond] = mean_present(e), mean_present(i)
    index = pd.Index(views, name="probe_view")
    conds = tuple(correct)
    return Rank1Result(
        distance=distance,
        probe_sets=conds,
        views=views,
        tables=MappingProxyType(tables),
        per_view_excl=pd.DataFrame(excl, index=index, columns=list(conds)),
        per_view_incl=pd.DataFrame(incl, index=index, columns=list(conds)),
        summary_excl=MappingProxyType(summary_excl),
        summary_incl=MappingProxyType(summary_incl),
        n_probes=pd.DataFrame(counts, index=index, columns=list(conds)),
        n_gallery=pd.Series(np.asarray(gallery_counts, dtype=np.int64), index=pd.Index(views, name="gallery_view")),
        notes=tuple(notes),
        n_rechecked=n_rechecked,
    )


def protocol_notes(
    subject: np.ndarray,
    seq_type: np.ndarray,
    view: np.ndarray,
    views: Sequence[str] = VIEWS,
    gallery_types: Sequence[str] = GALLERY_TYPES,
    probe_sets: Mapping[str, Sequence[str]] = PROBE_SETS,
) -> list[str]:
    """Plain-language notes on cells left out and probes that cannot be matched (missing gallery sequences)."""
    notes = []
    is_gal = np.isin(seq_type, gallery_types)
    empty_g = [v for v in views if not np.any(is_gal & (view == v))]
    if empty_g:
        notes.append(
            f"gallery view(s) {', '.join(empty_g)} have no gallery sequences ({'/'.join(gallery_types)}): "
            "their columns are left out (NaN) in every table"
        )
    for cond, types in probe_sets.items():
        is_p = np.isin(seq_type, types)
        empty_p = [v for v in views if not np.any(is_p & (view == v))]
        if empty_p:
            notes.append(
                f"{cond}: probe view(s) {', '.join(empty_p)} have no probe sequences ({'/'.join(types)}): "
                "their rows are left out (NaN) and the mean is over the remaining probe views"
            )
    gal_pairs = set(zip(subject[is_gal].astype(str), view[is_gal].astype(str), strict=True))
    is_probe = np.isin(seq_type, [t for types in probe_sets.values() for t in types])
    probe_subjects = sorted(set(subject[is_probe].astype(str)))
    lacking = {}
    for s in probe_subjects:
        miss = [v for v in views if v not in empty_g and (s, v) not in gal_pairs]
        if miss:
            lacking[s] = miss
    if lacking:
        listed = "; ".join(f"{s} at {', '.join(v)}" for s, v in sorted(lacking.items()))
        notes.append(
            f"subject(s) without a gallery sequence at some gallery view: {listed}; their probes still count there "
            "and are misses (they cannot be matched), as in OpenGait's evaluator"
        )
    return notes


__all__ = [
    "METRIC_CELL",
    "METRIC_EXCL",
    "METRIC_INCL",
    "METRIC_N_PROBES",
    "Rank1Result",
    "build_result",
    "mean_present",
    "protocol_notes",
    "same_floats",
    "summarise_table",
]
