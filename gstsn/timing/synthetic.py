"""A synthetic silhouette cache for timing: CASIA-B names and layout, random pixels.

Timing does not need gait-like content: no operation in the models, the sampler or the evaluation branches on pixel
values, so random silhouettes cost exactly what real ones of the same shapes cost. Frames are drawn already
bit-packed (the cache's storage format) so that building the cache takes well under a second at the CPU profile.

Subjects ``"001"`` .. ``f"{train + test:03d}"``, each with the full grid of 10 sequence types × 11 views; the first
``train_subjects`` feed the sampler (data loading), the rest are the test set of the evaluation phase.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gstsn.timing.profiles import TimingProfile


def synthetic_subjects(profile: TimingProfile) -> tuple[list[str], list[str]]:
    """``(train_subjects, test_subjects)`` ids of the synthetic cache of ``profile``."""
    n_train, n_test = profile.train_subjects, profile.test_subjects
    names = [f"{i:03d}" for i in range(1, n_train + n_test + 1)]
    return names[:n_train], names[n_train:]


def synthetic_index(profile: TimingProfile, seed: int = 0) -> pd.DataFrame:
    """The sequence table (subject, seq_type, view, start, length) of the synthetic cache; a pure function of its
    arguments. Train subjects' lengths are drawn from ``profile.train_lengths``, test subjects' from
    ``profile.test_lengths`` (inclusive)."""
    from gstsn.data.naming import full_grid

    train, test = synthetic_subjects(profile)
    rng = np.random.default_rng(seed)
    grid = full_grid(train + test)
    is_test = np.array([s in set(test) for s, _, _ in grid])
    lengths = np.where(
        is_test,
        rng.integers(profile.test_lengths[0], profile.test_lengths[1] + 1, size=len(grid)),
        rng.integers(profile.train_lengths[0], profile.train_lengths[1] + 1, size=len(grid)),
    ).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return pd.DataFrame(
        {
            "subject": [g[0] for g in grid],
            "seq_type": [g[1] for g in grid],
            "view": [g[2] for g in grid],
            "start": starts,
            "length": lengths,
        }
    )


def evaluation_set_shape(profile: TimingProfile, max_test_frames: int | None, seed: int = 0) -> tuple[int, int]:
    """``(sequences, mean frames per sequence after the cap)`` of the evaluation phase's test set."""
    index = synthetic_index(profile, seed)
    _, test = synthetic_subjects(profile)
    lengths = index.loc[index["subject"].isin(test), "length"].to_numpy()
    if max_test_frames is not None:
        lengths = np.minimum(lengths, max_test_frames)
    return int(lengths.size), int(round(float(lengths.mean())))


def write_synthetic_cache(dest: str | Path, profile: TimingProfile, height: int, width: int, seed: int = 0) -> Path:
    """Write the synthetic cache of ``profile`` with ``height``×``width`` frames at ``dest``; returns its path."""
    from gstsn.data.cache_format import packed_width
    from gstsn.data.cache_writer import write_packed_cache

    index = synthetic_index(profile, seed)
    n_frames = int(index["length"].sum())
    rng = np.random.default_rng(seed + 1)
    packed = rng.integers(0, 256, size=(n_frames, height, packed_width(width)), dtype=np.uint8)
    pad = packed_width(width) * 8 - width
    if pad:  # the format keeps the pad bits of the last byte of each row at zero
        packed[..., -1] &= np.uint8((0xFF << pad) & 0xFF)
    meta = {"source": f"gstsn.timing synthetic random silhouettes (profile {profile.name}, seed {seed}); timing only"}
    return write_packed_cache(dest, packed, width, index, meta, overwrite=True)


__all__ = [
    "synthetic_index",
    "synthetic_subjects",
    "evaluation_set_shape",
    "write_synthetic_cache",
]
