"""Paired GSTSN/GaitSet repeats per phase, device and precision: the verdict's ratios and intervals.

The two models' callables alternate in ABBA order in this one process, so machine noise hits both; each pair's ratio
is one observation (``gstsn.timing.stats``). A pair that cannot run here is recorded with its reason, then skipped.
"""

from __future__ import annotations

import pytest

from gstsn.timing.suite import run_pair, write_pair_skip
from gstsn.timing.workloads import PhaseUnavailable, build_workload, skip_reason


def test_paired_ratio(pair, synthetic, timing_out):
    raw = timing_out / "raw"
    reason = skip_reason(pair.b)
    if reason:
        write_pair_skip(raw, pair, reason)
        pytest.skip(reason)
    dataset, subjects = synthetic(pair.b) if pair.phase == "evaluation" else (None, None)
    try:
        wa = build_workload(pair.a, dataset, subjects)
        wb = build_workload(pair.b, dataset, subjects)
    except PhaseUnavailable as exc:
        write_pair_skip(raw, pair, str(exc))
        pytest.skip(str(exc))
    record = run_pair(raw, pair, wa, wb)
    assert len(record["times_a"]) == len(record["times_b"]) == pair.b.profile.repeats[pair.phase].pairs
