"""OpenGait's cross-view-gallery protocol on CASIA-B: rank-1 and mAP per probe view, exactly.

The protocol of OpenGait's ``cross_view_gallery_evaluation`` (Fan et al., "A Comprehensive Study on the Evaluation of
Silhouette-based Gait Recognition", 2022), written here from its definition:

- probe sets: NM = ``nm-01``, BG = ``bg-01``, CL = ``cl-01``, at every view;
- one gallery for all of them: ``nm-02``, ``bg-02``, ``cl-02`` at every view;
- from each probe's gallery the sequences of the probe's own subject *at the probe's own view* are removed, so a
  match must cross views (other subjects at that view stay);
- per probe: hit when the nearest remaining gallery sequence is of its subject; AP over the remaining sequences of its
  subject (``(sum_m m / (pos_m + 1)) / R``, as :func:`gstsn.eval.retrieval.average_precision`); a probe whose subject
  has none left counts as a miss and is left out of the mAP (``compute_ACC_mAP``);
- per probe view: ``round(100 * mean hit, 2)`` and ``round(100 * mean AP, 2)`` (OpenGait's arithmetic); each probe
  set's figure is the mean over probe views (a view without probes is left out and named in ``notes``).

Ranking: canonical float64 distances, ties in gallery input order (a stable argsort; OpenGait's ``np.argsort`` is not
stable, so its ties are unspecified). Computed by :func:`gstsn.eval.ranking.rank_relevant` like the other metrics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import torch

from gstsn.data.naming import VIEWS
from gstsn.eval.inputs import EvalInputs
from gstsn.eval.rank1_result import mean_present, same_floats
from gstsn.eval.ranking import rank_relevant
from gstsn.eval.retrieval import average_precision, cell_of_means, hits_at

#: probe sets of the cross-view protocol: name -> probe sequence types
CV_PROBE_SETS: Mapping[str, tuple[str, ...]] = MappingProxyType({"NM": ("nm-01",), "BG": ("bg-01",), "CL": ("cl-01",)})
#: the one gallery (all views)
CV_GALLERY_TYPES: tuple[str, ...] = ("nm-02", "bg-02", "cl-02")
CV_METRICS: tuple[str, ...] = ("cv_rank1", "cv_map")


@dataclass(frozen=True)
class CrossViewResult:
    """Cross-view-gallery rank-1 and mAP (percent).

    - ``per_view[metric]``: DataFrame (index probe view, columns probe sets), NaN = no probes there;
    - ``summary[metric]``: probe set -> mean over probe views; ``n_probes``: DataFrame (probe view x probe set);
    - ``notes``; ``n_rechecked`` (diagnostic, excluded from equality).
    """

    distance: str
    probe_sets: tuple[str, ...]
    views: tuple[str, ...]
    per_view: Mapping[str, pd.DataFrame]
    summary: Mapping[str, Mapping[str, float]]
    n_probes: pd.DataFrame
    notes: tuple[str, ...] = ()
    n_rechecked: int = field(default=0, compare=False)

    def same_numbers(self, other: CrossViewResult) -> bool:
        return (
            self.distance == other.distance
            and all(
                np.array_equal(self.per_view[m].to_numpy(), other.per_view[m].to_numpy(), equal_nan=True)
                for m in CV_METRICS
            )
            and all(same_floats(self.summary[m], other.summary[m]) for m in CV_METRICS)
        )

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows ``condition, probe_view, gallery_view, metric, value, distance``: ``cv_rank1`` / ``cv_map`` per
        probe view and their mean (``probe_view="mean"``), ``gallery_view="all"`` (the cross-view gallery)."""
        rows: list[dict[str, Any]] = []
        for metric in CV_METRICS:
            for cond in self.probe_sets:
                pairs = [(pv, self.per_view[metric].at[pv, cond]) for pv in self.views]
                for pv, value in [*pairs, ("mean", self.summary[metric][cond])]:
                    if not math.isnan(value):
                        rows.append(
                            {"condition": cond, "probe_view": pv, "gallery_view": "all", "metric": metric,
                             "value": float(value), "distance": self.distance}
                        )  # fmt: skip
        return rows


def evaluate_cross_view(
    features: np.ndarray | torch.Tensor,
    subject: Any,
    seq_type: Any,
    view: Any,
    distance: str = "per_part",
    device: torch.device | str | None = None,
    *,
    probe_chunk: int | None = None,
    part_chunk: int | None = None,
) -> CrossViewResult:
    """Cross-view-gallery rank-1 and mAP of ``features`` (see the module docstring).

    Arguments as :func:`gstsn.eval.protocol.evaluate_rank1`; rows of sequence types the protocol does not use
    (``nm-03``..``nm-06``, ``bg-02`` is gallery, ...) may be passed and are ignored. Raises
    :class:`gstsn.eval.protocol.ProtocolError` on bad input.
    """
    from gstsn.data.naming import SEQ_TYPES

    inp = EvalInputs.check(features, subject, seq_type, view, distance, device, probe_chunk, part_chunk, SEQ_TYPES)
    g_rows = np.flatnonzero(np.isin(inp.seq_type, CV_GALLERY_TYPES)).astype(np.int64)
    cond_rows = {c: np.flatnonzero(np.isin(inp.seq_type, t)).astype(np.int64) for c, t in CV_PROBE_SETS.items()}
    p_rows = np.concatenate(list(cond_rows.values()))
    ranking = rank_relevant(
        inp.x, p_rows, g_rows[None, :], inp.codes, inp.view_idx, distance,
        exclude_own_view=True, top_k=0, probe_chunk=inp.probe_chunk, part_chunk=inp.part_chunk,
    )  # fmt: skip
    hit = hits_at(ranking, 1)[:, 0]
    ap = average_precision(ranking)[:, 0]
    p_views = inp.view_idx[p_rows]
    conds = tuple(CV_PROBE_SETS)
    index = pd.Index(VIEWS, name="probe_view")
    acc = {c: np.full(len(VIEWS), np.nan) for c in conds}
    mean_ap = {c: np.full(len(VIEWS), np.nan) for c in conds}
    counts = {}
    at = 0
    notes = []
    for cond in conds:
        n = len(cond_rows[cond])
        h, a, pv = hit[at : at + n], ap[at : at + n], p_views[at : at + n]
        at += n
        counts[cond] = np.bincount(pv, minlength=len(VIEWS))
        for v in range(len(VIEWS)):
            mine = pv == v
            if mine.any():
                acc[cond][v] = float(np.round(np.mean(h[mine].astype(np.float64)) * 100, 2))
                mean_ap[cond][v] = cell_of_means(a[mine])
        empty = [VIEWS[v] for v in range(len(VIEWS)) if counts[cond][v] == 0]
        if empty:
            notes.append(
                f"cross-view {cond}: probe view(s) {', '.join(empty)} have no probe sequences "
                f"({'/'.join(CV_PROBE_SETS[cond])}): left out of the mean"
            )
    if len(p_rows) and len(g_rows) == 0:
        notes.append(f"cross-view: no gallery sequences ({'/'.join(CV_GALLERY_TYPES)}): every probe is a miss")
    unmatched = int(np.sum(ranking.n_relevant[:, 0] == 0))
    if unmatched:
        notes.append(
            f"cross-view: {unmatched} probe(s) have no gallery sequence of their subject at another view: misses, "
            "left out of the mAP (as OpenGait's compute_ACC_mAP)"
        )
    per_view = {
        "cv_rank1": pd.DataFrame(acc, index=index, columns=list(conds)),
        "cv_map": pd.DataFrame(mean_ap, index=index, columns=list(conds)),
    }
    summary = {m: MappingProxyType({c: mean_present(per_view[m][c].to_numpy()) for c in conds}) for m in CV_METRICS}
    return CrossViewResult(
        distance=distance,
        probe_sets=conds,
        views=tuple(VIEWS),
        per_view=MappingProxyType(per_view),
        summary=MappingProxyType(summary),
        n_probes=pd.DataFrame(counts, index=index, columns=list(conds)),
        notes=tuple(notes),
        n_rechecked=ranking.n_rechecked,
    )


__all__ = ["CV_GALLERY_TYPES", "CV_METRICS", "CV_PROBE_SETS", "CrossViewResult", "evaluate_cross_view"]
