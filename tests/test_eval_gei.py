"""The GEI baseline: mean silhouettes read in chunks through the cache API, scored by the shared protocol."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gstsn.data.cache import SilhouetteCache
from gstsn.data.cache_writer import write_cache
from gstsn.data.naming import SEQ_TYPES, VIEWS
from gstsn.eval.gei import GEIError, evaluate_gei, gei_features
from gstsn.eval.protocol import PROBE_SETS, evaluate_rank1


class FakeCache:
    """The slice of the cache API that gei_features uses, over in-memory frames (uint8 (F, H, W) in {0, 1})."""

    def __init__(self, frames: np.ndarray, index: pd.DataFrame) -> None:
        self._frames = frames
        self.index = index
        self.height, self.width = frames.shape[1:]
        self.frame_requests = 0

    def sequence(self, i: int) -> np.ndarray:
        s, n = int(self.index["start"].iat[i]), int(self.index["length"].iat[i])
        return self._frames[s : s + n]

    def frames(self, global_idx: np.ndarray) -> np.ndarray:
        self.frame_requests += 1
        return self._frames[np.asarray(global_idx)]


def make_dataset(n_subjects: int, rng: np.random.Generator, hw=(6, 5), noise=0.1, max_len=6):
    """Every (subject, type, view) of ``n_subjects``; each subject has its own silhouette pattern (plus noise)."""
    keys = sorted((f"{s:03d}", t, v) for s in range(1, n_subjects + 1) for t in SEQ_TYPES for v in VIEWS)
    lengths = rng.integers(1, max_len + 1, size=len(keys))
    patterns = {f"{s:03d}": rng.random(hw) < 0.5 for s in range(1, n_subjects + 1)}
    frames = np.concatenate(
        [patterns[k[0]][None] ^ (rng.random((n, *hw)) < noise) for k, n in zip(keys, lengths, strict=True)]
    ).astype(np.uint8)
    index = pd.DataFrame(
        {
            "subject": [k[0] for k in keys],
            "seq_type": [k[1] for k in keys],
            "view": [k[2] for k in keys],
            "start": np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64),
            "length": lengths.astype(np.int64),
        }
    )
    return frames, index


def direct_gei(cache, rows) -> np.ndarray:
    return np.stack([cache.sequence(int(i)).mean(axis=0).ravel() for i in rows]).astype(np.float32)[:, None, :]


@pytest.mark.parametrize("chunk", [1, 4, 23, 10**6])
def test_gei_is_the_mean_silhouette_whatever_the_chunk(chunk):
    frames, index = make_dataset(2, np.random.default_rng(0))
    cache = FakeCache(frames, index)
    rows = np.r_[np.arange(len(index))[::-3], 5, 5]  # any order, repeats allowed
    got = gei_features(cache, rows, chunk=chunk)
    assert got.dtype == np.float32 and got.shape == (len(rows), 1, 30)
    np.testing.assert_array_equal(got, direct_gei(cache, rows))
    assert cache.frame_requests == -(-int(index["length"].to_numpy()[rows].sum()) // chunk)


def test_gei_reads_a_real_cache(tmp_path):
    frames, index = make_dataset(2, np.random.default_rng(1), hw=(8, 11))
    cache = SilhouetteCache.open(write_cache(tmp_path / "c", frames, index, {"source": "test"}))
    np.testing.assert_array_equal(gei_features(cache, chunk=7), direct_gei(cache, range(len(cache))))


def test_gei_refuses_sequences_without_frames_and_bad_rows():
    frames, index = make_dataset(1, np.random.default_rng(2))
    index.loc[3, "length"] = 0
    cache = FakeCache(frames, index)
    with pytest.raises(GEIError, match=r"row 3 \(001/bg-01/054\) has no frames"):
        gei_features(cache, [2, 3])
    with pytest.raises(GEIError, match="rows must be in"):
        gei_features(cache, [len(index)])
    with pytest.raises(GEIError, match="chunk=0"):
        gei_features(cache, [0], chunk=0)
    assert gei_features(cache, []).shape == (0, 1, 30)


def test_evaluate_gei_runs_the_shared_protocol():
    frames, index = make_dataset(4, np.random.default_rng(3), noise=0.05)
    index.loc[(index.subject == "002") & (index.seq_type == "cl-01") & (index.view == "090"), "length"] = 0
    cache = FakeCache(frames, index)
    subjects = ["001", "002", "003"]
    res = evaluate_gei(cache, subjects, distance="flat", chunk=50)
    rows = np.flatnonzero(index.subject.isin(subjects) & (index.length > 0))
    sub = index.iloc[rows]
    direct = evaluate_rank1(gei_features(cache, rows), sub.subject, sub.seq_type, sub.view, distance="flat")
    assert res.same_numbers(direct) and res.distance == "flat"
    assert res.notes[0].startswith("GEI: 1 sequence(s) of the test subjects have no frames")
    # each subject's silhouettes share one pattern, so the GEI finds them at every view pair
    assert all(res.summary_excl[c] == 100.0 for c in PROBE_SETS)
    with pytest.raises(GEIError, match="none of the test subjects"):
        evaluate_gei(cache, ["999"])


@pytest.fixture(scope="module")
def real_cache(real_npz, tmp_path_factory):
    from gstsn.data.casiab import import_casia_b

    return SilhouetteCache.open(import_casia_b(real_npz, tmp_path_factory.mktemp("casia") / "c", progress=False))


@pytest.mark.real_data
@pytest.mark.slow
def test_gei_baseline_on_real_casia_b(real_cache):
    """LT test subjects 075-124: measured NM same-view 98.00, NM all-other-views 23.38, BG same-view 61.13,
    CL same-view 13.27 (import ~15 s, GEIs ~5-20 s, protocol a few seconds on 2 shared cores)."""
    test_subjects = [f"{i:03d}" for i in range(75, 125)]
    res = evaluate_gei(real_cache, test_subjects)

    def same_view(cond: str) -> float:
        return float(np.nanmean(np.diag(res.tables[cond].to_numpy())))

    assert same_view("NM") == pytest.approx(98.0, abs=1.5)
    assert res.summary_excl["NM"] == pytest.approx(23.0, abs=2.0)
    assert same_view("BG") == pytest.approx(61.0, abs=3.0)
    assert same_view("CL") == pytest.approx(13.0, abs=3.0)
    assert res.n_probes.sum().sum() == 3 * 50 * 2 * 11 - 2  # 079 bg-02 at 054 and 162 are missing
    assert int(res.n_gallery.sum()) == 50 * 4 * 11 - 13  # 088 (9) and 109 (4) lack some nm-01..04
