"""The timing folder (``RESULTS/timing/``): its file names and the columns of its tables, one place for the timing
suite that writes them (:mod:`gstsn.timing.suite`, :mod:`gstsn.timing.results`, :mod:`gstsn.timing.verdict`) and the
report that reads them (:mod:`gstsn.report.load`)::

    benchmark.json                     pytest-benchmark JSON (raw rounds in stats.data, the row fields in extra_info)
    timing.csv, top_ops.csv            tidy tables: TIMING_COLUMNS + TIMING_EXTRA, TOP_OPS_COLUMNS + TOP_OPS_EXTRA
    verdict.json, summary.txt          the verdict and its text
    traces/<label>/*.pt.trace.json.gz  torch.profiler traces of the training step per variant, device and precision
    raw/                               per-item intermediate files: paired_<id>.json, top_ops_<label>.csv,
                                       breakdown_<label>.json

A reader needs fewer columns than a writer writes: ``timing.csv`` files written before the variant columns lacked
them, so the report requires only :data:`TIMING_REQUIRED` (and :data:`TOP_OPS_REQUIRED` of ``top_ops.csv``).
"""

from __future__ import annotations

TIMING_DIR = "timing"  # under a results folder
BENCHMARK_FILE = "benchmark.json"
TIMING_FILE = "timing.csv"
TOP_OPS_FILE = "top_ops.csv"
VERDICT_FILE = "verdict.json"
SUMMARY_FILE = "summary.txt"
#: the suite's own outputs: a new run removes them first (never a mix of two runs)
OUTPUT_FILES = (BENCHMARK_FILE, TIMING_FILE, TOP_OPS_FILE, VERDICT_FILE, SUMMARY_FILE)
RAW_DIR = "raw"
TRACES_DIR = "traces"
OUTPUT_DIRS = (RAW_DIR, TRACES_DIR)
TRACE_SUFFIX = ".pt.trace.json.gz"  # a profiler trace, as tensorboard_trace_handler(use_gzip=True) names it


# raw/: one file per paired comparison, and per profiled case its op table and its breakdown
def paired_file(pair_id: str) -> str:
    """``raw/`` file of one paired comparison: ``paired_<id>.json``."""
    return f"paired_{pair_id}.json"


def top_ops_part(label: str) -> str:
    """``raw/`` op table of one profiled case: ``top_ops_<label>.csv``."""
    return f"top_ops_{label}.csv"


def breakdown_file(label: str) -> str:
    """``raw/`` category shares and forward scopes of one profiled case: ``breakdown_<label>.json``."""
    return f"breakdown_{label}.json"


PAIRED_GLOB = paired_file("*")
TOP_OPS_PARTS_GLOB = top_ops_part("*")
BREAKDOWN_GLOB = breakdown_file("*")

#: timing.csv: the schema's columns, in the schema's order (docs/results.md)
TIMING_COLUMNS: tuple[str, ...] = (
    "phase",
    "model",
    "temporal",
    "idr_stat",
    "lstm_layers",
    "input_type",
    "device",
    "dtype",
    "batch",
    "frames",
    "height",
    "width",
    "repeats",
    "median_s",
    "ci_low_s",
    "ci_high_s",
    "flops",
    "gflops_per_s",
    "peak_gflops_per_s",
    "frac_of_peak",
    "peak_mem_bytes",
)
#: timing.csv: the columns after the schema's
TIMING_EXTRA: tuple[str, ...] = (
    "temporal_module",
    "variant",
    "case_id",
    "profile",
    "torch",
    "threads",
    "mem_method",
    "peak_method",
    "ci_method",
)
#: timing.csv: what the report needs of it
TIMING_REQUIRED: tuple[str, ...] = (
    "phase",
    "model",
    "device",
    "dtype",
    "batch",
    "frames",
    "median_s",
    "ci_low_s",
    "ci_high_s",
)
#: top_ops.csv: one row per op of a profiled case (self time per step and share of the step's self time)
TOP_OPS_COLUMNS: tuple[str, ...] = ("model_variant", "op", "self_cpu_ms", "self_device_ms", "share")
TOP_OPS_EXTRA: tuple[str, ...] = ("category", "calls_per_step", "device", "dtype")
TOP_OPS_REQUIRED: tuple[str, ...] = ("model_variant", "op", "self_cpu_ms", "share")

__all__ = [
    "BENCHMARK_FILE",
    "BREAKDOWN_GLOB",
    "OUTPUT_DIRS",
    "OUTPUT_FILES",
    "PAIRED_GLOB",
    "RAW_DIR",
    "SUMMARY_FILE",
    "TIMING_COLUMNS",
    "TIMING_DIR",
    "TIMING_EXTRA",
    "TIMING_FILE",
    "TIMING_REQUIRED",
    "TOP_OPS_COLUMNS",
    "TOP_OPS_EXTRA",
    "TOP_OPS_FILE",
    "TOP_OPS_PARTS_GLOB",
    "TOP_OPS_REQUIRED",
    "TRACES_DIR",
    "TRACE_SUFFIX",
    "VERDICT_FILE",
    "breakdown_file",
    "paired_file",
    "top_ops_part",
]
