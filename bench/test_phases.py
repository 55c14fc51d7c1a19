"""Benchmarks of each phase for every variant, device, precision and shape (pytest-benchmark; never assert on time).

Each benchmark measures the same-run matmul reference first, then times the phase's callable (CUDA synchronised inside
it) with the profile's warm-up and rounds, then counts its FLOPs and peak memory in one extra call; the row fields go to
``extra_info`` and from there to ``timing.csv``.

The checks are on what was measured, never on how long it took: the benchmark really timed the profile's rounds (it is
not disabled, as it would be under an xdist worker), the callable ran warm-up + rounds + 1 times, each phase's output is
what that phase computes (finite embeddings, a training step's loss statistics, rank-1 per probe set in %, a prepared
batch in [0, 1]), and the row describes the case.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from gstsn.timing.suite import run_benchmark


def timed(benchmark, workload):
    """Run the benchmark on a counting wrapper of the workload's callable; returns (extra_info, calls, last output)."""
    calls: list[object] = []
    fn = workload.fn

    def counted():
        out = fn()
        calls.append(out)
        return out

    info = run_benchmark(benchmark, dataclasses.replace(workload, fn=counted))
    case = workload.case
    reps = case.profile.repeats[case.phase]
    assert not benchmark.disabled, "pytest-benchmark is disabled: no time was measured (an xdist worker's environment?)"
    data = benchmark.stats.stats.data
    assert len(data) == reps.rounds and all(t > 0 for t in data), data
    assert len(calls) == reps.warmup + reps.rounds + 1  # warm-up, timed rounds, one FLOP/memory call
    assert (info["phase"], info["case_id"], info["device"], info["dtype"]) == (
        case.phase,
        case.id,
        case.device,
        case.dtype,
    )
    assert (info["batch"], info["frames"]) == (case.batch, case.frames) and info["peak_gflops_per_s"] > 0
    assert (info["flops"] > 0) == (case.phase != "data_loading"), info["flops"]
    return info, calls[-1]


@pytest.mark.timing_phase("inference")
@pytest.mark.benchmark(group="inference")
def test_inference(benchmark, workload):
    _, out = timed(benchmark, workload)
    assert out.shape[0] == workload.case.batch and out.ndim == 3, tuple(out.shape)  # (batch, parts, d)
    assert torch.isfinite(out.float()).all()


@pytest.mark.timing_phase("train_step")
@pytest.mark.benchmark(group="train_step")
def test_train_step(benchmark, workload):
    before = [p.detach().clone() for p in workload.model.parameters()]
    _, stats = timed(benchmark, workload)
    assert stats.shape == (4,) and torch.isfinite(stats).all(), stats  # loss, dist_ap, dist_an, nonzero fraction
    assert any(not torch.equal(a, b) for a, b in zip(before, workload.model.parameters(), strict=True)), "no update"


@pytest.mark.timing_phase("evaluation")
@pytest.mark.benchmark(group="evaluation")
def test_evaluation(benchmark, workload):
    _, result = timed(benchmark, workload)
    summary = dict(result.summary)
    assert set(summary) == {"NM", "BG", "CL"}, summary
    assert all(not math.isnan(v) and 0.0 <= v <= 100.0 for v in summary.values()), summary
    assert int(result.n_probes.to_numpy().sum()) > 0


@pytest.mark.timing_phase("data_loading")
@pytest.mark.benchmark(group="data_loading")
def test_data_loading(benchmark, workload):
    info, x = timed(benchmark, workload)
    tc = workload.case.run_config().train
    assert tuple(x.shape) == (tc.batch_p * tc.batch_k, tc.frames, info["height"], info["width"]), tuple(x.shape)
    assert x.dtype == torch.float32 and float(x.min()) >= 0.0 and float(x.max()) <= 1.0
