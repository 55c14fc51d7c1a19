"""The real compact CASIA-B copy (skipped when absent): info reports the holes; the import is bit-exact."""

from __future__ import annotations

import numpy as np
import pytest

from gstsn.cli import main
from gstsn.data.cache import SilhouetteCache
from gstsn.data.casiab import import_casia_b
from gstsn.data.sampling import TripletSampler, iter_test_batches
from gstsn.data.sources import dataset_info
from gstsn.data.splits import load_split


@pytest.mark.real_data
def test_real_info_reports_sequences_and_holes(real_npz, capsys):
    """Reads only the npz's small index members (well under a second)."""
    info = dataset_info(real_npz)
    assert info.n_sequences == 13_592 and info.n_frames == 1_117_083
    assert len(info.subjects) == 124
    assert len(info.missing) == 48 and len(info.short) == 20
    per_subject = {s: sum(1 for m in info.missing if m[0] == s) for s in {m[0] for m in info.missing}}
    assert per_subject == {"068": 11, "005": 10, "088": 9, "037": 6, "048": 5, "109": 4, "079": 2, "026": 1}
    assert info.packed_bytes == 1_117_083 * 64 * 6
    assert main(["data", "info", str(real_npz)]) == 0
    out = capsys.readouterr().out
    assert "sequences: 13,592" in out and "grid of the 124 subjects present): 48" in out
    assert "short sequences (< 5 frames): 20" in out


@pytest.mark.real_data
@pytest.mark.slow
def test_real_import_is_bit_exact(real_npz, tmp_path):
    """Full import (~10 s: LZMA decompression) compared byte for byte with np.load (another ~5-15 s)."""
    cache = SilhouetteCache.open(import_casia_b(real_npz, tmp_path / "casia", progress=False))
    assert len(cache) == 13_592 and len(cache.report["missing"]) == 48 and len(cache.report["short"]) == 20
    z = np.load(real_npz)
    assert np.array_equal(cache.starts, z["start"]) and np.array_equal(cache.lengths, z["length"])
    assert np.array_equal(cache.packed, z["frames"]), "packed rows are copied through unchanged"
    assert cache.verified_stamp() is not None, "the import stamps the cache it wrote"
    cache.verify()  # the full hash of 429 MB: ~0.5 s (docs/data.md)
    i = 1234
    expected = np.unpackbits(z["frames"][z["start"][i] : z["start"][i] + z["length"][i]], axis=-1)[..., :44]
    np.testing.assert_array_equal(cache.sequence(i), expected)
    split = load_split("LT", cache.index.subject.unique().tolist())
    assert split.mode == "fixed" and len(split.train) == 74
    sampler = TripletSampler(cache, split.train, 8, 16, 30, "set", np.random.default_rng(0))
    sils, labels = sampler.next_batch()
    assert sils.shape == (128, 30, 64, 44) and labels.max() <= 74
    frames, lens, rows = next(iter_test_batches(cache, cache.rows(subjects=split.test), 2000))
    assert frames.shape[0] == lens.sum() <= 2000
