"""The inference benchmark (``bench/bench_inference.py``) runs end to end at a tiny size and prints a row per model
and layout, with the channels-last outputs matching NCHW."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_inference.py"


def test_bench_inference_reports_every_model_and_layout():
    cmd = [sys.executable, str(BENCH), "--batch", "2", "--frames", "4", "--repeats", "1", "--threads", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = {
        (m.group(1), m.group(2)): float(m.group(3))
        for m in re.finditer(r"^(gaitset|gstsn)\s+(nchw|channels_last)\s.*\s([\d.]+e[-+]\d+)$", proc.stdout, re.M)
    }
    assert set(rows) == {(m, lay) for m in ("gaitset", "gstsn") for lay in ("nchw", "channels_last")}, proc.stdout
    assert all(diff < 1e-5 for diff in rows.values()), rows  # max |diff| against the NCHW output
    assert re.search(r"matmul reference now: [\d.]+ GFLOP/s", proc.stdout)
