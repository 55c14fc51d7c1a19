"""Test-time embedding: whole sequences in order, independent of batch composition; centred clip cap."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.toy_data import make_toy_cache

from gstsn.config import resolve_profile
from gstsn.eval.embed import EmbeddingError, clip_centred, embed_sequences, rows_of_subjects
from gstsn.train.setup import seeded_model


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_cache(tmp_path_factory.mktemp("toy") / "cache", n_subjects=3)


@pytest.mark.parametrize("temporal", [False, True])
def test_embedding_does_not_depend_on_batch_composition(toy, temporal):
    cfg = resolve_profile("smoke", height=32, width=22, downsample=2, temporal=temporal)
    model = seeded_model(cfg)
    rows = np.arange(0, 20)
    dev = torch.device("cpu")
    alone = embed_sequences(model, toy, rows, cfg.input, dev, batch_frames=1)  # one sequence per forward
    packed = embed_sequences(model, toy, rows, cfg.input, dev, batch_frames=10_000)  # all in one forward
    mixed = embed_sequences(model, toy, rows[::-1].copy(), cfg.input, dev, batch_frames=37)[::-1]
    assert alone.shape == (20, cfg.model.num_parts, cfg.model.embed_dim) and alone.dtype == np.float32
    np.testing.assert_allclose(packed, alone, rtol=0, atol=1e-6)
    np.testing.assert_allclose(mixed, alone, rtol=0, atol=1e-6)
    assert not np.allclose(alone[0], alone[1])  # different sequences, different embeddings
    assert model.training  # the caller's mode is restored


def test_embedding_uses_every_frame_in_order(toy):
    cfg = resolve_profile("smoke", height=32, width=22, downsample=2, temporal=True)
    model = seeded_model(cfg)
    seq = toy.sequence(5)
    from gstsn.models import prepare_frames

    with torch.inference_mode():
        direct = model.eval()(prepare_frames(torch.from_numpy(seq)[None], cfg.input)).numpy()
    got = embed_sequences(model, toy, [5], cfg.input, torch.device("cpu"))
    np.testing.assert_allclose(got, direct, rtol=0, atol=1e-6)


def test_clip_centred():
    frames = torch.arange(10 + 3 + 6).reshape(-1, 1, 1)
    lens = torch.tensor([10, 3, 6])
    out, new = clip_centred(frames, lens, 4)
    assert new.tolist() == [4, 3, 4]
    assert out.flatten().tolist() == [3, 4, 5, 6, 10, 11, 12, 14, 15, 16, 17]
    same, lens2 = clip_centred(frames, lens, None)
    assert same is frames and lens2 is lens


def test_rows_of_subjects_and_errors(toy):
    rows, empty = rows_of_subjects(toy, ["002"])
    assert len(rows) == 30 and empty.size == 0 and set(toy.index["subject"].iloc[rows]) == {"002"}
    with pytest.raises(EmbeddingError, match="none of the 1 test subjects"):
        rows_of_subjects(toy, ["999"])
    cfg = resolve_profile("smoke", height=32, width=22, downsample=2)
    with pytest.raises(EmbeddingError, match="no sequences"):
        embed_sequences(seeded_model(cfg), toy, [], cfg.input, torch.device("cpu"))


def test_groups_fill_the_frame_budget_after_the_cap():
    import pandas as pd

    from gstsn.eval.embed import _groups

    class Lengths:
        index = pd.DataFrame({"length": [50, 50, 50, 10, 200, 5]})

    rows = np.arange(6)
    got = [(g.tolist(), n) for g, n in _groups(Lengths, rows, 100, cap=40)]  # capped: 40, 40, 40, 10, 40, 5
    assert got == [([0, 1], 100), ([2, 3, 4, 5], 265)]
    got = [(g.tolist(), n) for g, n in _groups(Lengths, rows, 100, cap=None)]  # a 200-frame sequence comes alone
    assert got == [([0, 1], 100), ([2, 3], 60), ([4], 200), ([5], 5)]
    Lengths.index = pd.DataFrame({"length": [5, 0]})
    with pytest.raises(EmbeddingError, match="1 of 2 rows have no frames"):
        _groups(Lengths, np.arange(2), 100, cap=None)
