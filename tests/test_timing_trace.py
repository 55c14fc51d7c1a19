"""Profiler traces, the op table and its categories, and the module scopes."""

from __future__ import annotations

import gzip
import json

import pytest
import torch
from torch import nn

from gstsn.timing.trace import CATEGORIES, category_shares, module_scopes, op_category, profile_steps, trace_files


@pytest.mark.parametrize(
    ("op", "category"),
    [
        ("aten::mkldnn_rnn_layer", "lstm"),
        ("aten::mkldnn_rnn_layer_backward", "lstm"),
        ("MkldnnRnnLayerBackward0", "lstm"),
        ("aten::_cudnn_rnn", "lstm"),
        ("aten::lstm", "lstm"),
        ("aten::median", "idr_median"),
        ("aten::convolution_backward", "conv"),
        ("aten::mkldnn_convolution", "conv"),
        ("aten::bmm", "matmul_fc"),
        ("BmmBackward0", "matmul_fc"),
        ("aten::mm", "matmul_fc"),
        ("aten::addmm", "matmul_fc"),
        ("Optimizer.step#Adam.step", "optimizer"),
        ("aten::_foreach_add_", "optimizer"),
        ("aten::max_pool2d_with_indices", "other"),
        ("aten::sum", "other"),
    ],
)
def test_op_category(op, category):
    assert op_category(op) == category


class _Toy(nn.Module):
    """A conv + LSTM stand-in with the scope names the suite hooks (``spatial``, ``temporal.lstm``)."""

    def __init__(self) -> None:
        super().__init__()
        self.spatial = nn.Conv2d(1, 4, 3, padding=1)
        self.temporal = nn.Module()
        self.temporal.lstm = nn.LSTM(4, 4, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.spatial(x).mean((2, 3))  # (n, 4)
        out, _ = self.temporal.lstm(f.unsqueeze(0))
        return out.sum()


def test_module_scopes_are_removed_afterwards():
    model = _Toy()
    with module_scopes(model, ("spatial", "temporal.lstm", "absent")) as scoped:
        assert scoped == ["spatial", "temporal.lstm"]
        assert model.spatial._forward_pre_hooks and model.temporal.lstm._forward_hooks
    assert not model.spatial._forward_pre_hooks and not model.temporal.lstm._forward_hooks


def test_profile_steps_writes_a_gzip_trace_and_a_self_time_table(tmp_path):
    model = _Toy()
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))

    def step():
        model.zero_grad()
        model(x).backward()

    ops, scopes = profile_steps(step, torch.device("cpu"), tmp_path / "t", "toy-cpu-fp32", 1, 2, model)
    files = trace_files(tmp_path)
    assert len(files) == 1 and files[0].name.startswith("toy-cpu-fp32.") and files[0].suffix == ".gz"
    trace = json.loads(gzip.decompress(files[0].read_bytes()))
    names = {e.get("name") for e in trace["traceEvents"]}
    assert "gstsn::temporal.lstm" in names and any(str(n).startswith("ProfilerStep#") for n in names)
    assert ops["share"].sum() == pytest.approx(1.0)
    assert not ops["op"].str.startswith(("ProfilerStep", "gstsn::")).any()
    assert ops["share"].is_monotonic_decreasing
    shares = category_shares(ops)
    assert set(shares) == set(CATEGORIES) | {"total"}
    assert shares["lstm"]["ms"] > 0 and shares["conv"]["ms"] > 0
    assert sum(v["share"] for k, v in shares.items() if k != "total") == pytest.approx(1.0)
    assert set(scopes) == {"spatial", "temporal.lstm"} and all(v > 0 for v in scopes.values())


def test_profile_steps_needs_a_recorded_step(tmp_path):
    with pytest.raises(ValueError, match="active"):
        profile_steps(lambda: None, torch.device("cpu"), tmp_path, "x", 0, 0)
