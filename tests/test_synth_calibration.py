"""Difficulty calibration of the synthetic dataset, pinned with the non-learned baseline: gait energy image (mean
silhouette of each sequence) + nearest neighbour under the CASIA-B protocol (gallery nm-01..04; probes NM = nm-05/06,
BG = bg-01/02, CL = cl-01/02; Euclidean distance).

On real CASIA-B (LT test subjects 075-124) this baseline gives 98.0 % same-view NM, 23.4 % cross-view NM (identical
views excluded), 61.1 % same-view BG and 13.3 % same-view CL. The synthetic data must be as hard in the same ways:
same view easy, cross view hard, bag and coat clearly harder than normal walking. A dataset that any model solves
perfectly would be useless for ablations.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from gstsn.data.naming import VIEWS
from gstsn.data.synth import SynthConfig, SynthDataset, generate

GALLERY = ("nm-01", "nm-02", "nm-03", "nm-04")
PROBES = {"NM": ("nm-05", "nm-06"), "BG": ("bg-01", "bg-02"), "CL": ("cl-01", "cl-02")}


def gei_rank1(ds: SynthDataset) -> dict[str, np.ndarray]:
    """11 x 11 rank-1 tables (percent; rows: probe view, columns: gallery view) of GEI + 1-NN per probe set."""
    idx = ds.index
    flat = ds.frames.reshape(len(ds.frames), -1)
    gei = np.add.reduceat(flat, idx.start.to_numpy(), axis=0, dtype=np.float64) / idx.length.to_numpy()[:, None]
    sq = (gei**2).sum(axis=1)
    subject, seq_type, view = (idx[c].to_numpy() for c in ("subject", "seq_type", "view"))
    gallery = np.isin(seq_type, GALLERY)
    tables = {}
    for name, types in PROBES.items():
        probe = np.isin(seq_type, types)
        table = np.zeros((len(VIEWS), len(VIEWS)))
        for i, v1 in enumerate(VIEWS):
            p = np.flatnonzero(probe & (view == v1))
            for j, v2 in enumerate(VIEWS):
                g = np.flatnonzero(gallery & (view == v2))
                dist = sq[p, None] + sq[None, g] - 2.0 * gei[p] @ gei[g].T  # squared Euclidean distances
                table[i, j] = 100.0 * np.mean(subject[g[np.argmin(dist, axis=1)]] == subject[p])
        tables[name] = table
    return tables


def summary(tables: dict[str, np.ndarray]) -> dict[str, float]:
    """Same-view (diagonal mean) and cross-view (each probe view's row without the identical view, then the mean
    over probe views) accuracy per probe set."""
    out = {}
    for name, t in tables.items():
        n = len(t)
        out[f"{name}_same"] = float(np.mean(np.diag(t)))
        out[f"{name}_cross"] = float(np.mean((t.sum(axis=1) - np.diag(t)) / (n - 1)))
    return out


def test_gei_rank1_helper_on_a_hand_made_case():
    """Two subjects whose frames are constant images: subject 2's probes at view 000 are closer to subject 1's
    gallery, everything else matches its own subject."""
    import pandas as pd

    rows, frames = [], []
    for s, base in (("001", 0.0), ("002", 1.0)):
        for t in GALLERY + ("nm-05", "nm-06", "bg-01", "bg-02", "cl-01", "cl-02"):
            for v in VIEWS:
                value = base
                if s == "002" and t in ("nm-05", "nm-06") and v == "000":
                    value = 0.1  # looks like subject 001
                rows.append((s, t, v, len(frames), 1))
                frames.append(np.full((2, 2), value))
    index = pd.DataFrame(rows, columns=["subject", "seq_type", "view", "start", "length"])
    ds = SynthDataset(frames=np.stack(frames), index=index)
    tables = gei_rank1(ds)
    assert tables["BG"].min() == 100.0 and tables["CL"].min() == 100.0
    assert (tables["NM"][0] == 50.0).all() and (tables["NM"][1:] == 100.0).all()
    s = summary(tables)
    assert s["NM_same"] == pytest.approx(100 - 50 / 11) and s["NM_cross"] == pytest.approx(100 - 50 / 11)


def _check_difficulty(s: dict[str, float]) -> None:
    assert s["NM_same"] >= 90.0, s  # same-view normal walking: easy (real CASIA-B 98 %)
    assert 10.0 <= s["NM_cross"] <= 50.0, s  # cross-view: hard, but not hopeless (real 23 %)
    assert s["BG_same"] <= s["NM_same"] - 15.0, s  # carrying a bag: clearly harder (real 61 %)
    assert s["CL_same"] <= s["NM_same"] - 40.0, s  # wearing a coat: much harder (real 13 %)
    assert s["CL_same"] < s["BG_same"], s
    assert s["BG_same"] >= 30.0 and s["CL_same"] >= 5.0, s  # harder, not destroyed


def test_difficulty_reduced_dataset():
    """20 subjects, 30-40 frames (about 10 s to generate): the calibration holds on a smaller gallery too."""
    ds = generate(SynthConfig(subjects=20, frames_min=30, frames_max=40))
    _check_difficulty(summary(gei_rank1(ds)))


@pytest.mark.slow
def test_difficulty_and_speed_default_dataset():
    """The default dataset (50 subjects): calibrated, and generated in well under a minute on an idle machine
    (allowed 120 s here because the CPUs are shared)."""
    t0 = time.perf_counter()
    ds = generate(SynthConfig())
    seconds = time.perf_counter() - t0
    s = summary(gei_rank1(ds))
    print(f"default synthetic dataset: {len(ds.frames)} frames in {seconds:.1f} s; GEI rank-1 {s}")
    _check_difficulty(s)
    assert seconds < 120.0
