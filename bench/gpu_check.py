"""One prepared GPU check: environment, CUDA tests, the step-time matrix, LT evaluation time, paper GaitSet training.

    python bench/gpu_check.py                                   # on a GPU: everything into $OUT (or --out), ≤ 9 min
    python bench/gpu_check.py --phases train --resume-from DIR  # a later call: train only, resumed from DIR's files
    python bench/gpu_check.py --dry-run --out /tmp/gc           # the same at tiny size on the CPU (the test suite)

Phases, in order, each with a time allowance inside one budget (``--budget``, default 540 s; the script never runs
past it: a watchdog writes what exists and exits at the end of the budget):

1. ``env``: device, driver, torch, CUDA, cuDNN, and the same-run matmul rates (bf16, TF32, fp32);
2. ``tests``: ``pytest -m cuda`` in a subprocess (JUnit XML kept);
3. ``matrix``: the trainer's own training step (``Trainer.step``: frames unpacked on the device, BA+, fused Adam) at
   the paper batch (P×K 8×16 × 30 frames, 64×44) for GaitSet and GSTSN in fp32 / TF32 / bf16 × channels_last on/off
   × torch.compile on/off, plus the whole step as a CUDA graph (bf16, channels_last); GaitSet and GSTSN of each
   setting are timed in alternating rounds (ABBA), so their ratio is paired and gives the "20 % less time"
   per-iteration verdict (``gstsn.timing.verdict.per_iteration``); the GPU-busy share of GaitSet's bf16 steps from
   the profiler's kernel time. Compiled settings run while the allowance lasts, most useful first;
4. ``eval``: ``gstsn.eval.embed.evaluate_model`` over the LT test set (every frame) at several batch sizes;
5. ``train``: ``paper``-profile GaitSet on the real data with a time limit that fills what is left, rank-1 against
   training time, and a compact checkpoint (two files < 16 MiB, ``gstsn.train.compact``) that ``--resume-from``
   continues.

Output (at most 8 files, flat): ``gpu_check.json`` (everything), ``summary.txt`` (the tables), ``log.txt``,
``cuda_tests.xml``, ``train_log.csv``, ``eval_log.csv``, ``resume-state.pt``, ``resume-adam-bf16.pt``.
docs/gpu.md describes them and the exact device command.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gstsn.config import MODEL_NAMES, resolve_profile  # noqa: E402
from gstsn.timing.budget import Budget, Phase  # noqa: E402

DEFAULT_DATA = REPO / ".devdata" / "casia-b-sil-64x44.npz"
DEFAULT_WORK = REPO / ".cache" / "gpu_check"  # git-ignored, never carried
OUTPUT_FILES = (
    "gpu_check.json",
    "summary.txt",
    "log.txt",
    "cuda_tests.xml",
    "train_log.csv",
    "eval_log.csv",
    "resume-state.pt",
    "resume-adam-bf16.pt",
)
PHASES = ("env", "tests", "matrix", "eval", "train")
DATA_SOURCE_LABEL = "casia-b:casia-b-sil-64x44.npz"  # the config's source field: the same in every call, for resume
FILE_LIMIT_BYTES = 16 * 2**20

# The spec's plain reference on one H200 (shared/spec/models.md): GaitSet, no compile, no CUDA graphs.
REFERENCE_STEP_MS = {("fp32", False): 105.0, ("tf32", False): 56.0, ("bf16", False): 40.0, ("bf16", True): 33.5}
REFERENCE_PLAIN_MS = 33.5  # bf16 autocast + channels_last, the reference's fastest
REFERENCE_EVAL_S = 1.5
REFERENCE_CURVE = [  # training seconds, iterations, NM, BG, CL (bf16, no channels_last, 24.4 it/s)
    (63, 1475, 82.9, 70.9, 47.6),
    (125, 3011, 87.6, 75.6, 54.8),
    (188, 4550, 91.0, 79.2, 58.6),
    (250, 6093, 91.4, 81.4, 61.8),
]
GOALS = {"gaitset_bf16_step_ms": 11.0, "gpu_busy_frac": 0.8, "lt_eval_s": 0.3, "nm_target": 91.4, "nm_within_s": 125.0}


# ----------------------------------------------------------------------------------------------------------------------
# Sizes: the real check and the dry run


class Sizes:
    """What each phase runs at; ``dry`` is the same code at tiny size on the CPU."""

    def __init__(self, dry: bool) -> None:
        self.dry = dry
        self.run_profile = "smoke" if dry else "paper"
        self.timing_profile = "tiny" if dry else "paper"
        self.dtypes = ("fp32",) if dry else ("bf16", "tf32", "fp32")
        self.compile_backend: str | bool = "eager" if dry else True  # dry: dynamo traces, no code generation
        self.warmup_steps = 2 if dry else 6  # > GraphedStep's 3 eager steps, so the capture happens in warm-up
        self.pairs = 2 if dry else 5
        self.round_s = 0.0 if dry else 0.25  # each timed round runs enough steps to take this long
        self.profile_steps = 2 if dry else 5
        self.eval_batch_frames = (64, 256) if dry else (4096, 16384, 65536)
        self.eval_repeats = 1 if dry else 2
        self.eval_interval_s = 0.0 if dry else 20.0  # periodic evaluation while training, in training seconds
        self.checkpoint_interval_s = 0.0 if dry else 60.0
        self.compile_estimate_s = 5.0 if dry else 60.0  # per model, before the first compile is measured
        self.allowance = {"tests": 100.0, "matrix": 170.0, "eval": 35.0} if not dry else {}
        self.reserve_s = 20.0 if not dry else 0.0
        self.train_overrides: dict[str, Any] = {"iterations": 6, "log_every": 1} if dry else {"log_every": 50}


# ----------------------------------------------------------------------------------------------------------------------
# Output


class Report:
    """The JSON report and the log, written as the run goes so that a killed run leaves what it measured."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.data: dict[str, Any] = {"schema": 1, "kind": "gstsn gpu_check"}
        self._log = (out / "log.txt").open("a", encoding="utf-8")
        self._lock = threading.Lock()
        self.t0 = time.monotonic()

    def log(self, msg: str) -> None:
        line = f"[{time.monotonic() - self.t0:7.1f}s] {msg}"
        with self._lock:
            print(line, flush=True)
            self._log.write(line + "\n")
            self._log.flush()

    def raw(self, text: str) -> None:
        with self._lock:
            self._log.write(text if text.endswith("\n") else text + "\n")
            self._log.flush()

    def save(self) -> None:
        with self._lock:
            tmp = self.out / "gpu_check.json.tmp"
            tmp.write_text(json.dumps(self.data, indent=2, default=_json_default) + "\n", encoding="utf-8")
            os.replace(tmp, self.out / "gpu_check.json")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


# ----------------------------------------------------------------------------------------------------------------------
# Phase 1: environment


def _run_text(cmd: list[str], timeout: float = 20) -> str | None:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def environment(device: torch.device) -> dict[str, Any]:
    from gstsn.timing.flops import matmul_gflops

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_runtime": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "device": str(device),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "git_commit": _run_text(["git", "-C", str(REPO), "rev-parse", "HEAD"]),
    }
    try:
        import triton

        env["triton"] = triton.__version__
    except ImportError:
        env["triton"] = None
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(
            device_name=props.name,
            capability=f"{props.major}.{props.minor}",
            multiprocessors=props.multi_processor_count,
            memory_gib=round(props.total_memory / 2**30, 1),
            nvidia_smi=_run_text(
                [
                    "nvidia-smi",
                    "--query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.draw,temperature.gpu",
                    "--format=csv,noheader",
                ]
            ),
        )
        if env["nvidia_smi"]:
            env["driver"] = env["nvidia_smi"].split(",")[1].strip()
        saved = torch.backends.cuda.matmul.allow_tf32
        try:
            env["matmul_tflops_bf16_8192"] = matmul_gflops(8192, 10, device, torch.bfloat16) / 1e3
            torch.backends.cuda.matmul.allow_tf32 = True
            env["matmul_tflops_tf32_8192"] = matmul_gflops(8192, 5, device, torch.float32) / 1e3
            torch.backends.cuda.matmul.allow_tf32 = False
            env["matmul_tflops_fp32_4096"] = matmul_gflops(4096, 5, device, torch.float32) / 1e3
        finally:
            torch.backends.cuda.matmul.allow_tf32 = saved
    else:
        env["device_name"] = platform.processor() or "cpu"
        env["matmul_tflops_fp32_1024"] = matmul_gflops(1024, 3, device) / 1e3
    return env


# ----------------------------------------------------------------------------------------------------------------------
# Phase 2: the cuda-marked tests


def junit_summary(path: Path) -> dict[str, Any]:
    """Counts and per-test outcomes of a pytest JUnit XML file."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    cases = []
    for case in root.iter("testcase"):
        outcome = "passed"
        detail = ""
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                detail = (el.get("message") or "")[:300]
                break
        cases.append(
            {
                "test": f"{case.get('classname')}::{case.get('name')}",
                "outcome": outcome,
                "time_s": float(case.get("time", 0)),
                **({"detail": detail} if detail else {}),
            }
        )
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return {**counts, "cases": cases}


def run_cuda_tests(ph: Phase, rep: Report, tests: list[str], data: Path) -> dict[str, Any]:
    xml = rep.out / "cuda_tests.xml"
    cmd = [sys.executable, "-m", "pytest", "-m", "cuda", "-p", "no:cacheprovider", "-q", f"--junitxml={xml}", *tests]
    env = {**os.environ, "PYTHONPATH": str(REPO), "GSTSN_CASIA_B_NPZ": str(data)}
    timeout = max(5.0, ph.left())
    rep.log(f"tests: {' '.join(cmd[1:])} (timeout {timeout:.0f} s)")
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
        rep.raw(proc.stdout + proc.stderr)
        result: dict[str, Any] = {"exit_code": proc.returncode, "tail": (proc.stdout + proc.stderr)[-1500:]}
    except subprocess.TimeoutExpired as exc:
        ph.cut("the cuda tests (pytest killed at the phase allowance)")
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        rep.raw(out)
        result = {"exit_code": None, "tail": out[-1500:]}
    if xml.is_file():
        result.update(junit_summary(xml))
    rep.log(
        f"tests: {result.get('passed', '?')} passed, {result.get('failures', '?')} failed, "
        f"{result.get('errors', '?')} errors, {result.get('skipped', '?')} skipped (exit {result['exit_code']})"
    )
    return result


# ----------------------------------------------------------------------------------------------------------------------
# Phase 3: the step-time matrix


@contextlib.contextmanager
def tf32(enabled: bool, device: torch.device) -> Iterator[None]:
    """TF32 on or off for matmuls and cuDNN convolutions inside the block (CUDA), restored afterwards."""
    if device.type != "cuda":
        yield
        return
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepBench:
    """One trainer (one model and setting) and its batch stream; ``steps(n)`` runs ``n`` training steps and waits."""

    def __init__(
        self, cfg, dataset, train_subjects, device, work: Path, cl: bool, mode: str, backend, bench: bool = False
    ) -> None:
        from gstsn.models import build_model
        from gstsn.train.trainer import Trainer

        self.device = device
        self.trainer = Trainer(
            cfg,
            work,
            dataset=dataset,
            train_subjects=train_subjects,
            device=device,
            progress=False,
            model_factory=partial(build_model, channels_last=cl),
            compile_model=backend if mode == "compile" else False,
            cuda_graph=mode == "graph",
            cudnn_benchmark=bench,
        )
        self.stream = self.trainer.batch_stream()
        self.first_step_s: float | None = None
        self.steps_done = 0

    def steps(self, n: int) -> None:
        for _ in range(n):
            self.trainer.step(self.stream.next())
        synchronize(self.device)
        self.steps_done += n

    def warmup(self, n: int) -> float:
        """Run ``n`` steps (compilation and graph capture happen here); returns the mean of the last half, seconds."""
        t = time.perf_counter()
        self.steps(1)
        self.first_step_s = time.perf_counter() - t
        half = max(1, (n - 1) // 2)
        self.steps(max(0, n - 1 - half))
        t = time.perf_counter()
        self.steps(half)
        return (time.perf_counter() - t) / half

    def close(self) -> None:
        self.stream.close()


def matrix_settings(sizes: Sizes, device: torch.device) -> list[dict[str, Any]]:
    """The settings in the order they run, most useful first: the first precision (bf16) eager with and without
    channels_last, its CUDA graph and compiled steps, eager and graph with cuDNN's algorithm timing
    (``cudnn.benchmark``), the other precisions eager, then the other compiled settings while time lasts."""
    first, rest = sizes.dtypes[0], sizes.dtypes[1:]
    out = [{"dtype": first, "channels_last": cl, "mode": "eager"} for cl in (True, False)]
    out += [{"dtype": first, "channels_last": True, "mode": m} for m in ("graph", "compile")]
    out += [{"dtype": first, "channels_last": True, "mode": m, "cudnn_benchmark": True} for m in ("eager", "graph")]
    out += [{"dtype": d, "channels_last": cl, "mode": "eager"} for d in rest for cl in (True, False)]
    out += [{"dtype": d, "channels_last": True, "mode": "compile"} for d in rest]
    out += [{"dtype": d, "channels_last": False, "mode": "compile"} for d in sizes.dtypes]
    for s in out:
        s.setdefault("cudnn_benchmark", False)
        bench = "+bench" if s["cudnn_benchmark"] else ""
        s["label"] = f"{s['dtype']}-{'cl' if s['channels_last'] else 'nchw'}-{s['mode']}{bench}"
        if s["mode"] == "graph" and device.type != "cuda":
            s["skip"] = "a CUDA graph needs a CUDA device"
    return out


def busy_fraction(bench: StepBench, steps: int, step_s: float) -> dict[str, Any]:
    """Kernel time per step (torch.profiler, CUDA activity) over the unprofiled step time: the GPU-busy share."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if bench.device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        bench.steps(steps)
    # device-side events only (kernels, copies, memsets): a CPU op's device time would count its kernels twice
    total_us = sum(e.time_range.elapsed_us() for e in prof.events() if e.device_type == DeviceType.CUDA)
    kernel_ms = total_us / 1e3 / steps
    if bench.device.type == "cuda" and total_us == 0:
        return {"kernel_ms_per_step": None, "busy_frac": None, "busy_note": "the profiler saw no device activity"}
    return {"kernel_ms_per_step": kernel_ms, "busy_frac": kernel_ms / (step_s * 1e3) if step_s > 0 else None}


def run_matrix(ph: Phase, rep: Report, sizes: Sizes, device: torch.device, work: Path) -> dict[str, Any]:
    from gstsn.data.cache import SilhouetteCache
    from gstsn.timing.flops import count_flops
    from gstsn.timing.profiles import resolve_timing_profile
    from gstsn.timing.stats import paired_ratio, paired_times
    from gstsn.timing.synthetic import synthetic_subjects, write_synthetic_cache
    from gstsn.timing.verdict import per_iteration

    tprof = resolve_timing_profile(sizes.timing_profile, device.type)
    dataset = SilhouetteCache.open(write_synthetic_cache(work / "synthetic", tprof, 64, 44))
    train_subjects, _ = synthetic_subjects(tprof)
    rng = np.random.default_rng(0)
    cells: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    flops: dict[str, int] = {}
    compile_s: list[float] = []
    eager_pair_s: list[float] = []
    result: dict[str, Any] = {"batch": None, "cells": cells}
    for setting in matrix_settings(sizes, device):
        label = setting["label"]
        if setting.get("skip"):
            cells += [{"model": m, **setting, "status": f"skipped: {setting['skip']}"} for m in MODEL_NAMES]
            continue
        need = (2 * max(compile_s or [sizes.compile_estimate_s]) if setting["mode"] == "compile" else 0.0) + (
            max(eager_pair_s) if eager_pair_s else 0.0
        )
        if not ph.fits(need):
            ph.cut(f"setting {label}", need)
            cells += [{"model": m, **setting, "status": "skipped: phase allowance"} for m in MODEL_NAMES]
            continue
        t_setting = time.perf_counter()
        benches: dict[str, StepBench] = {}
        row: dict[str, dict[str, Any]] = {}
        try:
            with tf32(setting["dtype"] == "tf32", device):
                for model, temporal in (("gaitset", False), ("gstsn", True)):
                    cfg = resolve_profile(
                        sizes.run_profile,
                        temporal=temporal,
                        amp=setting["dtype"] == "bf16",
                        batch_p=tprof.batch_p,
                        batch_k=tprof.batch_k,
                        frames=tprof.frames,
                        prefetch=2,
                    )
                    result["batch"] = f"{tprof.batch_p}x{tprof.batch_k}x{tprof.frames} at 64x44"
                    if device.type == "cuda":
                        torch.cuda.reset_peak_memory_stats(device)
                    b = StepBench(
                        cfg, dataset, train_subjects, device, work / f"run-{model}-{label}", setting["channels_last"],
                        setting["mode"], sizes.compile_backend, setting["cudnn_benchmark"],
                    )  # fmt: skip
                    benches[model] = b
                    est = b.warmup(sizes.warmup_steps)
                    row[model] = {"first_step_s": b.first_step_s, "warmup_step_s": est}
                    if setting["mode"] == "compile":
                        compile_s.append(b.first_step_s)
                    if setting["mode"] == "eager" and model not in flops:
                        flops[model] = count_flops(lambda b=b: b.steps(1))
                    if device.type == "cuda":
                        row[model]["peak_mem_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
                est = max(row[m]["warmup_step_s"] for m in row)
                n = max(2, math.ceil(sizes.round_s / max(est, 1e-6)))
                ga, gs = benches["gaitset"], benches["gstsn"]
                ta, tb = paired_times(partial(ga.steps, n), partial(gs.steps, n), sizes.pairs, warmup=0)
                ta, tb = [t / n for t in ta], [t / n for t in tb]
                for model, times in (("gaitset", ta), ("gstsn", tb)):
                    med = float(np.median(times))
                    cell = {"model": model, **setting, "status": "measured", "steps_per_round": n}
                    cell.update(row[model], step_ms=med * 1e3, step_ms_rounds=[t * 1e3 for t in times])
                    if model in flops:
                        cell["tflop_per_step"] = flops[model] / 1e12
                        cell["tflops"] = flops[model] / med / 1e12
                    ref = REFERENCE_STEP_MS.get((setting["dtype"], setting["channels_last"]))
                    if model == "gaitset":
                        cell["speedup_vs_plain_reference"] = REFERENCE_PLAIN_MS / (med * 1e3)
                        if ref is not None and setting["mode"] == "eager":
                            cell["speedup_vs_same_setting_reference"] = ref / (med * 1e3)
                    if model == "gaitset" and setting["dtype"] == sizes.dtypes[0] and setting["channels_last"]:
                        cell.update(busy_fraction(benches["gaitset"], sizes.profile_steps, med))
                    cells.append(cell)
                est_ratio = paired_ratio(ta, tb, rng)
                entries.append(
                    {
                        "phase": "train_step",
                        "device": device.type,
                        "dtype": label,
                        "status": "measured",
                        "ratio": est_ratio.ratio,
                        "ci_low": est_ratio.low,
                        "ci_high": est_ratio.high,
                        "n": est_ratio.n,
                        "method": est_ratio.method,
                    }
                )
            if setting["mode"] == "eager":
                eager_pair_s.append(time.perf_counter() - t_setting)
            rep.log(
                f"matrix {label}: GaitSet {cells[-2]['step_ms']:.2f} ms, GSTSN {cells[-1]['step_ms']:.2f} ms "
                f"(ratio {entries[-1]['ratio']:.2f}), setting took {time.perf_counter() - t_setting:.1f} s"
            )
        except Exception as exc:  # one setting failing (a compile or a capture) must not stop the others
            import traceback

            rep.raw(traceback.format_exc())
            rep.log(f"matrix {label}: error {type(exc).__name__}: {exc}")
            done = {c["model"] for c in cells if c.get("label") == label}
            for model in MODEL_NAMES:
                if model not in done:
                    status = f"error: {type(exc).__name__}: {exc}"
                    cells.append({"model": model, **setting, **row.get(model, {}), "status": status})
        finally:
            for b in benches.values():
                b.close()
            del benches
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()
        rep.data["matrix"] = result
        rep.save()
    result["ratios"] = matrix_ratios(cells)
    result["per_iteration_verdict"] = per_iteration(entries)
    result["paired"] = entries
    return result


def matrix_ratios(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """Ratios of the measured cells to one another: to GaitSet fp32 NCHW eager, and each factor's on/off ratio."""
    ok = {(c["model"], c["dtype"], c["channels_last"], c["mode"]): c["step_ms"] for c in cells if "step_ms" in c}
    out: dict[str, Any] = {"base": None, "vs_base": {}, "channels_last_on_off": {}, "compile_on_off": {}}
    base_key = next((k for k in (("gaitset", "fp32", False, "eager"),) if k in ok), None)
    if base_key:
        out["base"] = "gaitset-fp32-nchw-eager"
        for (m, d, cl, mode), ms in ok.items():
            out["vs_base"][f"{m}-{d}-{'cl' if cl else 'nchw'}-{mode}"] = ms / ok[base_key]
    for (m, d, cl, mode), ms in ok.items():
        if cl and (m, d, False, mode) in ok:
            out["channels_last_on_off"][f"{m}-{d}-{mode}"] = ms / ok[(m, d, False, mode)]
        if mode in ("compile", "graph") and (m, d, cl, "eager") in ok:
            key = "compile_on_off" if mode == "compile" else "graph_vs_eager"
            out.setdefault(key, {})[f"{m}-{d}-{'cl' if cl else 'nchw'}"] = ms / ok[(m, d, cl, "eager")]
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Data: the real npz imported in the background while the GPU phases run


class DataImport:
    """``gstsn data import NPZ CACHE`` in a subprocess (no GIL shared with the timing), unless the cache exists."""

    def __init__(self, npz: Path, cache: Path, rep: Report) -> None:
        from gstsn.data.cache import is_cache

        self.npz, self.cache, self.rep = npz, cache, rep
        self.proc: subprocess.Popen | None = None
        self.error: str | None = None
        self.t0 = time.monotonic()
        if is_cache(cache):
            rep.log(f"data: cache {cache} already there")
        elif not npz.is_file():
            self.error = f"no data at {npz} (copy the real npz there and name its folder in carry)"
            rep.log(f"data: {self.error}")
        else:
            cmd = [sys.executable, "-m", "gstsn", "data", "import", str(npz), str(cache), "--overwrite"]
            cmd.append("--no-progress")
            self.proc = subprocess.Popen(
                cmd,
                cwd=REPO,
                env={**os.environ, "PYTHONPATH": str(REPO)},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            rep.log(f"data: importing {npz} into {cache} in the background")

    def wait(self, timeout: float) -> Any:
        """The opened cache, or raise with the reason."""
        from gstsn.data.cache import SilhouetteCache

        if self.error:
            raise RuntimeError(self.error)
        if self.proc is not None:
            try:
                out, _ = self.proc.communicate(timeout=max(1.0, timeout))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.error = f"the import of {self.npz} did not finish within {timeout:.0f} s"
                raise RuntimeError(self.error) from None
            self.rep.raw(out or "")
            if self.proc.returncode != 0:
                self.error = f"gstsn data import exited {self.proc.returncode}: {(out or '')[-500:]}"
                raise RuntimeError(self.error)
            self.rep.log(f"data: imported in {time.monotonic() - self.t0:.1f} s")
            self.proc = None
        return SilhouetteCache.open(self.cache)


def lt_split(dataset: Any) -> Any:
    from gstsn.data.splits import load_split

    return load_split("LT", sorted(set(dataset.index["subject"])))


# ----------------------------------------------------------------------------------------------------------------------
# Phase 4: evaluation of the LT test set


def run_eval(ph: Phase, rep: Report, sizes: Sizes, device: torch.device, dataset: Any) -> dict[str, Any]:
    from gstsn.data.device_frames import DeviceFrames
    from gstsn.eval.embed import embed_for_run, evaluate_model, rows_of_subjects
    from gstsn.train.setup import seeded_model

    split = lt_split(dataset)
    rows, _ = rows_of_subjects(dataset, split.test)
    t = time.perf_counter()
    frames = DeviceFrames.from_cache(dataset, device)
    synchronize(device)
    out: dict[str, Any] = {
        "sequences": int(rows.size),
        "frames": int(dataset.lengths[rows].sum()),
        "test_subjects": len(split.test),
        "upload_s": time.perf_counter() - t,
        "upload_bytes": frames.nbytes,
        "model": "gaitset (paper profile, seeded initial weights: the cost does not depend on the weights)",
        "runs": [],
    }
    cfg0 = resolve_profile(sizes.run_profile, temporal=False, source=DATA_SOURCE_LABEL)
    model = seeded_model(cfg0).to(device)
    for bf in sizes.eval_batch_frames:
        cfg = resolve_profile(sizes.run_profile, temporal=False, source=DATA_SOURCE_LABEL, eval_batch_frames=bf)
        times = []
        for i in range(sizes.eval_repeats + 1):  # the first run warms up (cuDNN plans for new shapes)
            last = times[-1] if times else 10.0
            if not ph.fits(1.5 * last):
                ph.cut(f"evaluation at eval_batch_frames={bf}, run {i}", 1.5 * last)
                break
            synchronize(device)
            t = time.perf_counter()
            result, _ = evaluate_model(model, dataset, split.test, cfg, device, frame_source=frames)
            synchronize(device)
            times.append(time.perf_counter() - t)
        if len(times) < 2:
            out["runs"].append({"eval_batch_frames": bf, "warmup_s": times[0] if times else None})
            continue
        entry = {"eval_batch_frames": bf, "warmup_s": times[0], "times_s": times[1:], "best_s": min(times[1:])}
        if ph.fits(2 * entry["best_s"]):
            synchronize(device)
            t = time.perf_counter()
            embed_for_run(model, dataset, rows, cfg, device, frame_source=frames, as_tensor=True)
            synchronize(device)
            entry["embed_only_s"] = time.perf_counter() - t
        out["runs"].append(entry)
        rep.log(f"eval: {rows.size} sequences, eval_batch_frames={bf}: {entry['best_s']:.3f} s")
    timed = [r for r in out["runs"] if "best_s" in r]
    if timed:
        best = min(timed, key=lambda r: r["best_s"])
        out.update(best_s=best["best_s"], best_eval_batch_frames=best["eval_batch_frames"])
        out["speedup_vs_reference"] = REFERENCE_EVAL_S / best["best_s"]
    del frames, model
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Phase 5: paper GaitSet training on the real data


def choose_train_mode(matrix: dict[str, Any] | None, requested: str) -> tuple[str, str]:
    """The step mode for training: ``requested`` unless ``auto``; auto = the fastest measured GaitSet bf16
    channels-last setting among eager, compile and graph (eager when the matrix did not run)."""
    if requested != "auto":
        return requested, "asked for"
    cells = [
        c
        for c in (matrix or {}).get("cells", [])
        if c["model"] == "gaitset" and c["channels_last"] and c["dtype"] == "bf16" and "step_ms" in c
    ]
    if not cells:
        return "eager", "no bf16 channels-last GaitSet timing in this run"
    best = min(cells, key=lambda c: c["step_ms"])
    mode = best["mode"] + ("+bench" if best.get("cudnn_benchmark") else "")
    return mode, f"fastest GaitSet bf16 channels-last step in the matrix ({best['label']}, {best['step_ms']:.2f} ms)"


def step_estimate(matrix: dict[str, Any] | None, mode: str) -> float | None:
    """Seconds per GaitSet bf16 channels-last step of ``mode`` (``eager``, ``graph+bench``, ...) in the matrix."""
    for c in (matrix or {}).get("cells", []):
        if c["model"] == "gaitset" and c["dtype"] == "bf16" and c["channels_last"] and c["label"].endswith(mode):
            return c.get("step_ms", None) and c["step_ms"] / 1e3
    return None


def earlier_report(folder: Path | None) -> dict[str, Any]:
    """The ``gpu_check.json`` a resumed call finds beside its checkpoint (its matrix picks the training mode)."""
    path = folder / "gpu_check.json" if folder is not None else None
    if path is None or not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def read_eval_curve(path: Path) -> list[dict[str, Any]]:
    """eval_log.csv → one point per evaluation: iteration, training seconds, NM / BG / CL (identical views excluded)."""
    import csv

    if not path.is_file():
        return []
    points: dict[int, dict[str, Any]] = {}
    with path.open(newline="") as fh:
        for r in csv.DictReader(fh):
            p = points.setdefault(int(r["iteration"]), {"iteration": int(r["iteration"]), "train_s": 0.0})
            p["train_s"] = float(r["wall_time"])
            p[r["probe_set"]] = float(r["rank1_excl"])
    return [points[k] for k in sorted(points)]


def compare_curve(curve: list[dict[str, Any]]) -> dict[str, Any]:
    """Our curve against the reference: rank-1 at the reference's times, and when NM first reached 91.4."""
    at_ref = []
    for t, it, nm, bg, cl in REFERENCE_CURVE:
        ours = [p for p in curve if p["train_s"] <= t]
        mine = ours[-1] if ours else None
        at_ref.append(
            {
                "train_s": t,
                "reference": {"iterations": it, "NM": nm, "BG": bg, "CL": cl},
                "ours": {k: mine.get(k) for k in ("iteration", "train_s", "NM", "BG", "CL")} if mine else None,
            }
        )
    reached = next((p for p in curve if p.get("NM", -1) >= GOALS["nm_target"]), None)
    return {
        "at_reference_times": at_ref,
        "first_nm_91_4": {"train_s": reached["train_s"], "iteration": reached["iteration"]} if reached else None,
        "time_to_accuracy_speedup": (250.0 / reached["train_s"]) if reached and reached["train_s"] > 0 else None,
    }


def prepare_run_dir(run_dir: Path, resume_from: Path | None, rep: Report, resume_local: bool = False) -> bool:
    """Make ``run_dir`` ready: a fresh start, or a resume (from its own newer checkpoint, else from the compact
    files and logs in ``resume_from``; ``resume_local``: from its own checkpoint only). True when the run resumes."""
    from gstsn.train.checkpoint import latest_checkpoint
    from gstsn.train.compact import has_compact, read_compact, restore_compact

    if resume_local and resume_from is None:
        local = latest_checkpoint(run_dir / "checkpoints")
        if local is None:
            raise RuntimeError(f"--resume: {run_dir / 'checkpoints'} holds no checkpoint (a fresh machine? use "
                               "--resume-from with the returned files)")  # fmt: skip
        rep.log(f"train: resuming from {local} (this machine's own checkpoint)")
        return True
    if resume_from is None:
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        return False
    if not has_compact(resume_from):
        raise RuntimeError(f"--resume-from {resume_from} lacks resume-state.pt / resume-adam-bf16.pt")
    wanted = int(read_compact(resume_from)["iteration"])
    local = latest_checkpoint(run_dir / "checkpoints")
    if local is not None and int(local.stem.split("-")[1]) >= wanted:
        rep.log(f"train: resuming from {local} (this machine's own checkpoint, iteration >= {wanted})")
        return True
    shutil.rmtree(run_dir, ignore_errors=True)
    (run_dir / "checkpoints").mkdir(parents=True)
    for name in ("train_log.csv", "eval_log.csv"):
        if (resume_from / name).is_file():
            shutil.copy2(resume_from / name, run_dir / name)
    path = restore_compact(resume_from, run_dir / "checkpoints")
    rep.log(f"train: resuming from the compact checkpoint in {resume_from} (iteration {wanted}) -> {path}")
    return True


def run_train(
    ph: Phase,
    rep: Report,
    sizes: Sizes,
    device: torch.device,
    dataset: Any,
    run_dir: Path,
    mode: str,
    why: str,
    step_s: float | None,
    eval_s: float | None,
    eval_batch_frames: int | None,
    resume_from: Path | None,
    resume_local: bool = False,
) -> dict[str, Any]:
    from gstsn.eval.embed import evaluate_model
    from gstsn.train.compact import write_compact
    from gstsn.train.logs import EVAL_COLUMNS, summary_rows
    from gstsn.train.trainer import Trainer

    split = lt_split(dataset)
    # unknown step time: assume a fast one (fewer evaluations than planned, never more: the budget stays safe)
    step_s = step_s or (0.01 if device.type == "cuda" else 0.05)
    eval_s = eval_s or (2.0 if device.type == "cuda" else 1.0)
    overrides = dict(sizes.train_overrides)
    if sizes.eval_interval_s:
        overrides["eval_every"] = max(1, round(sizes.eval_interval_s / step_s))
        overrides["checkpoint_every"] = max(1, round(sizes.checkpoint_interval_s / step_s))
    else:
        overrides.update(eval_every=3, checkpoint_every=3)
    if eval_batch_frames:
        overrides["eval_batch_frames"] = eval_batch_frames
    cfg = resolve_profile(
        sizes.run_profile, temporal=False, source=DATA_SOURCE_LABEL, keep_checkpoints=1, prefetch=2, **overrides
    )
    resumed = prepare_run_dir(run_dir, resume_from, rep, resume_local)
    out: dict[str, Any] = {
        "profile": sizes.run_profile,
        "mode": mode,
        "mode_reason": why,
        "resumed": resumed,
        "config": cfg.flat(),
        "attempts": [],
    }
    trainer = None
    for attempt_mode in [mode] + (["eager"] if mode != "eager" else []):
        step_mode, bench = attempt_mode.split("+")[0], attempt_mode.endswith("+bench")
        reserve = 3 * eval_s + 10.0
        allot = (ph.left() - reserve) / (1 + (eval_s / sizes.eval_interval_s if sizes.eval_interval_s else 0.0))
        if allot < (10.0 if not sizes.dry else 0.0):
            ph.cut(f"training in mode {attempt_mode}", reserve + 10)
            break
        try:
            trainer = Trainer(
                cfg,
                run_dir,
                dataset=dataset,
                train_subjects=split.train,
                test_subjects=split.test,
                device=device,
                resume=resumed or (run_dir / "checkpoints").is_dir(),
                progress=False,
                compile_model=sizes.compile_backend if step_mode == "compile" else False,
                cuda_graph=step_mode == "graph",
                cudnn_benchmark=bench,
            )
            start_train_s = trainer.state.train_time
            trainer.time_limit_s = None if sizes.dry else start_train_s + allot
            limit = "none (dry run: to the end)" if sizes.dry else f"{allot:.0f} s more"
            rep.log(
                f"train: mode {attempt_mode}, from iteration {trainer.state.iteration} ({start_train_s:.1f} s "
                f"trained), time limit {limit}, eval every {cfg.train.eval_every} iterations"
            )
            res = trainer.run()
            out["attempts"].append({"mode": attempt_mode, "status": res.status})
            out.update(
                mode=attempt_mode,
                status=res.status,
                iteration=res.iteration,
                train_s_total=res.train_time,
                train_s_this_call=res.train_time - start_train_s,
                sec_per_iter_this_call=res.sec_per_iter,
                iterations_per_s=1.0 / res.sec_per_iter if res.sec_per_iter > 0 else None,
                last_stats=res.last_stats,
                collapse=res.collapse,
            )
            break
        except Exception as exc:
            import traceback

            rep.raw(traceback.format_exc())
            rep.log(f"train: mode {attempt_mode} failed: {type(exc).__name__}: {exc}")
            out["attempts"].append({"mode": attempt_mode, "status": f"error: {type(exc).__name__}: {exc}"})
            trainer = None
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()
    if trainer is None:
        raise RuntimeError(f"training did not run: {out['attempts']}")
    curve = read_eval_curve(run_dir / "eval_log.csv")
    if not curve or curve[-1]["iteration"] != trainer.state.iteration:  # the time limit stopped between evaluations
        import csv

        t = time.perf_counter()
        result, _ = evaluate_model(trainer.module, dataset, split.test, cfg, device, frame_source=trainer.frame_source)
        out["final_eval_s"] = time.perf_counter() - t
        rows = summary_rows(result, trainer.state.iteration, trainer.state.train_time, cfg.eval.distance)
        with (run_dir / "eval_log.csv").open("a", newline="") as fh:
            csv.DictWriter(fh, fieldnames=EVAL_COLUMNS).writerows({k: r[k] for k in EVAL_COLUMNS} for r in rows)
        curve = read_eval_curve(run_dir / "eval_log.csv")
    out["curve"] = curve
    out["final"] = curve[-1] if curve else None
    out["vs_reference"] = compare_curve(curve)
    out["published_gaitset"] = {"NM": 95.0, "BG": 87.2, "CL": 70.4}
    if trainer.last_ckpt is not None:
        sizes_b = write_compact(trainer.last_ckpt, rep.out)
        out["checkpoint"] = {
            "full_bytes": trainer.last_ckpt.stat().st_size,
            "compact_files": sizes_b,
            "under_16_mib": all(v < FILE_LIMIT_BYTES for v in sizes_b.values()),
            "iteration": trainer.state.iteration,
            "note": "weights, sampler and RNG states exact (fp32); Adam's two moments rounded to bf16 (gstsn.train."
            "compact): the full 31 MB checkpoint fits neither the 16 MiB per returned file nor, beside the 42.5 MB "
            "npz, the 64 MiB carried tree",
        }
    for name in ("train_log.csv", "eval_log.csv"):
        if (run_dir / name).is_file():
            shutil.copy2(run_dir / name, rep.out / name)
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Summary


def goal_checks(data: dict[str, Any]) -> dict[str, Any]:
    cells = data.get("matrix", {}).get("cells", [])
    gs = [c for c in cells if c["model"] == "gaitset" and c["dtype"] == "bf16" and "step_ms" in c]
    best = min(gs, key=lambda c: c["step_ms"]) if gs else None
    busy = [c["busy_frac"] for c in gs if c.get("busy_frac") is not None]
    ev = data.get("eval", {}).get("best_s")
    reached = (data.get("train", {}).get("vs_reference") or {}).get("first_nm_91_4")

    def check(value: Any, ok: bool | None) -> dict[str, Any]:
        return {"value": value, "met": ok}

    return {
        "gaitset_bf16_step_le_11ms": check(
            best and {"step_ms": best["step_ms"], "setting": best["label"]},
            None if best is None else best["step_ms"] <= GOALS["gaitset_bf16_step_ms"],
        ),
        "gpu_busy_gt_80pct": check(
            max(busy) if busy else None, None if not busy else max(busy) > GOALS["gpu_busy_frac"]
        ),
        "lt_eval_le_0_3s": check(ev, None if ev is None else ev <= GOALS["lt_eval_s"]),
        "nm_91_4_within_125s": check(
            reached, None if not data.get("train", {}).get("curve") else bool(reached and reached["train_s"] <= 125)
        ),
    }


def summary_text(data: dict[str, Any]) -> str:
    env = data.get("env", {})
    lines = [
        f"gstsn gpu_check{' (DRY RUN, CPU, tiny sizes: no figure here means anything)' if data.get('dry_run') else ''}",
        f"device {env.get('device_name')} ({env.get('device')}), driver {env.get('driver')}, torch {env.get('torch')}, "
        f"CUDA {env.get('cuda_runtime')}, cuDNN {env.get('cudnn')}",
    ]
    for k in ("matmul_tflops_bf16_8192", "matmul_tflops_tf32_8192", "matmul_tflops_fp32_4096"):
        if env.get(k):
            lines.append(f"  {k}: {env[k]:.0f}")
    tests = data.get("tests")
    if tests:
        lines.append(
            f"cuda tests: {tests.get('passed')} passed, {tests.get('failures')} failed, {tests.get('errors')} errors, "
            f"{tests.get('skipped')} skipped"
        )
    m = data.get("matrix")
    if m:
        lines.append(f"training step ({m.get('batch')}), ms per step (median of paired rounds):")
        lines.append(f"  {'setting':<22} {'GaitSet':>9} {'GSTSN':>9} {'ratio':>6}  GaitSet vs plain 33.5 ms reference")
        by = {}
        for c in m["cells"]:
            by.setdefault(c["label"], {})[c["model"]] = c
        verdict = m.get("per_iteration_verdict", {})
        for label, pair in by.items():
            a, b = pair.get("gaitset", {}), pair.get("gstsn", {})
            if "step_ms" not in a or "step_ms" not in b:
                lines.append(f"  {label:<22} {a.get('status', b.get('status'))}")
                continue
            v = verdict.get(f"{data.get('env', {}).get('device', 'cuda').split(':')[0]}/{label}", {})
            busy = f", GPU busy {a['busy_frac']:.0%}" if a.get("busy_frac") is not None else ""
            lines.append(
                f"  {label:<22} {a['step_ms']:9.2f} {b['step_ms']:9.2f} {b['step_ms'] / a['step_ms']:6.2f}  "
                f"{a.get('speedup_vs_plain_reference', float('nan')):.2f}x{busy}; 20 % claim: {v.get('status')}"
            )
    ev = data.get("eval")
    if ev and ev.get("best_s") is not None:
        lines.append(
            f"LT evaluation: {ev['sequences']} sequences, {ev['frames']} frames: {ev['best_s']:.3f} s at "
            f"eval_batch_frames={ev['best_eval_batch_frames']} (reference 1.5 s: {ev['speedup_vs_reference']:.1f}x)"
        )
    tr = data.get("train")
    if tr and tr.get("curve"):
        lines.append(
            f"training (GaitSet, profile {tr.get('profile')}, mode {tr.get('mode')}, "
            f"{tr.get('iterations_per_s') or 0:.1f} it/s this call): "
            "rank-1 NM/BG/CL against training seconds:"
        )
        for p in tr["curve"]:
            lines.append(
                f"  {p['train_s']:8.1f} s  it {p['iteration']:>6}  "
                f"{p.get('NM', float('nan')):5.1f} {p.get('BG', float('nan')):5.1f} {p.get('CL', float('nan')):5.1f}"
            )
        first = tr["vs_reference"]["first_nm_91_4"]
        lines.append(f"  NM 91.4 first reached: {first}")
    goals = data.get("goals")
    if goals:
        lines.append("goals: " + ", ".join(f"{k}: {v['met']}" for k, v in goals.items()))
    for p in data.get("budget", {}).get("phases", []):
        lines.append(f"phase {p['name']}: {p['status']} ({p['used_s']:.0f} s of {p['allowance_s']:.0f} s)")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------------------
# Driver


def write_tiny_npz(path: Path, subjects: int = 10, seed: int = 0) -> Path:
    """A compact-format npz of random silhouettes (CASIA-B names, 64×44, 6-9 frames), for the dry run."""
    from gstsn.data.cache_format import packed_width
    from gstsn.data.naming import full_grid

    rng = np.random.default_rng(seed)
    grid = full_grid([f"{i:03d}" for i in range(1, subjects + 1)])
    lengths = rng.integers(6, 10, size=len(grid)).astype(np.int64)
    packed = rng.integers(0, 256, size=(int(lengths.sum()), 64, packed_width(44)), dtype=np.uint8)
    packed[..., -1] &= np.uint8(0xF0)  # the 4 pad bits of each row stay zero
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        frames=packed,
        subject=np.array([g[0] for g in grid]),
        seq_type=np.array([g[1] for g in grid]),
        view=np.array([g[2] for g in grid]),
        start=np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64),
        length=lengths,
    )
    return path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=None, help="output folder (default: $OUT, else required)")
    p.add_argument("--budget", type=float, default=540.0, help="total seconds (default 540 = 9 min)")
    p.add_argument("--data", type=Path, default=None, help=f"the real CASIA-B npz (default {DEFAULT_DATA})")
    p.add_argument("--work", type=Path, default=DEFAULT_WORK, help=f"scratch: cache, runs (default {DEFAULT_WORK})")
    p.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated subset of {','.join(PHASES)}")
    p.add_argument("--resume-from", type=Path, default=None, help="a previous call's output: continue its training")
    p.add_argument("--resume", action="store_true", help="continue the training in --work (the same, warm machine)")
    p.add_argument(
        "--train-mode", choices=("auto", "eager", "compile", "graph", "eager+bench", "graph+bench"), default="auto",
        help="training step: auto = the fastest GaitSet bf16 channels-last setting of this run's matrix",
    )  # fmt: skip
    p.add_argument("--tests", nargs="*", default=["tests"], help="pytest paths for the cuda tests (default tests)")
    p.add_argument(
        "--allowance", action="append", default=[], metavar="PHASE=SECONDS",
        help="change a phase's allowance, e.g. matrix=480 for a call that measures every compiled setting",
    )  # fmt: skip
    p.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU (what the test suite runs)")
    args = p.parse_args(argv)
    if args.out is None:
        if not os.environ.get("OUT"):
            p.error("--out is required when $OUT is not set")
        args.out = Path(os.environ["OUT"])
    args.phases = [s.strip() for s in args.phases.split(",") if s.strip()]
    bad = [s for s in args.phases if s not in PHASES]
    if bad:
        p.error(f"--phases: unknown phase(s) {bad}; expected a subset of {list(PHASES)}")
    allowances = {}
    for item in args.allowance:
        name, sep, value = item.partition("=")
        try:
            allowances[name.strip()] = float(value)
        except ValueError:
            p.error(f"--allowance {item!r}: expected PHASE=SECONDS, e.g. matrix=480")
        if not sep or name.strip() not in PHASES or allowances[name.strip()] <= 0:
            p.error(f"--allowance {item!r}: expected PHASE=SECONDS with PHASE in {list(PHASES)} and SECONDS > 0")
    args.allowance = allowances
    if args.budget <= 30 and not args.dry_run:
        p.error(f"--budget {args.budget} s is too short for a GPU check (at least 30 s)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = Sizes(args.dry_run)
    sizes.allowance.update(args.allowance)
    if args.dry_run:
        device = torch.device("cpu")
    elif torch.cuda.is_available():
        device = torch.device("cuda")
    else:
        print("gpu_check: torch sees no CUDA device; on a CPU run it with --dry-run", file=sys.stderr)
        return 2
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for name in OUTPUT_FILES:  # a fresh report, never a mix with an earlier call's files
        (out / name).unlink(missing_ok=True)
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    rep = Report(out)
    budget = Budget(args.budget, reserve_s=sizes.reserve_s)
    rep.data.update(dry_run=args.dry_run, argv=sys.argv[1:] if argv is None else argv, phases=args.phases)
    data_path = args.data or (write_tiny_npz(work / "tiny.npz") if args.dry_run else DEFAULT_DATA)
    rep.data["data"] = {"npz": str(data_path), "present": data_path.is_file()}

    def watchdog() -> None:
        rep.data["watchdog"] = f"the budget of {args.budget:.0f} s ran out: stopped here, results as they were"
        rep.data["budget"] = budget.as_dict()
        rep.log(rep.data["watchdog"])
        with contextlib.suppress(Exception):
            rep.save()
            (out / "summary.txt").write_text(summary_text(rep.data) + "\n", encoding="utf-8")
        os._exit(124)

    dog = threading.Timer(max(1.0, args.budget - 2.0), watchdog)
    dog.daemon = True
    dog.start()
    rep.log(f"gpu_check on {device} ({'dry run' if args.dry_run else 'full'}), budget {args.budget:.0f} s, out {out}")
    need_data = any(p in args.phases for p in ("eval", "train"))
    importer = DataImport(data_path, work / "cache", rep) if need_data else None

    def phase(name: str) -> Any:
        if name not in args.phases:
            return contextlib.nullcontext(None)
        return budget.phase(name, sizes.allowance.get(name))

    try:
        with phase("env") as ph:
            if ph is not None:
                rep.data["env"] = environment(device)
                rep.log(f"env: {rep.data['env'].get('device_name')}, torch {torch.__version__}")
        rep.save()
        with phase("tests") as ph:
            if ph is not None:
                rep.data["tests"] = run_cuda_tests(ph, rep, args.tests, data_path)
        rep.save()
        with phase("matrix") as ph:
            if ph is not None:
                rep.data["matrix"] = run_matrix(ph, rep, sizes, device, work / "matrix")
        rep.save()
        dataset = None
        if importer is not None:
            try:
                dataset = importer.wait(timeout=max(5.0, budget.available() - 30))
            except RuntimeError as exc:
                for name in ("eval", "train"):
                    if name in args.phases:
                        budget.skip(name, str(exc))
        if dataset is not None:
            with phase("eval") as ph:
                if ph is not None:
                    rep.data["eval"] = run_eval(ph, rep, sizes, device, dataset)
            rep.save()
            with phase("train") as ph:
                if ph is not None:
                    earlier = earlier_report(args.resume_from or (work if args.resume else None))
                    matrix = rep.data.get("matrix") or earlier.get("matrix")
                    mode, why = choose_train_mode(matrix, args.train_mode)
                    if matrix is not None and "matrix" not in rep.data:
                        why += " (the matrix of the call this one resumes)"
                    ev = rep.data.get("eval") or earlier.get("eval") or {}
                    rep.data["train"] = run_train(
                        ph,
                        rep,
                        sizes,
                        device,
                        dataset,
                        work / "train-run",
                        mode,
                        why,
                        step_estimate(matrix, mode),
                        ev.get("best_s"),
                        ev.get("best_eval_batch_frames"),
                        args.resume_from,
                        args.resume,
                    )
    finally:
        dog.cancel()
        rep.data["budget"] = budget.as_dict()
        rep.data["goals"] = goal_checks(rep.data)
        rep.data["output_files"] = {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file()}
        rep.save()
        shutil.copy2(out / "gpu_check.json", work / "gpu_check.json")  # for a --resume call on this machine
        text = summary_text(rep.data)
        (out / "summary.txt").write_text(text + "\n", encoding="utf-8")
        rep.log("summary:\n" + text)
    failed = [p for p in budget.phases if p.status.startswith("error")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
