"""Run configs and profiles: validation names field, value and allowed values; overrides reach one field each."""

from __future__ import annotations

import pytest

from gstsn.config import (
    FIELD_SECTIONS,
    PROFILES,
    ConfigError,
    DataConfig,
    EvalConfig,
    RunConfig,
    TrainConfig,
    config_hash,
    config_to_dict,
    resolve_profile,
)


@pytest.mark.parametrize("name", list(PROFILES))
def test_every_profile_resolves_and_round_trips(name):
    cfg = resolve_profile(name)
    assert RunConfig.from_dict(config_to_dict(cfg)) == cfg
    assert config_hash(RunConfig.from_dict(config_to_dict(cfg))) == config_hash(cfg)


def test_profiles_are_what_they_say():
    paper, quick, smoke = (resolve_profile(n) for n in ("paper", "quick", "smoke"))
    assert paper.model.channels == (32, 64, 128) and paper.model.hpm_bins == (1, 2, 4, 8, 16)
    assert (paper.train.batch_p, paper.train.batch_k, paper.train.frames) == (8, 16, 30)
    assert paper.train.lr == 1e-4 and paper.train.iterations == 80_000 and paper.eval.max_test_frames is None
    assert paper.model.num_parts == 93 and paper.input.model_hw == (64, 44)
    assert quick.model.channels == (16, 32, 64) and quick.input.model_hw == (32, 22)
    assert quick.model.hpm_bins == (1, 2, 4, 8) and (quick.train.batch_p, quick.train.batch_k) == (8, 8)
    assert quick.train.frames == 16 and quick.eval.max_test_frames is not None
    assert smoke.train.iterations <= 50 and smoke.model.channels == (4, 8, 16)


def test_overrides_reach_their_field():
    cfg = resolve_profile("quick", temporal=False, input_type="sequence", iterations=7, distance="flat", seed=3)
    assert not cfg.model.temporal and cfg.train.input_type == "sequence" and cfg.train.iterations == 7
    assert cfg.eval.distance == "flat" and cfg.seed == 3
    assert resolve_profile("quick", max_test_frames=None).eval.max_test_frames is None
    assert resolve_profile("quick", channels=[8, 16, 32]).model.channels == (8, 16, 32)
    assert config_hash(resolve_profile("quick")) != config_hash(resolve_profile("quick", seed=1))


def test_field_names_are_unique_and_flat_has_them_all():
    flat = resolve_profile("smoke").flat()
    assert set(flat) == set(FIELD_SECTIONS) | {"seed"}
    assert FIELD_SECTIONS["input_type"] == "train" and FIELD_SECTIONS["idr_stat"] == "model"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: resolve_profile("huge"),
            "profile = 'huge' is invalid; expected one of \\('smoke', 'quick', 'ablation', 'cpu-real', 'paper'\\)",
        ),
        (lambda: resolve_profile("quick", learning_rate=1), "unknown field\\(s\\) \\['learning_rate'\\]; valid fields"),
        (lambda: resolve_profile("quick", input_type="clip"), "TrainConfig.input_type = 'clip' is invalid; expected"),
        (lambda: resolve_profile("quick", lr=0), "TrainConfig.lr = 0 is invalid; expected a finite number > 0"),
        (lambda: resolve_profile("quick", batch_k=1), "TrainConfig.batch_k = 1 is invalid; expected an integer ≥ 2"),
        (lambda: resolve_profile("quick", distance="cos"), "EvalConfig.distance = 'cos' is invalid"),
        (lambda: resolve_profile("quick", max_test_frames=0), "EvalConfig.max_test_frames = 0"),
        (lambda: resolve_profile("quick", amp="yes"), "TrainConfig.amp = 'yes' is invalid; expected true or false"),
        (lambda: resolve_profile("quick", seed=-1), "RunConfig.seed = -1"),
        (lambda: resolve_profile("quick", split=""), "DataConfig.split = '' is invalid"),
        (lambda: resolve_profile("paper", hpm_bins=(1, 3)), "ModelConfig.hpm_bins .* not dividing: \\[3\\]"),
        (lambda: resolve_profile("quick", hpm_bins=(1, 2, 4, 8, 16)), "final feature-map height 8"),
        (lambda: resolve_profile("paper", downsample=11), "InputConfig.downsample"),
        (lambda: RunConfig.from_dict({"modell": {}}), "unknown key\\(s\\) \\['modell'\\]"),
        (lambda: RunConfig.from_dict({"train": {"lrr": 1}}), "unknown key\\(s\\) \\['lrr'\\] in train"),
    ],
)
def test_bad_values_are_named(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


def test_section_defaults_are_the_paper_scale():
    assert TrainConfig().iterations == 80_000 and EvalConfig().distance == "per_part" and DataConfig().source == "synth"


@pytest.mark.parametrize(
    ("field", "value"),
    [("lstm_layers", 2.0), ("lstm_layers", True), ("lstm_layers", "2"), ("iterations", 10.0), ("batch_p", 4.0),
     ("seed", 1.0), ("embed_dim", 16.0), ("channels", (4.0, 8, 16)), ("max_test_frames", 2.0),
     ("downsample", 2.0), ("eval_every", False)],
)  # fmt: skip
def test_integer_fields_take_integers_only(field, value):
    with pytest.raises(ConfigError, match=rf"{field} = .* is invalid; expected .*integer"):
        resolve_profile("smoke", **{field: value})


def test_config_hashes_are_canonical():
    spaced, plain = resolve_profile("smoke", idr_stat="max + median"), resolve_profile("smoke", idr_stat="max+median")
    assert spaced.model.idr_stat == "max+median" and config_hash(spaced) == config_hash(plain)
    assert config_hash(resolve_profile("smoke", lr=1)) == config_hash(resolve_profile("smoke", lr=1.0))
    assert config_hash(resolve_profile("smoke", channels=[4, 8, 16])) == config_hash(resolve_profile("smoke"))
