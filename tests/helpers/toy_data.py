"""Small data for the training and evaluation tests.

- :func:`make_toy_cache`: a learnable toy silhouette cache (8 subjects, every CASIA-B sequence type, 3 views), with
  :data:`SUBJECTS`, :func:`toy_cfg` (the smoke profile at its size) and :func:`read_log` (a run's ``train_log.csv``);
- :func:`casia_layout` and :func:`with_ties`: labels in the CASIA-B layout and features with exact gallery ties, for
  the evaluation protocol's tests.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from gstsn.config import resolve_profile
from gstsn.data.cache import SilhouetteCache
from gstsn.data.cache_writer import write_cache
from gstsn.data.naming import SEQ_TYPES, VIEWS
from gstsn.eval.protocol import GALLERY_TYPES
from gstsn.results.files import TRAIN_LOG_FILE

SUBJECTS = [f"{i:03d}" for i in range(1, 9)]


def make_toy_cache(path: Path, n_subjects: int = 8, views=("000", "090", "180"), h: int = 32, w: int = 22):
    """Learnable toy gait data (sequence-table schema): per subject a 'body' rectangle of its own height, width and
    swing; the view shifts it, ``bg`` / ``cl`` widen it. 8–13 frames per sequence, all ten CASIA-B sequence types."""
    rng = np.random.default_rng(0)
    rows, chunks, start = [], [], 0
    for s in range(n_subjects):
        body_h, body_w, swing = 10 + (s * 5) % 14, 3 + (s * 3) % 6, 1 + s % 3
        for seq_type in SEQ_TYPES:
            extra = {"bg": 2, "cl": 1}.get(seq_type[:2], 0)
            for vi, view in enumerate(views):
                n = int(rng.integers(8, 14))
                frames = np.zeros((n, h, w), np.uint8)
                phase = int(rng.integers(0, 8))
                top = h - 2 - body_h
                for i in range(n):
                    x0 = 2 + vi * 3 + round(swing * np.sin((i + phase) * np.pi / 4))
                    frames[i, top : h - 2, x0 : x0 + body_w + extra] = 1
                    frames[i, top - 3 : top, x0 + 1 : x0 + 3] = 1
                chunks.append(frames)
                rows.append((f"{s + 1:03d}", seq_type, view, start, n))
                start += n
    index = pd.DataFrame(rows, columns=["subject", "seq_type", "view", "start", "length"])
    write_cache(path, np.concatenate(chunks), index, {"source": "toy data for the trainer tests"})
    return SilhouetteCache.open(path)


def toy_cfg(**overrides):
    """The smoke profile at the toy cache's size (32×22, downsampled 2), GSTSN, 4 iterations, a checkpoint every 2."""
    base = {"height": 32, "width": 22, "downsample": 2, "temporal": True, "iterations": 4, "checkpoint_every": 2}
    return resolve_profile("smoke", **{**base, **overrides})


def read_log(path: Path) -> list[dict[str, str]]:
    """The rows of the run folder ``path``'s ``train_log.csv``."""
    with (path / TRAIN_LOG_FILE).open(newline="") as fh:
        return list(csv.DictReader(fh))


def casia_layout(n_subjects: int, drop: float, rng: np.random.Generator):
    """Labels in the CASIA-B layout (subjects x 10 types x 11 views, sorted), with a share of sequences missing."""
    rows = [(f"{s:03d}", t, v) for s in range(1, n_subjects + 1) for t in sorted(SEQ_TYPES) for v in VIEWS]
    keep = rng.random(len(rows)) >= drop
    rows = [r for r, k in zip(rows, keep, strict=True) if k]
    return tuple(np.array([r[i] for r in rows]) for i in range(3))


def with_ties(features: np.ndarray, seq_type: np.ndarray, view: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Copy some gallery features onto other gallery sequences at the same view (other subjects): exact ties."""
    feats = features.copy()
    gal = np.flatnonzero(np.isin(seq_type, GALLERY_TYPES))
    for v in VIEWS:
        at = gal[view[gal] == v]
        if len(at) >= 2:
            src, dst = rng.choice(at, size=2, replace=False)
            feats[max(src, dst)] = feats[min(src, dst)]  # the later copy must lose the tie
    return feats
