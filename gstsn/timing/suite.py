"""What each item of the pytest-benchmark suite (``bench/``) does, and the step that turns its outputs into tables.

The output folder (``results/timing`` by default; results schema v1, ``timing/``) holds ``benchmark.json``, the tidy
tables ``timing.csv`` and ``top_ops.csv`` (:mod:`gstsn.timing.results`), the verdict ``verdict.json`` and
``summary.txt`` (:mod:`gstsn.timing.verdict`), the profiler traces under ``traces/`` and the per-item files under
``raw/``; every name is declared in :mod:`gstsn.results.timing_files`.

Benchmarks never assert on time: a slow machine gives slow numbers, not failures.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import torch

from gstsn.machine import cpu_bf16_info, cpu_model
from gstsn.results.timing_files import (
    BENCHMARK_FILE,
    OUTPUT_DIRS,
    OUTPUT_FILES,
    RAW_DIR,
    TIMING_FILE,
    TOP_OPS_FILE,
    TRACES_DIR,
    breakdown_file,
    paired_file,
    top_ops_part,
)
from gstsn.timing.cases import Pair
from gstsn.timing.flops import count_flops, matmul_gflops
from gstsn.timing.memory import peak_memory_bytes
from gstsn.timing.results import read_benchmark_json, write_timing_csv, write_top_ops
from gstsn.timing.stats import paired_times
from gstsn.timing.trace import category_shares, profile_steps
from gstsn.timing.variants import VARIANT_FIELDS
from gstsn.timing.verdict import build_verdict, write_verdict
from gstsn.timing.workloads import MATMUL_DTYPE, Workload

NO_VARIANT = dict.fromkeys(VARIANT_FIELDS)  # a model-independent case's variant columns (data loading)


def memory_method(device: torch.device) -> str:
    if device.type == "cuda":
        return "torch.cuda.max_memory_allocated above the allocation before the call"
    return "process RSS sampled every 2 ms above the RSS before the call"


def peak_reference(workload: Workload, matmul_size: int) -> tuple[float, str]:
    """GFLOP/s of a square matmul in the case's precision on its device, measured now; and how it was measured."""
    dtype = workload.case.dtype
    torch_dtype = MATMUL_DTYPE[dtype]
    device = workload.device
    if device.type == "cuda":
        saved = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
        try:
            value = matmul_gflops(matmul_size, repeats=5, device=device, dtype=torch_dtype)
        finally:
            torch.backends.cuda.matmul.allow_tf32 = saved
    else:
        value = matmul_gflops(matmul_size, repeats=5, device=device, dtype=torch_dtype)
    return value, f"best of 5 {matmul_size}x{matmul_size} {dtype} matmuls just before the benchmark"


def row_info(workload: Workload, flops: int, peak: float, peak_method: str, mem: int) -> dict[str, Any]:
    """The ``extra_info`` of a benchmark: every ``timing.csv`` field that is not computed from the rounds."""
    case = workload.case
    variant_cols = case.variant.columns() if case.variant is not None else {"model": "any", **NO_VARIANT}
    info = {
        "phase": case.phase,
        **variant_cols,
        "input_type": case.input_type,
        "device": case.device,
        "dtype": case.dtype,
        "batch": case.batch,
        "frames": case.frames,
        "height": workload.height,
        "width": workload.width,
        "flops": int(flops),
        "peak_gflops_per_s": float(peak),
        "peak_mem_bytes": int(mem),
        "variant": case.variant.id if case.variant is not None else f"data-{case.input_type}",
        "case_id": case.id,
        "profile": case.profile.name,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "mem_method": memory_method(workload.device),
        "peak_method": peak_method,
    }
    return info


def run_benchmark(benchmark: Any, workload: Workload) -> dict[str, Any]:
    """Time ``workload`` with pytest-benchmark (pedantic: the profile's warm-up and rounds, 1 call per round), then
    count its FLOPs and peak memory in one extra call; fills and returns ``benchmark.extra_info``."""
    case = workload.case
    reps = case.profile.repeats[case.phase]
    peak, peak_method = peak_reference(workload, case.profile.matmul_size)
    benchmark.pedantic(workload.fn, rounds=reps.rounds, warmup_rounds=reps.warmup, iterations=1)
    flops: list[int] = []
    count = case.phase != "data_loading"
    mem = peak_memory_bytes(lambda: flops.append(count_flops(workload.fn)) if count else workload.fn(), workload.device)
    benchmark.extra_info.update(row_info(workload, flops[0] if flops else 0, peak, peak_method, mem))
    return benchmark.extra_info


def _pair_record(pair: Pair) -> dict[str, Any]:
    return {
        "pair_id": pair.id,
        "kind": pair.kind,
        "phase": pair.phase,
        "device": pair.b.device,
        "dtype": pair.b.dtype,
        "a_dtype": pair.a.dtype,
        "a": pair.a.variant.id,
        "b": pair.b.variant.id,
        "batch": pair.b.batch,
        "frames": pair.b.frames,
    }


def write_pair_skip(raw_dir: Path, pair: Pair, reason: str) -> None:
    """Record why a pair was not measured (the verdict says so instead of leaving it out)."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    (raw_dir / paired_file(pair.id)).write_text(json.dumps({**_pair_record(pair), "skipped": reason}, indent=1))


def run_pair(raw_dir: Path, pair: Pair, wa: Workload, wb: Workload) -> dict[str, Any]:
    """Time ``wa`` and ``wb`` (GaitSet and GSTSN, or one model in fp32 and bf16) alternately and write
    ``raw/paired_<id>.json``."""
    reps = pair.b.profile.repeats[pair.phase]
    ta, tb = paired_times(wa.fn, wb.fn, pairs=reps.pairs, warmup=max(1, reps.warmup))
    record = {**_pair_record(pair), "times_a": ta, "times_b": tb}
    raw_dir.mkdir(parents=True, exist_ok=True)
    (raw_dir / paired_file(pair.id)).write_text(json.dumps(record, indent=1))
    return record


def run_profile(out_dir: Path, workload: Workload) -> dict[str, Any]:
    """Profile the workload's training steps: the trace under ``traces/<label>/``, its op table in
    ``raw/top_ops_<label>.csv`` and its category shares and forward scopes in ``raw/breakdown_<label>.json``."""
    case = workload.case
    trace_dir = out_dir / TRACES_DIR / case.label
    if trace_dir.exists():
        shutil.rmtree(trace_dir)
    prof = case.profile
    ops, scopes = profile_steps(
        workload.fn, workload.device, trace_dir, case.label, prof.profiler_warmup, prof.profiler_active, workload.model
    )
    raw = out_dir / RAW_DIR
    raw.mkdir(parents=True, exist_ok=True)
    ops.insert(0, "model_variant", case.label)
    ops["device"], ops["dtype"] = case.device, case.dtype
    ops.to_csv(raw / top_ops_part(case.label), index=False)
    record = {
        "label": case.label,
        "model": case.variant.model,
        "variant": case.variant.id,
        "device": case.device,
        "dtype": case.dtype,
        "steps": prof.profiler_active,
        "categories": category_shares(ops),
        "scopes": scopes,
    }
    (raw / breakdown_file(case.label)).write_text(json.dumps(record, indent=1))
    return record


def clear_outputs(out_dir: str | Path) -> None:
    """Remove a previous run's outputs (only the suite's own files and folders) so runs never mix."""
    out_dir = Path(out_dir)
    for name in OUTPUT_FILES:
        (out_dir / name).unlink(missing_ok=True)
    for name in OUTPUT_DIRS:
        if (out_dir / name).is_dir():
            shutil.rmtree(out_dir / name)


def device_description() -> str:
    """CPU model and thread count, plus the CUDA device name when there is one."""
    cpu = cpu_model()
    text = f"cpu: {cpu}, {torch.get_num_threads()} torch threads"
    if torch.cuda.is_available():
        text += f"; cuda: {torch.cuda.get_device_name(0)}"
    return text


def git_commit(repo: Path) -> tuple[str | None, bool | None]:
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None, None
    return commit, bool(dirty)


def run_info(profile: str, load_start: tuple[float, ...], wall_s: float, repo: Path) -> dict[str, Any]:
    """Provenance of the run for the verdict."""
    commit, dirty = git_commit(repo)
    return {
        "device": device_description(),
        "profile": profile,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cpu_bf16": cpu_bf16_info(),
        "load_average": {"start": list(load_start), "end": list(os.getloadavg())},
        "suite_wall_s": wall_s,
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "dirty": dirty,
    }


def finalize(out_dir: str | Path, results_dir: str | Path | None, info: dict[str, Any]) -> str:
    """Write ``timing.csv``, ``top_ops.csv``, ``verdict.json`` and ``summary.txt`` from the suite's outputs; returns the
    summary text."""
    out_dir = Path(out_dir)
    bench_path = out_dir / BENCHMARK_FILE
    benchmark = read_benchmark_json(bench_path) if bench_path.is_file() else {"benchmarks": []}
    if bench_path.is_file():
        timing = write_timing_csv(bench_path, out_dir / TIMING_FILE)
    else:
        from gstsn.timing.results import timing_table

        timing = timing_table(benchmark)
        timing.to_csv(out_dir / TIMING_FILE, index=False)
    write_top_ops(out_dir / RAW_DIR, out_dir / TOP_OPS_FILE)
    verdict = build_verdict(out_dir, results_dir, timing, benchmark, info)
    return write_verdict(out_dir, verdict)


__all__ = [
    "OUTPUT_DIRS",
    "OUTPUT_FILES",
    "clear_outputs",
    "device_description",
    "finalize",
    "memory_method",
    "peak_reference",
    "row_info",
    "run_benchmark",
    "run_info",
    "run_pair",
    "run_profile",
    "write_pair_skip",
]
