"""P×K triplet batches, set vs sequence frames, looping, resume, and test batches with every frame in order."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from gstsn.data.cache import SilhouetteCache
from gstsn.data.cache_writer import write_cache
from gstsn.data.naming import SEQ_TYPES, VIEWS
from gstsn.data.sampling import SamplingError, TripletSampler, iter_test_batches

H, W = 8, 40
BITS = 1 << np.arange(31, -1, -1, dtype=np.int64)


def _encoded_cache(tmp_path, lengths_by_subject: dict[str, list[int]]) -> SilhouetteCache:
    """A cache whose frame g carries g in its first row's 32 bits (so a batch reveals exactly which frames it holds)."""
    keys, lengths = [], []
    for subject, lens in lengths_by_subject.items():
        for i, n in enumerate(lens):
            keys.append((subject, SEQ_TYPES[i // 11], VIEWS[i % 11]))
            lengths.append(n)
    total = sum(lengths)
    frames = np.zeros((total, H, W), np.uint8)
    frames[:, 0, :32] = (np.arange(total)[:, None] & BITS[None, :]) > 0
    frames[:, 1:, :] = 1  # never blank
    index = pd.DataFrame(keys, columns=["subject", "seq_type", "view"])
    index["start"] = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    index["length"] = np.asarray(lengths, dtype=np.int64)
    return SilhouetteCache.open(write_cache(tmp_path / "cache", frames, index))


def _ids(sils: np.ndarray) -> np.ndarray:
    """Global frame ids encoded in frames (..., H, W)."""
    return (sils[..., 0, :32].astype(np.int64) * BITS).sum(-1)


def _row_of(cache: SilhouetteCache, frame_ids: np.ndarray) -> np.ndarray:
    return np.searchsorted(cache.starts + cache.lengths, frame_ids, side="right")


@pytest.fixture
def cache(tmp_path):
    rng = np.random.default_rng(0)
    subjects = {f"{s:03d}": rng.integers(3, 60, size=12).tolist() for s in range(1, 11)}
    subjects["003"][0] = 0  # an empty sequence: never sampled
    subjects["011"] = [2, 7]  # fewer than k sequences: sampled with replacement
    subjects["012"] = [0, 0]  # no usable sequence: the subject is dropped
    return _encoded_cache(tmp_path, subjects)


def test_pxk_composition(cache):
    subjects = [f"{s:03d}" for s in range(1, 13)]
    sampler = TripletSampler(cache, subjects, p=4, k=5, frames=10, input_type="set", rng=np.random.default_rng(1))
    assert sampler.dropped_subjects == ["012"]
    for _ in range(20):
        sils, labels = sampler.next_batch()
        assert sils.shape == (20, 10, H, W) and sils.dtype == np.uint8 and sils.max() == 1
        assert labels.dtype == np.int64 and labels.shape == (20,)
        groups = labels.reshape(4, 5)
        assert (groups == groups[:, :1]).all() and len(set(groups[:, 0])) == 4, "P distinct subjects, K each"
        rows = _row_of(cache, _ids(sils))
        assert (rows == rows[:, :1]).all(), "each sample's frames come from one sequence"
        assert (cache.index.subject.to_numpy()[rows[:, 0]].astype(int) == labels).all()
        assert (cache.lengths[rows[:, 0]] >= 1).all()
        for g in range(4):
            seqs = rows[g * 5 : (g + 1) * 5, 0]
            if labels[g * 5] != 11:
                assert len(set(seqs)) == 5, "K distinct sequences when the subject has at least K"


def test_short_subject_sampled_with_replacement(cache):
    sampler = TripletSampler(cache, ["011", "001"], p=2, k=6, frames=4, input_type="set", rng=np.random.default_rng(2))
    rows, _, labels = sampler.sample_indices()
    mine = rows[labels == 11]
    assert len(mine) == 6 and set(cache.index.subject.to_numpy()[mine]) == {"011"} and len(set(mine)) <= 2


def test_set_sampling_without_replacement_when_long_enough(cache):
    sampler = TripletSampler(
        cache, list(cache.index.subject.unique()[:10]), 3, 4, frames=30, input_type="set", rng=np.random.default_rng(3)
    )
    seen_unordered = False
    for _ in range(10):
        rows, frame_ids, _ = sampler.sample_indices()
        for r, ids in zip(rows, frame_ids, strict=True):
            n = cache.lengths[r]
            assert ((ids >= cache.starts[r]) & (ids < cache.starts[r] + n)).all()
            if n >= 30:
                assert len(set(ids)) == 30, "no repeats when the sequence has enough frames"
                seen_unordered |= bool((np.diff(ids) < 0).any())
            else:
                assert set(ids) <= set(range(cache.starts[r], cache.starts[r] + n)), "repeats only when short"
    assert seen_unordered, "set frames come in random order"


def test_sequence_sampling_is_contiguous_and_loops(cache):
    sampler = TripletSampler(
        cache, list(cache.index.subject.unique()), 4, 4, frames=30, input_type="sequence", rng=np.random.default_rng(4)
    )
    looped = 0
    for _ in range(10):
        sils, _ = sampler.next_batch()
        assert sils[:, :, 1:, :].all(), "never blank-padded"
        ids = _ids(sils)
        for clip in ids:
            r = _row_of(cache, clip[:1])[0]
            offs = clip - cache.starts[r]
            n = cache.lengths[r]
            assert ((offs[1:] - offs[:-1]) % n == 1 % n).all(), "consecutive frames, wrapping from L-1 to 0"
            if n < 30:
                looped += 1
                assert set(offs) == set(range(n)), "a short sequence is looped through all its frames"
    assert looped > 0


def test_deterministic_and_resumes_bit_identically(cache, tmp_path):
    subjects = list(cache.index.subject.unique())

    def make(seed):
        return TripletSampler(cache, subjects, 3, 4, 12, "sequence", np.random.default_rng(seed))

    a, b = make(7), make(7)
    for _ in range(3):
        np.testing.assert_array_equal(a.next_batch()[0], b.next_batch()[0])
    state = a.state_dict()
    json.dumps(state)  # JSON-safe
    torch.save(state, tmp_path / "s.pt")
    restored = torch.load(tmp_path / "s.pt", weights_only=True)
    expected = [a.next_batch() for _ in range(4)]
    c = make(999)
    c.load_state_dict(restored)
    assert c.batches_drawn == 3
    for sils, labels in expected:
        got_sils, got_labels = c.next_batch()
        np.testing.assert_array_equal(got_sils, sils)
        np.testing.assert_array_equal(got_labels, labels)
    other = TripletSampler(cache, subjects, 3, 4, 12, "set", np.random.default_rng(7))
    with pytest.raises(SamplingError, match="saved with input_type='sequence', this sampler has 'set'"):
        other.load_state_dict(state)


def test_state_round_trip_with_array_state_bit_generator(cache):
    subjects = list(cache.index.subject.unique())
    a = TripletSampler(cache, subjects, 2, 2, 5, "set", np.random.Generator(np.random.MT19937(5)))
    a.next_batch()
    state = json.loads(json.dumps(a.state_dict()))
    expected = a.next_batch()[0]
    b = TripletSampler(cache, subjects, 2, 2, 5, "set", np.random.Generator(np.random.MT19937(0)))
    b.load_state_dict(state)
    np.testing.assert_array_equal(b.next_batch()[0], expected)


def test_sampler_argument_errors(cache):
    rng = np.random.default_rng(0)
    with pytest.raises(SamplingError, match="input_type 'clip' is invalid"):
        TripletSampler(cache, ["001"], 1, 1, 5, "clip", rng)
    with pytest.raises(SamplingError, match="p=20 subjects per batch, but only"):
        TripletSampler(cache, list(cache.index.subject.unique()), 20, 2, 5, "set", rng)
    with pytest.raises(SamplingError, match=r"subjects \['999'\] are not in"):
        TripletSampler(cache, ["001", "999"], 1, 1, 5, "set", rng)
    with pytest.raises(SamplingError, match="frames must be a positive integer"):
        TripletSampler(cache, ["001"], 1, 1, 0, "set", rng)
    with pytest.raises(SamplingError, match="numpy.random.Generator"):
        TripletSampler(cache, ["001"], 1, 1, 5, "set", np.random.RandomState(0))


def test_test_batches_hold_every_frame_in_order(cache):
    rows = np.array([5, 2, 30, 29, 100, 0, 7, 36])
    seen_rows, total_batches = [], 0
    for frames, seq_lens, batch_rows in iter_test_batches(cache, rows, max_frames=64):
        total_batches += 1
        assert frames.shape[0] == seq_lens.sum() and seq_lens.dtype == np.int64
        assert frames.shape[0] <= 64 or len(batch_rows) == 1, "only a single long sequence may exceed max_frames"
        ids = _ids(frames)
        expected = np.concatenate([np.arange(cache.starts[r], cache.starts[r] + cache.lengths[r]) for r in batch_rows])
        np.testing.assert_array_equal(ids, expected)
        seen_rows.extend(batch_rows.tolist())
    nonempty = [r for r in rows if cache.lengths[r] > 0]
    assert seen_rows == nonempty, "sequences keep their order; empty ones are left out"
    assert total_batches > 1
    assert 24 in cache.rows(min_length=0) and cache.lengths[24] == 0  # subject 003's first sequence is empty
    assert [r.tolist() for _, _, r in iter_test_batches(cache, [24, 25], 1000)] == [[25]]
    with pytest.raises(SamplingError, match="rows must be in"):
        next(iter_test_batches(cache, [len(cache)], 10))
