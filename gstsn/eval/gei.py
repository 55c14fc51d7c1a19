"""The non-learned baseline: gait energy images (the mean silhouette of a sequence) and nearest neighbour.

``gei_features`` reads the frames through the cache API (``cache.index`` with ``start`` / ``length``,
``cache.frames(global_idx)``) a chunk at a time, so the whole dataset is never unpacked at once; ``evaluate_gei``
runs the features through the same protocol code as the learned models (:func:`gstsn.eval.protocol.evaluate_rank1`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np
import torch

from gstsn.eval.protocol import GALLERY_TYPES, PROBE_SETS, Rank1Result, evaluate_rank1

#: frames unpacked per step by default (64 x 44 frames: ~46 MB of uint8)
DEFAULT_CHUNK_FRAMES = 16_384


class GEIError(ValueError):
    """Bad input to the GEI baseline; the message names the row / argument and what was expected."""


class FrameSource(Protocol):
    """What ``gei_features`` needs of a dataset (``gstsn.data.cache.SilhouetteCache`` has it)."""

    index: Any  # DataFrame with int columns ``start`` and ``length`` (and subject / seq_type / view)
    height: int
    width: int

    def frames(self, global_idx: np.ndarray) -> np.ndarray: ...


def gei_features(
    cache: FrameSource, rows: Iterable[int] | None = None, chunk: int = DEFAULT_CHUNK_FRAMES
) -> np.ndarray:
    """Gait energy images of ``rows`` (default: every sequence), in the order given.

    Returns float32 ``(len(rows), 1, H * W)``: each sequence's frames ({0, 1}) averaged over time, flattened (one
    "part", so ``per_part`` and ``flat`` distances coincide). Frames are read ``chunk`` at a time through
    ``cache.frames``; a sequence may span chunks. Raises :class:`GEIError` for a row without frames or out of range.
    """
    if int(chunk) < 1:
        raise GEIError(f"chunk={chunk!r}; expected a positive number of frames")
    index = cache.index
    n_seq = len(index)
    rows = np.arange(n_seq, dtype=np.int64) if rows is None else np.asarray(list(rows), dtype=np.int64).reshape(-1)
    if rows.size and (rows.min() < -n_seq or rows.max() >= n_seq):
        raise GEIError(f"rows must be in [0, {n_seq}); got {rows.min()}..{rows.max()}")
    rows = rows % max(1, n_seq)
    starts = index["start"].to_numpy(dtype=np.int64)[rows]
    lengths = index["length"].to_numpy(dtype=np.int64)[rows]
    if np.any(lengths < 1):
        bad = int(rows[np.flatnonzero(lengths < 1)[0]])
        key = "/".join(str(index[c].iloc[bad]) for c in ("subject", "seq_type", "view") if c in index)
        raise GEIError(f"sequence row {bad} ({key}) has no frames; a GEI needs at least one (leave such rows out)")
    hw = int(cache.height) * int(cache.width)
    sums = np.zeros((len(rows), hw), dtype=np.uint32)
    ends = np.cumsum(lengths)  # position of each sequence's end in the virtual concatenation of all their frames
    total = int(ends[-1]) if len(ends) else 0
    for a in range(0, total, int(chunk)):
        b = min(total, a + int(chunk))
        r0 = int(np.searchsorted(ends, a, side="right"))  # first sequence with frames in [a, b)
        r1 = int(np.searchsorted(ends, b, side="left")) + 1  # one past the last
        seg_start = np.maximum(ends[r0:r1] - lengths[r0:r1], a)
        seg_len = np.minimum(ends[r0:r1], b) - seg_start
        owner = np.repeat(np.arange(r0, r1), seg_len)
        pos = np.arange(a, b, dtype=np.int64)
        global_idx = starts[owner] + (pos - (ends[owner] - lengths[owner]))
        frames = np.asarray(cache.frames(global_idx)).reshape(b - a, hw)
        offsets = np.concatenate([[0], np.cumsum(seg_len)[:-1]])
        sums[r0:r1] += np.add.reduceat(frames, offsets, axis=0, dtype=np.uint32)
    return (sums / lengths[:, None]).astype(np.float32)[:, None, :]


def evaluate_gei(
    cache: FrameSource,
    test_subjects: Iterable[str],
    distance: str = "per_part",
    device: torch.device | str | None = None,
    chunk: int = DEFAULT_CHUNK_FRAMES,
) -> Rank1Result:
    """Rank-1 of the GEI baseline on ``test_subjects`` under the CASIA-B protocol (same code as the models).

    Uses every gallery / probe sequence of those subjects that has frames; sequences without frames are left out
    (missing), and the result's notes say how many.
    """
    wanted = {str(s) for s in test_subjects}
    index = cache.index
    types = list(GALLERY_TYPES) + [t for ts in PROBE_SETS.values() for t in ts]
    mine = index["subject"].astype(str).isin(wanted).to_numpy() & index["seq_type"].isin(types).to_numpy()
    if not mine.any():
        raise GEIError(f"none of the test subjects {sorted(wanted)[:3]}... has gallery or probe sequences here")
    has_frames = index["length"].to_numpy() >= 1
    rows = np.flatnonzero(mine & has_frames)
    feats = gei_features(cache, rows, chunk=chunk)
    sub = index.iloc[rows]
    result = evaluate_rank1(
        feats,
        sub["subject"].astype(str).to_numpy(),
        sub["seq_type"].to_numpy(),
        sub["view"].to_numpy(),
        distance=distance,
        device=device,
    )
    empty = int((mine & ~has_frames).sum())
    if empty:
        note = f"GEI: {empty} sequence(s) of the test subjects have no frames and are left out (missing)"
        result = dataclasses.replace(result, notes=(note, *result.notes))
    return result


__all__ = ["DEFAULT_CHUNK_FRAMES", "FrameSource", "GEIError", "evaluate_gei", "gei_features"]
