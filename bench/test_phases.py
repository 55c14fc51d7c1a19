"""Benchmarks of each phase for every variant, device, precision and shape (pytest-benchmark; never assert on time).

Each benchmark measures the same-run matmul reference first, then times the phase's callable (CUDA synchronised inside
it) with the profile's warm-up and rounds, then counts its FLOPs and peak memory in one extra call; the row fields go to
``extra_info`` and from there to ``timing.csv``.
"""

from __future__ import annotations

import pytest

from gstsn.timing.suite import run_benchmark


@pytest.mark.timing_phase("inference")
@pytest.mark.benchmark(group="inference")
def test_inference(benchmark, workload):
    run_benchmark(benchmark, workload)


@pytest.mark.timing_phase("train_step")
@pytest.mark.benchmark(group="train_step")
def test_train_step(benchmark, workload):
    run_benchmark(benchmark, workload)


@pytest.mark.timing_phase("evaluation")
@pytest.mark.benchmark(group="evaluation")
def test_evaluation(benchmark, workload):
    run_benchmark(benchmark, workload)


@pytest.mark.timing_phase("data_loading")
@pytest.mark.benchmark(group="data_loading")
def test_data_loading(benchmark, workload):
    run_benchmark(benchmark, workload)
