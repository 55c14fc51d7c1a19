"""The CASIA-B protocol's gallery and probe sets (``shared/spec/protocol.md``), keyed by ``gstsn.config.CONDITIONS``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from gstsn.config import CONDITIONS, VIEWS

#: gallery sequence types (every probe set is matched against these)
GALLERY_TYPES: tuple[str, ...] = ("nm-01", "nm-02", "nm-03", "nm-04")
#: probe sets: name -> probe sequence types
PROBE_SETS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    dict(zip(CONDITIONS, (("nm-05", "nm-06"), ("bg-01", "bg-02"), ("cl-01", "cl-02")), strict=True))
)  # keyed by gstsn.config.CONDITIONS, in its order

#: every sequence type of the standard protocol (gallery, then the probe sets')
STANDARD_TYPES: tuple[str, ...] = (*GALLERY_TYPES, *(t for types in PROBE_SETS.values() for t in types))


@dataclass(frozen=True)
class StandardLayout:
    """Rows of the standard protocol: ``g_slots`` ``(views, width)`` gallery rows per view in input order (``-1``
    padding; ties go to the first), ``gallery_counts`` per view, ``cond_rows`` probe rows per probe set and ``p_rows``
    all probe rows, probe sets in order."""

    g_slots: np.ndarray
    gallery_counts: np.ndarray
    cond_rows: dict[str, np.ndarray]
    p_rows: np.ndarray


def standard_layout(seq_type: np.ndarray, view_idx: np.ndarray) -> StandardLayout:
    g_rows = np.flatnonzero(np.isin(seq_type, GALLERY_TYPES))
    gallery_counts = np.bincount(view_idx[g_rows], minlength=len(VIEWS))
    g_slots = np.full((len(VIEWS), int(gallery_counts.max(initial=0))), -1, dtype=np.int64)
    for v in range(len(VIEWS)):
        at_v = g_rows[view_idx[g_rows] == v]  # input order: ties go to the first
        g_slots[v, : len(at_v)] = at_v
    cond_rows = {c: np.flatnonzero(np.isin(seq_type, types)) for c, types in PROBE_SETS.items()}
    p_rows = np.concatenate(list(cond_rows.values())).astype(np.int64)
    return StandardLayout(g_slots, gallery_counts, cond_rows, p_rows)


__all__ = ["GALLERY_TYPES", "PROBE_SETS", "STANDARD_TYPES", "StandardLayout", "standard_layout"]
