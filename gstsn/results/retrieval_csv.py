"""``retrieval.csv``: a run's rank-5 / mAP / mINP tables (standard protocol) and its cross-view-gallery numbers, one
row per value, written by the ablation runner beside ``train_log.csv`` (:mod:`gstsn.ablate.execute`).

Columns :data:`RETRIEVAL_COLUMNS`: ``protocol`` (``standard``: ``rank5`` / ``map`` / ``minp`` per 11×11 cell;
``cross_view``: ``cv_rank1`` / ``cv_map`` per probe view, ``gallery_view`` ``all``), ``distance``, ``metric``,
``condition``, ``probe_view``, ``gallery_view``, ``value`` (a float written with ``repr``: every digit kept).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gstsn.atomic import atomic_write_text

RETRIEVAL_COLUMNS = ("protocol", "distance", "metric", "condition", "probe_view", "gallery_view", "value")
STANDARD = "standard"  # protocol of the 11×11 tables
CROSS_VIEW = "cross_view"  # protocol of the cross-view gallery
ALL_VIEWS = "all"  # gallery_view of a cross-view row


def retrieval_csv_text(rows: Sequence[Sequence[Any]]) -> str:
    """The file's text: the header, then one line per row (``RETRIEVAL_COLUMNS`` order)."""
    lines = [",".join(RETRIEVAL_COLUMNS)]
    lines += [",".join(repr(v) if isinstance(v, float) else str(v) for v in row) for row in rows]
    return "\n".join(lines) + "\n"


def write_retrieval_csv(path: Path, rows: Sequence[Sequence[Any]]) -> None:
    """Write ``retrieval.csv`` atomically."""
    atomic_write_text(path, retrieval_csv_text(rows))


__all__ = ["ALL_VIEWS", "CROSS_VIEW", "RETRIEVAL_COLUMNS", "STANDARD", "retrieval_csv_text", "write_retrieval_csv"]
