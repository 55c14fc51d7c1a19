"""Difficulty calibration of the synthetic dataset, pinned with the non-learned baseline: gait energy image (mean
silhouette of each sequence) + nearest neighbour under the CASIA-B protocol of :mod:`gstsn.eval.protocol` (gallery
nm-01..04; probes NM = nm-05/06, BG = bg-01/02, CL = cl-01/02; Euclidean distance).

On real CASIA-B (LT test subjects 075-124) this baseline gives 98.0 % same-view NM, 23.4 % cross-view NM (identical
views excluded), 61.1 % same-view BG and 13.3 % same-view CL. The synthetic data must be as hard in the same ways:
same view easy, cross view hard, bag and coat clearly harder than normal walking. A dataset that any model solves
perfectly would be useless for ablations.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from gstsn.data.synth import SynthConfig, SynthDataset, generate
from gstsn.eval.protocol import evaluate_rank1


def gei_summary(ds: SynthDataset) -> dict[str, float]:
    """GEI features (mean silhouette per sequence, one part) through the project's rank-1 protocol: same-view
    accuracy (mean of each table's diagonal) and cross-view accuracy (identical views excluded) per probe set."""
    idx = ds.index
    flat = ds.frames.reshape(len(ds.frames), -1)
    gei = np.add.reduceat(flat, idx.start.to_numpy(), axis=0, dtype=np.float64) / idx.length.to_numpy()[:, None]
    result = evaluate_rank1(
        gei[:, None, :].astype(np.float32), idx.subject.to_numpy(), idx.seq_type.to_numpy(), idx.view.to_numpy()
    )
    out = {}
    for name, table in result.tables.items():
        out[f"{name}_same"] = float(np.mean(np.diag(table.to_numpy())))
        out[f"{name}_cross"] = float(result.summary_excl[name])
    return out


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
    _check_difficulty(gei_summary(ds))


@pytest.mark.slow
def test_difficulty_default_dataset():
    """The default dataset (50 subjects) is calibrated. Its generation time is printed, not judged (well under a
    minute on an idle machine; a test's verdict never depends on how fast the machine is)."""
    t0 = time.perf_counter()
    ds = generate(SynthConfig())
    seconds = time.perf_counter() - t0
    s = gei_summary(ds)
    print(f"default synthetic dataset: {len(ds.frames)} frames in {seconds:.1f} s; GEI rank-1 {s}")
    _check_difficulty(s)
