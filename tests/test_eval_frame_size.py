"""Evaluating on data whose frames are not the size the model was trained on is one clear line, not a traceback
(issue 13, item 10: ``gstsn eval --data`` with 32×22 frames raised a plain ValueError from ``prepare_frames``)."""

from __future__ import annotations

import pytest
from helpers.toy_data import make_toy_cache

from gstsn.cli import main
from gstsn.config import resolve_profile
from gstsn.eval.embed import EmbeddingError, embed_sequences, evaluate_model


def test_evaluate_model_names_the_data_and_the_expected_size(tmp_path):
    cache = make_toy_cache(tmp_path / "toy", n_subjects=2)  # 32×22 frames
    cfg = resolve_profile("smoke", source="my-small-data")  # the model takes 64×44
    with pytest.raises(EmbeddingError, match=r"the data 'my-small-data' \(cache .*toy\) has 32×22 frames, but the "
                       r"model takes 64×44 frames"):  # fmt: skip
        evaluate_model(None, cache, ["001"], cfg, device=None)
    with pytest.raises(EmbeddingError, match=r"toy' has 32×22 frames, but the model takes 64×44"):
        embed_sequences(None, cache, [0], cfg.input, device=None)


def test_cli_eval_on_data_of_another_frame_size(tmp_path, capsys):
    small = make_toy_cache(tmp_path / "small")  # 32×22, trained on
    big = make_toy_cache(tmp_path / "big", h=64, w=44)
    run = tmp_path / "run"
    argv = ["train", "--profile", "smoke", "--data", str(small.path), "--height", "32", "--width", "22",
            "--downsample", "2", "--no-temporal", "--iterations", "1", "--out", str(run), "--no-progress",
            "--device", "cpu", "--no-eval"]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--data", str(big.path), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"gstsn eval: error: the data '{big.path}' has 64×44 frames, but the model takes 32×22")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
