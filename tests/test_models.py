"""The GaitSet / GSTSN family: structure, invariances, variable lengths, IDR statistics, config validation."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from gstsn.config import MODEL_NAMES, ConfigError, InputConfig, ModelConfig
from gstsn.config.registry import IDR_STATISTICS, MODEL_FAMILY, TEMPORAL_MODULES
from gstsn.models import GaitSetFamily, build_model, prepare_frames
from gstsn.models.layers import ImageDimensionalityReduction

SMALL = dict(channels=(4, 8, 16), hpm_bins=(1, 2, 4), embed_dim=8)  # 32×22 input → 8×5 maps
PAPER_GAITSET_PARAMS = 2_594_592


def make(seed: int = 0, **fields) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(ModelConfig(**{**SMALL, **fields})).eval()


def sils(n: int, s: int, h: int = 32, w: int = 22, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, s, h, w, generator=g) > 0.5).float()


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_each_family_member_builds_the_model_its_name_says():
    """The family's names in display order, each building its own model (expected values written out here, not read
    from the registry): GaitSet with no temporal branch and weights under ``spatial.`` only, 14 parts at bins 1/2/4;
    GSTSN with the temporal branch, weights under ``temporal.`` too, 21 parts. Both are the class GaitSetFamily."""
    expected = {"gaitset": (False, {"spatial"}, 14), "gstsn": (True, {"spatial", "temporal"}, 21)}
    assert MODEL_NAMES == MODEL_FAMILY.names == tuple(expected)
    x = sils(2, 5)
    for member in MODEL_FAMILY:
        temporal, prefixes, parts = expected[member.name]
        model = make(temporal=temporal)
        assert member.temporal is temporal and model.cfg.model_name == member.name
        assert type(model) is GaitSetFamily and (model.temporal is not None) is temporal
        assert {key.split(".")[0] for key in model.state_dict()} == prefixes
        with torch.inference_mode():
            assert model(x).shape == (2, parts, 8)


def test_every_registered_component_builds_and_runs():
    x = sils(2, 5)
    for stat in IDR_STATISTICS.names:
        with torch.inference_mode():
            assert make(idr_stat=stat)(x).shape == (2, 21, 8)
    for module in TEMPORAL_MODULES:
        model = make(temporal_module=module.name)
        built = {name for name, _ in model.named_modules()}
        assert (module.scope in built) == (module.scope is not None), module.name  # its profiler scope exists
        with torch.inference_mode():
            assert model(x).shape == (2, 21, 8)
    with pytest.raises(ConfigError, match=r"ModelConfig.temporal_module = 'gru'.*'none', 'lstm'"):
        ModelConfig(temporal_module="gru")


def test_an_idr_sum_has_one_spelling_whatever_its_order():
    cfg = ModelConfig(idr_stat=" max + median")
    assert cfg.idr_stat == "max+median" and cfg.idr_terms == ("max", "median")
    assert cfg == ModelConfig(idr_stat="median+max") and hash(cfg) == hash(ModelConfig(idr_stat="max+median"))


def test_gaitset_parameter_count_at_paper_scale():
    model = build_model(ModelConfig(temporal=False))
    assert n_params(model) == PAPER_GAITSET_PARAMS
    convs = sum(p.numel() for n, p in model.named_parameters() if ".set" in f".{n}")
    mgp = sum(p.numel() for n, p in model.named_parameters() if ".mgp" in f".{n}")
    assert (convs, mgp, model.spatial.fc.weight.numel()) == (286_496, 276_480, 2_031_616)


def test_gstsn_adds_lstm_and_temporal_fc_only():
    c = 128
    lstm = 2 * 4 * (c * c + c * c + 2 * c)
    model = build_model(ModelConfig(temporal=True, lstm_layers=2))
    assert n_params(model) == PAPER_GAITSET_PARAMS + lstm + 31 * c * 256


def test_no_batchnorm_no_conv_bias_leaky_relu():
    model = build_model(ModelConfig())
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 10 and all(m.bias is None for m in convs)


@pytest.mark.parametrize(("temporal", "parts"), [(False, 62), (True, 93)])
def test_paper_scale_output_shapes(temporal, parts):
    model = build_model(ModelConfig(temporal=temporal)).eval()
    with torch.inference_mode():
        out = model(torch.rand(2, 3, 64, 44))
    assert out.shape == (2, parts, 256)


def test_small_profile_shapes():
    with torch.inference_mode():
        assert make(temporal=True)(sils(3, 5)).shape == (3, 21, 8)
        assert make(temporal=False)(sils(3, 5)).shape == (3, 14, 8)


def test_gaitset_is_invariant_to_frame_order():
    model, x = make(temporal=False), sils(2, 9)
    perm = torch.randperm(9, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        torch.testing.assert_close(model(x), model(x[:, perm]), rtol=0, atol=1e-6)


def test_gstsn_without_lstm_is_order_invariant_but_with_lstm_is_not():
    x = sils(2, 9)
    perm = torch.randperm(9, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        no_lstm = make(temporal=True, lstm_layers=0)
        torch.testing.assert_close(no_lstm(x), no_lstm(x[:, perm]), rtol=0, atol=1e-6)
        for layers in (1, 2):
            model = make(temporal=True, lstm_layers=layers)
            a, b = model(x), model(x[:, perm])
            torch.testing.assert_close(a[:, :14], b[:, :14], rtol=0, atol=1e-6)  # spatial parts: a set
            assert not torch.allclose(a[:, 14:], b[:, 14:], atol=1e-4)  # temporal parts: frame order matters


def test_temporal_off_is_exactly_gaitset():
    gaitset, gstsn = make(seed=5, temporal=False), make(seed=5, temporal=True)
    assert {
        k: v for k, v in gstsn.state_dict().items() if k.startswith("spatial.")
    }.keys() == gaitset.state_dict().keys()
    for key, value in gaitset.state_dict().items():  # same seed -> same spatial weights (spatial is built first)
        assert torch.equal(value, gstsn.state_dict()[key]), key
    x = sils(3, 6)
    with torch.inference_mode():
        assert torch.equal(gaitset(x), gstsn(x)[:, :14])
    off = make(seed=9, temporal=False)
    off.load_state_dict({k: v for k, v in gstsn.state_dict().items() if k.startswith("spatial.")})
    with torch.inference_mode():
        assert torch.equal(off(x), gstsn(x)[:, :14])


@pytest.mark.parametrize(
    "fields", [{"temporal": False}, *({"temporal": True, "temporal_module": m} for m in TEMPORAL_MODULES.names)]
)
def test_mixed_length_batch_equals_each_sequence_alone(fields):
    model = make(lstm_layers=2, **fields)
    lens = [7, 3, 5, 1]
    x = sils(4, 7)
    with torch.inference_mode():
        alone = torch.cat([model(x[i : i + 1, :v]) for i, v in enumerate(lens)])
        padded = model(x, torch.tensor(lens))
        packed = model(torch.cat([x[i, :v] for i, v in enumerate(lens)]), lens)
        garbage = x.clone()
        for i, v in enumerate(lens):  # whatever fills the padding must not matter
            garbage[i, v:] = 1.0
        refilled = model(garbage, lens)
    for out in (padded, packed, refilled):
        torch.testing.assert_close(out, alone, rtol=1e-5, atol=1e-5)


def test_the_temporal_convolution_sees_frame_order_and_adds_only_its_conv():
    x = sils(2, 9)
    perm = torch.randperm(9, generator=torch.Generator().manual_seed(3))
    model = make(temporal_module="tconv")
    assert [n for n, _ in model.temporal.named_parameters()] == ["tconv.conv.weight", "fc.weight"]
    assert model.temporal.tconv.conv.weight.shape == (16, 16, 3)
    with torch.inference_mode():
        a, b = model(x), model(x[:, perm])
    torch.testing.assert_close(a[:, :14], b[:, :14], rtol=0, atol=1e-6)  # spatial parts: a set
    assert not torch.allclose(a[:, 14:], b[:, 14:], atol=1e-4)  # temporal parts: neighbouring frames matter


def test_bad_seq_lens_are_rejected():
    model = make()
    with pytest.raises(ValueError, match="seq_lens"):
        model(sils(2, 4).flatten(0, 1))
    with pytest.raises(ValueError, match="1..4"):
        model(sils(2, 4), [4, 5])
    with pytest.raises(ValueError, match="sum to"):
        model(sils(2, 4).flatten(0, 1), [4, 3])


@pytest.mark.parametrize("stat", ["median", "max", "min", "mean", "max+median", "min+mean+max"])
@pytest.mark.parametrize("width", [5, 6, 11])
def test_idr_statistics_match_numpy(stat, width):
    x = torch.randn(4, 3, 2, width, generator=torch.Generator().manual_seed(width))
    ref = sum(
        {"median": np.median, "max": np.max, "min": np.min, "mean": np.mean}[t](x.numpy(), axis=-1)
        for t in stat.split("+")
    )
    idr = ImageDimensionalityReduction(stat.split("+"))
    out = idr(x)  # (T, h, c)
    np.testing.assert_allclose(out.numpy(), ref.transpose(0, 2, 1), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(idr(x.contiguous(memory_format=torch.channels_last)), out)


@pytest.mark.parametrize(
    ("field", "value", "hint"),
    [
        ("idr_stat", "medain", "median"),
        ("idr_stat", "max+max", "at most once"),
        ("lstm_layers", 3, "(0, 1, 2)"),
        ("lstm_layers", True, "(0, 1, 2)"),
        ("temporal", "yes", "true or false"),
        ("channels", (32, 64), "three positive integers"),
        ("hpm_bins", (1, 2, 2), "distinct"),
        ("embed_dim", 0, "positive"),
    ],
)
def test_bad_config_values_are_rejected_with_the_valid_choices(field, value, hint):
    with pytest.raises(ConfigError, match=re.escape(f"ModelConfig.{field}")) as err:
        ModelConfig(**{field: value})
    assert hint in str(err.value)


def test_hpm_bins_that_do_not_divide_the_map_height_fail_clearly():
    model = make(hpm_bins=(1, 3))
    with pytest.raises(ValueError, match="does not divide the feature-map height 8"):
        model(sils(1, 2))


def test_channels_last_weights_give_the_same_outputs():
    nhwc = make(seed=6, temporal=True)
    torch.manual_seed(6)
    nchw = build_model(ModelConfig(**SMALL), channels_last=False).eval()
    assert nhwc.spatial.set2.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert nchw.spatial.set2.conv.weight.is_contiguous()
    x = sils(2, 5)
    with torch.inference_mode():
        torch.testing.assert_close(nhwc(x), nchw(x), rtol=1e-5, atol=1e-5)


def test_state_dict_round_trip_with_weights_only(tmp_path: Path):
    model, x = make(seed=2, temporal=True), sils(2, 5)
    torch.save(model.state_dict(), tmp_path / "w.pt")
    other = make(seed=3, temporal=True)
    other.load_state_dict(torch.load(tmp_path / "w.pt", weights_only=True))
    with torch.inference_mode():
        assert torch.equal(model(x), other(x))


def test_fixed_seed_gives_identical_outputs_on_cpu():
    x = sils(2, 6)
    with torch.inference_mode():
        assert torch.equal(make(seed=4)(x), make(seed=4)(x))


def test_gradients_flow_to_every_parameter():
    model = make(temporal=True).train()
    model(sils(2, 4)).square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing


def test_prepare_frames_downsamples_and_checks_size():
    frames = torch.randint(0, 2, (2, 3, 64, 44), dtype=torch.uint8)
    out = prepare_frames(frames, InputConfig(downsample=2))
    assert out.shape == (2, 3, 32, 22) and out.dtype == torch.float32
    torch.testing.assert_close(out[0, 0, 0, 0], frames[0, 0, :2, :2].float().mean())
    with pytest.raises(ValueError, match="expects"):
        prepare_frames(frames, InputConfig(height=32))


def test_config_is_frozen_and_lists_are_normalised():
    cfg = ModelConfig(channels=[4, 8, 16], hpm_bins=[1, 2])
    assert cfg.channels == (4, 8, 16) and cfg.hpm_bins == (1, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.temporal = False  # type: ignore[misc]


def test_no_hard_coded_cuda_calls_in_the_package():
    root = Path(__file__).resolve().parents[1] / "gstsn"
    offenders = [str(p) for p in root.rglob("*.py") if ".cuda()" in p.read_text()]
    assert not offenders
