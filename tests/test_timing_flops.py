"""FLOP counting measured by FlopCounterMode, LSTMs included (dense, packed, training), per-frame model FLOPs, the
matmul reference and peak memory."""

from __future__ import annotations

import threading

import pytest
import torch
from helpers.waiting import PATIENCE_S
from torch import nn

from gstsn.config import ModelConfig
from gstsn.models.flops import PROBE_FRAMES, model_flops
from gstsn.timing.flops import count_flops, matmul_gflops
from gstsn.timing.memory import peak_memory_bytes


def _lstm_flops(steps: int, inp: int, hidden: int, layers: int) -> int:
    """2 · steps · (|W_ih| + |W_hh|) per layer; the first layer reads ``inp`` features, the others ``hidden``."""
    total = 0
    for i in range(layers):
        total += 2 * steps * (4 * hidden * (inp if i == 0 else hidden) + 4 * hidden * hidden)
    return total


@pytest.mark.parametrize("bias", [True, False])
def test_lstm_flops_dense_packed_and_training(bias):
    lstm = nn.LSTM(6, 8, num_layers=2, batch_first=True, bias=bias)
    x = torch.randn(3, 5, 6, generator=torch.Generator().manual_seed(0))
    lens = torch.tensor([5, 3, 2])
    packed = nn.utils.rnn.pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False)
    with torch.inference_mode():
        assert count_flops(lambda: lstm(x)) == _lstm_flops(15, 6, 8, 2)
        assert count_flops(lambda: lstm(packed)) == _lstm_flops(10, 6, 8, 2)  # only the real time steps
    # backward: each gate matmul again for the weights' and for the inputs' gradient, except the gradient of the
    # input x (it needs none: 2·15 steps·(4·8)·6) and of the zero initial state (2·3 sequences·(4·8)·8 per layer)
    skipped = 2 * 15 * 32 * 6 + 2 * 2 * 3 * 32 * 8
    assert count_flops(lambda: lstm(x)[0].sum().backward()) == 3 * _lstm_flops(15, 6, 8, 2) - skipped
    assert torch.backends.mkldnn.enabled  # the fused kernels are on again after counting


def test_gstsn_inference_under_cpu_bf16_autocast_is_counted_like_fp32():
    """The timing suite counts a bf16 case's FLOPs on the call it times: GSTSN's LSTM then gets bf16 features under
    inference mode, which the composite LSTM FlopCounterMode sees used to reject (expected Float, found BFloat16)."""
    from gstsn.models import build_model
    from gstsn.precision import autocast_to

    cfg = ModelConfig(channels=(4, 8, 16), hpm_bins=(1, 2, 4), embed_dim=8)
    model = build_model(cfg).eval()
    x = torch.rand(2, 6, 32, 20, generator=torch.Generator().manual_seed(0))

    def embed(precision):
        with torch.inference_mode(), autocast_to(precision, torch.device("cpu")):
            return model(x)

    assert count_flops(lambda: embed("bf16")) == count_flops(lambda: embed("fp32")) > 0
    torch.testing.assert_close(embed("bf16").float(), embed("fp32"), atol=0.01, rtol=0.05)  # bf16 rounding only


def test_model_flops_are_measured_per_frame_and_cached():
    cfg = ModelConfig(channels=(4, 8, 16), hpm_bins=(1, 2, 4), embed_dim=8)
    flops = model_flops(cfg, 32, 20)
    rows = 32 // 4  # the LSTM runs over each of the 8 rows of the 8×5 feature maps, frame after frame
    assert flops["temporal.lstm"] == _lstm_flops(PROBE_FRAMES * rows, 16, 16, 2) / PROBE_FRAMES
    assert flops["total"] == pytest.approx(flops["spatial"] + flops["temporal"])
    assert model_flops(cfg, 32, 20) is flops
    gaitset = model_flops(ModelConfig(temporal=False, channels=(4, 8, 16), hpm_bins=(1, 2, 4), embed_dim=8), 32, 20)
    assert gaitset["total"] == flops["spatial"] and "temporal" not in gaitset


def test_linear_flops_are_torchs_own():
    lin = nn.Linear(16, 4, bias=False)
    x = torch.randn(10, 16)
    assert count_flops(lambda: lin(x)) == 2 * 10 * 16 * 4


def test_matmul_reference_is_positive():
    assert matmul_gflops(64, repeats=2) > 0


def test_peak_memory_sees_a_held_temporary(monkeypatch):
    """A 64 MiB block held until the RSS sampler has read the RSS at least once while it exists (not for a length of
    time: a loaded machine may not run the sampler thread for a while) is in the peak."""
    from gstsn.timing import memory

    holding, sampled = threading.Event(), threading.Event()
    read_rss = memory.current_rss_bytes

    def rss_seen_by_the_sampler() -> int:
        held = holding.is_set()  # before the read: a read that starts once the block is held includes it
        value = read_rss()
        if held:
            sampled.set()
        return value

    def hold_64_mib() -> None:
        block = torch.ones(64 * 2**20 // 4)  # 64 MiB, every page touched
        holding.set()
        assert sampled.wait(PATIENCE_S), f"the RSS sampler took no sample in {PATIENCE_S:.0f} s"
        del block

    monkeypatch.setattr(memory, "current_rss_bytes", rss_seen_by_the_sampler)
    assert peak_memory_bytes(hold_64_mib) >= 48 * 2**20
