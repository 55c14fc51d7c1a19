"""Tidy timing tables from the suite's raw outputs: ``benchmark.json`` → ``timing.csv``, op tables → ``top_ops.csv``.

``timing.csv`` (results schema v1, ``timing/``) has one row per benchmark: the schema's columns first, in the schema's
order, then a few extra columns (``variant``, ``case_id``, ``profile``, ``torch``, ``threads``, ``mem_method``,
``peak_method``, ``ci_method``); ``repeats`` is the number of timed rounds. Times are seconds per call: ``median_s``
with a bootstrap percentile interval of the median over the benchmark's rounds; ``gflops_per_s = flops / median_s``;
``frac_of_peak`` divides that by the GFLOP/s of a square matmul measured just before the benchmark (same run, same
device, same precision).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gstsn.results.timing_files import (
    BENCHMARK_FILE,
    TIMING_COLUMNS,
    TIMING_EXTRA,
    TOP_OPS_COLUMNS,
    TOP_OPS_EXTRA,
    TOP_OPS_PARTS_GLOB,
)
from gstsn.timing.stats import CI_LEVEL, N_BOOT, bootstrap_median_ci

# Keys every benchmark of the suite stores in ``extra_info`` (the rest of the row is computed from its timings):
# the row's identity (phase .. width), the per-benchmark measurements, and the extra columns but the CI method and
# those a suite of an earlier version did not write (empty when absent).
_IDENTITY = TIMING_COLUMNS[: TIMING_COLUMNS.index("width") + 1]
_OPTIONAL_INFO = ("temporal_module",)  # absent before there were temporal modules to choose from: the LSTM
EXTRA_INFO_KEYS: tuple[str, ...] = (
    *_IDENTITY,
    "flops",
    "peak_gflops_per_s",
    "peak_mem_bytes",
    *(k for k in TIMING_EXTRA if k != "ci_method" and k not in _OPTIONAL_INFO),
)


class TimingResultsError(ValueError):
    """A suite output file is missing or malformed; the message names the file and what was expected."""


def read_benchmark_json(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TimingResultsError(f"{path}: cannot read the pytest-benchmark JSON ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise TimingResultsError(f"{path}: not a pytest-benchmark JSON file (no 'benchmarks' list)")
    return data


def benchmark_times(bench: dict[str, Any], where: str = BENCHMARK_FILE) -> list[float]:
    """Per-call seconds of one benchmark entry (``stats.data`` divided by its iterations)."""
    stats = bench.get("stats") or {}
    data = stats.get("data")
    if not data:
        raise TimingResultsError(f"{where}: benchmark {bench.get('name')!r} has no raw 'stats.data' timings")
    iterations = int(stats.get("iterations", 1) or 1)
    return [float(t) / iterations for t in data]


def timing_table(data: dict[str, Any], rng: np.random.Generator | None = None, where: str = BENCHMARK_FILE):
    """The tidy ``timing.csv`` frame of a pytest-benchmark JSON written by the suite (one row per benchmark)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    rows = []
    for bench in data["benchmarks"]:
        info = bench.get("extra_info") or {}
        missing = [k for k in EXTRA_INFO_KEYS if k not in info]
        if missing:
            raise TimingResultsError(f"{where}: benchmark {bench.get('name')!r} lacks extra_info keys {missing}")
        times = benchmark_times(bench, where)
        median, low, high = bootstrap_median_ci(times, rng)
        flops = info["flops"]
        gflops = flops / median / 1e9 if flops else np.nan
        peak = info["peak_gflops_per_s"]
        row = {k: info[k] for k in EXTRA_INFO_KEYS} | {k: info.get(k) for k in _OPTIONAL_INFO}
        row.update(
            repeats=len(times),
            median_s=median,
            ci_low_s=low,
            ci_high_s=high,
            gflops_per_s=gflops,
            frac_of_peak=gflops / peak if flops and peak else np.nan,
            ci_method=f"{CI_LEVEL:.0%} bootstrap percentile interval of the median over rounds ({N_BOOT} resamples)",
        )
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(TIMING_COLUMNS + TIMING_EXTRA))
    for col in ("batch", "frames", "height", "width", "repeats", "threads"):
        frame[col] = frame[col].astype("Int64")
    frame["lstm_layers"] = frame["lstm_layers"].astype("Int64")
    order = ["phase", "device", "dtype", "variant", "input_type", "batch", "frames"]
    return frame.sort_values(order, kind="stable", na_position="first").reset_index(drop=True)


def write_timing_csv(benchmark_json: str | Path, dest: str | Path) -> pd.DataFrame:
    """Read the suite's ``benchmark.json`` and write ``timing.csv``; returns the table."""
    frame = timing_table(read_benchmark_json(benchmark_json), where=str(benchmark_json))
    frame.to_csv(dest, index=False)
    return frame


def write_top_ops(raw_dir: str | Path, dest: str | Path, top: int | None = 25) -> pd.DataFrame:
    """Concatenate the per-variant op tables ``raw_dir/top_ops_*.csv`` (the ``top`` ops by share of each) into
    ``top_ops.csv``: the schema's columns, then ``category``, ``calls_per_step``, ``device``, ``dtype``."""
    parts = []
    for path in sorted(Path(raw_dir).glob(TOP_OPS_PARTS_GLOB)):
        part = pd.read_csv(path)
        parts.append(part.head(top) if top else part)
    columns = list(TOP_OPS_COLUMNS + TOP_OPS_EXTRA)
    frame = pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)
    frame.to_csv(dest, index=False)
    return frame


__all__ = [
    "EXTRA_INFO_KEYS",
    "TimingResultsError",
    "benchmark_times",
    "read_benchmark_json",
    "timing_table",
    "write_timing_csv",
    "write_top_ops",
]
