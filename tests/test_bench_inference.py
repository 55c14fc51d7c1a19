"""The inference benchmark (``bench/bench_inference.py``) runs end to end at a tiny size and prints a row per model
and layout, with the channels-last outputs matching NCHW."""

from __future__ import annotations

import re


def test_bench_inference_reports_every_model_and_layout(run_bench):
    out = run_bench("bench_inference.py", "--batch", "2", "--frames", "4", "--repeats", "1", "--threads", "1")
    rows = {
        (m.group(1), m.group(2)): float(m.group(3))
        for m in re.finditer(r"^(gaitset|gstsn)\s+(nchw|channels_last)\s.*\s([\d.]+e[-+]\d+)$", out, re.M)
    }
    assert set(rows) == {(m, lay) for m in ("gaitset", "gstsn") for lay in ("nchw", "channels_last")}, out
    assert all(diff < 1e-5 for diff in rows.values()), rows  # max |diff| against the NCHW output
    assert re.search(r"matmul reference now: [\d.]+ GFLOP/s", out)
