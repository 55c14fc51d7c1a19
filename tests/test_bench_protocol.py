"""The evaluator benchmark (``bench/bench_protocol.py``) runs end to end at a tiny size and reports what it promises:
the evaluator's time, its matmuls alone, the peak memory, and the cell-by-cell evaluator reproducing its tables."""

from __future__ import annotations

import re


def test_bench_protocol_reports_every_figure_at_a_tiny_size(run_bench):
    out = run_bench(
        "bench_protocol.py", "--subjects", "4", "--parts", "3", "--dim", "8", "--repeats", "2", "--threads", "1",
        "--cell-by-cell",
    )  # fmt: skip
    assert "probes 264 (3 probe sets) x gallery 176" in out
    for distance in ("per_part", "flat"):
        line = next(x for x in out.splitlines() if x.strip().startswith(f"{distance}: median"))
        assert re.search(r"peak RSS growth \d+ MiB \(warm-up run, RSS sampled every 2 ms\)", line), line
        assert "float64 rechecks" in line and "rank-1 NM" in line
    assert (
        len(
            re.findall(
                r"its matmuls alone \(same shapes, interleaved\): median [\d.]+ s \(runs [\d.]+, [\d.]+\); "
                r"evaluator / its matmuls: median [\d.]+x",
                out,
            )
        )
        == 2
    ), out
    assert "same tables: True" in out
    assert re.search(r"reference: fp32 2048x2048 matmul \d+ GFLOP/s", out)
