"""Phase ``matrix``: the trainer's step for GaitSet and GSTSN per precision, memory layout and step mode, paired.

Per setting both models are built and warmed up (compilation and graph capture happen here; the first step's time is
kept), then timed in ABBA pairs of rounds (:func:`gstsn.timing.stats.paired_times`); the per-step time is the median
over rounds and the GSTSN/GaitSet ratio the median of paired ratios (:func:`gstsn.timing.stats.paired_ratio`), from
which :func:`gstsn.timing.verdict.per_iteration` gives the 20 % verdict per setting. Settings run most useful first
while the allowance lasts; each one that does not fit, or fails, is recorded with the reason.
"""

from __future__ import annotations

import math
import time
import traceback
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gstsn.config import MODEL_NAMES, MODEL_TEMPORAL, resolve_profile
from gstsn.gpu_check.report import Report
from gstsn.gpu_check.settings import REFERENCE_PLAIN_MS, REFERENCE_STEP_MS, Sizes
from gstsn.gpu_check.step_bench import StepBench, busy_fraction, free_memory
from gstsn.timing.budget import Phase
from gstsn.timing.workloads import tf32


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


class Matrix:
    """The matrix as it runs: its cells (one per model and setting), the paired entries of the verdict, FLOPs per
    model (eager), and the times seen so far (compiles, eager settings) that say whether the next setting fits."""

    def __init__(self, ph: Phase, rep: Report, sizes: Sizes, device: torch.device, work: Path) -> None:
        from gstsn.data.cache import SilhouetteCache
        from gstsn.timing.profiles import resolve_timing_profile
        from gstsn.timing.synthetic import synthetic_subjects, write_synthetic_cache

        self.ph, self.rep, self.sizes, self.device, self.work = ph, rep, sizes, device, work
        self.tprof = resolve_timing_profile(sizes.timing_profile, device.type)
        self.dataset = SilhouetteCache.open(write_synthetic_cache(work / "synthetic", self.tprof, 64, 44))
        self.train_subjects, _ = synthetic_subjects(self.tprof)
        self.rng = np.random.default_rng(0)
        self.cells: list[dict[str, Any]] = []
        self.entries: list[dict[str, Any]] = []
        self.flops: dict[str, int] = {}
        self.compile_s: list[float] = []
        self.eager_pair_s: list[float] = []
        self.result: dict[str, Any] = {"batch": None, "cells": self.cells}

    def run(self) -> dict[str, Any]:
        from gstsn.timing.verdict import per_iteration

        for setting in matrix_settings(self.sizes, self.device):
            if self.run_setting(setting):
                self.rep.data["matrix"] = self.result
                self.rep.save()
        self.result["ratios"] = matrix_ratios(self.cells)
        self.result["per_iteration_verdict"] = per_iteration(self.entries)
        self.result["paired"] = self.entries
        return self.result

    def needed_s(self, setting: dict[str, Any]) -> float:
        """Seconds the setting is expected to take: two compiles (the longest seen, else the estimate) in compile mode,
        plus the longest eager setting so far."""
        compiles = 2 * max(self.compile_s or [self.sizes.compile_estimate_s]) if setting["mode"] == "compile" else 0.0
        return compiles + (max(self.eager_pair_s) if self.eager_pair_s else 0.0)

    def run_setting(self, setting: dict[str, Any]) -> bool:
        """Measure one setting, or record why it did not run; False when it was not tried (skipped, or no time)."""
        label = setting["label"]
        if setting.get("skip"):
            self.cells += [{"model": m, **setting, "status": f"skipped: {setting['skip']}"} for m in MODEL_NAMES]
            return False
        need = self.needed_s(setting)
        if not self.ph.fits(need):
            self.ph.cut(f"setting {label}", need)
            self.cells += [{"model": m, **setting, "status": "skipped: phase allowance"} for m in MODEL_NAMES]
            return False
        t_setting = time.perf_counter()
        benches: dict[str, StepBench] = {}
        row: dict[str, dict[str, Any]] = {}
        try:
            with tf32(setting["dtype"] == "tf32", self.device):
                for model, temporal in MODEL_TEMPORAL.items():
                    self.warm_up(setting, model, temporal, benches, row)
                self.time_pair(setting, benches, row)
            if setting["mode"] == "eager":
                self.eager_pair_s.append(time.perf_counter() - t_setting)
            self.rep.log(
                f"matrix {label}: GaitSet {self.cells[-2]['step_ms']:.2f} ms, GSTSN {self.cells[-1]['step_ms']:.2f} ms "
                f"(ratio {self.entries[-1]['ratio']:.2f}), setting took {time.perf_counter() - t_setting:.1f} s"
            )
        except Exception as exc:  # one setting failing (a compile or a capture) must not stop the others
            self.record_error(setting, row, exc)
        finally:
            for b in benches.values():
                b.close()
            del benches
            free_memory(self.device)
        return True

    def warm_up(
        self, setting: dict[str, Any], model: str, temporal: bool, benches: dict[str, StepBench], row: dict[str, Any]
    ) -> None:
        """Build ``model``'s trainer for ``setting`` into ``benches`` and warm it up; its warm-up figures go into
        ``row[model]``."""
        from gstsn.timing.flops import count_flops

        tprof, device = self.tprof, self.device
        cfg = resolve_profile(
            self.sizes.run_profile, temporal=temporal, amp=setting["dtype"] == "bf16", batch_p=tprof.batch_p,
            batch_k=tprof.batch_k, frames=tprof.frames, prefetch=2,
        )  # fmt: skip
        self.result["batch"] = f"{tprof.batch_p}x{tprof.batch_k}x{tprof.frames} at 64x44"
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        b = StepBench(
            cfg, self.dataset, self.train_subjects, device, self.work / f"run-{model}-{setting['label']}",
            setting["channels_last"], setting["mode"], self.sizes.compile_backend, setting["cudnn_benchmark"],
        )  # fmt: skip
        benches[model] = b  # closed by the caller, also when the warm-up fails
        est = b.warmup(self.sizes.warmup_steps)
        row[model] = {"first_step_s": b.first_step_s, "warmup_step_s": est}
        if setting["mode"] == "compile":
            self.compile_s.append(b.first_step_s)
        if setting["mode"] == "eager" and model not in self.flops:
            self.flops[model] = count_flops(lambda b=b: b.steps(1))
        if device.type == "cuda":
            row[model]["peak_mem_gib"] = torch.cuda.max_memory_allocated(device) / 2**30

    def time_pair(self, setting: dict[str, Any], benches: dict[str, StepBench], row: dict[str, dict[str, Any]]):
        """Time both models in ABBA rounds of ``n`` steps; one cell per model and the setting's paired entry."""
        from gstsn.timing.stats import paired_ratio, paired_times

        est = max(row[m]["warmup_step_s"] for m in row)
        n = max(2, math.ceil(self.sizes.round_s / max(est, 1e-6)))
        ga, gs = benches["gaitset"], benches["gstsn"]
        ta, tb = paired_times(partial(ga.steps, n), partial(gs.steps, n), self.sizes.pairs, warmup=0)
        ta, tb = [t / n for t in ta], [t / n for t in tb]
        for model, times in (("gaitset", ta), ("gstsn", tb)):
            self.cells.append(self.cell(setting, model, times, n, row[model], benches[model]))
        est_ratio = paired_ratio(ta, tb, self.rng)
        self.entries.append(
            {
                "phase": "train_step",
                "device": self.device.type,
                "dtype": setting["label"],
                "status": "measured",
                "ratio": est_ratio.ratio,
                "ci_low": est_ratio.low,
                "ci_high": est_ratio.high,
                "n": est_ratio.n,
                "method": est_ratio.method,
            }
        )

    def cell(self, setting: dict[str, Any], model: str, times: list[float], n: int, warm: dict[str, Any], bench):
        """A measured cell: step time (median of the rounds), TFLOP/s, GaitSet's speed-ups against the reference and,
        for GaitSet's first-precision channels-last steps, the GPU-busy share."""
        med = float(np.median(times))
        cell = {"model": model, **setting, "status": "measured", "steps_per_round": n}
        cell.update(warm, step_ms=med * 1e3, step_ms_rounds=[t * 1e3 for t in times])
        if model in self.flops:
            cell["tflop_per_step"] = self.flops[model] / 1e12
            cell["tflops"] = self.flops[model] / med / 1e12
        ref = REFERENCE_STEP_MS.get((setting["dtype"], setting["channels_last"]))
        if model == "gaitset":
            cell["speedup_vs_plain_reference"] = REFERENCE_PLAIN_MS / (med * 1e3)
            if ref is not None and setting["mode"] == "eager":
                cell["speedup_vs_same_setting_reference"] = ref / (med * 1e3)
        if model == "gaitset" and setting["dtype"] == self.sizes.dtypes[0] and setting["channels_last"]:
            cell.update(busy_fraction(bench, self.sizes.profile_steps, med))
        return cell

    def record_error(self, setting: dict[str, Any], row: dict[str, dict[str, Any]], exc: Exception) -> None:
        """The setting failed: its traceback into the log, an error cell for each model not yet measured."""
        label = setting["label"]
        self.rep.raw(traceback.format_exc())
        self.rep.log(f"matrix {label}: error {type(exc).__name__}: {exc}")
        done = {c["model"] for c in self.cells if c.get("label") == label}
        for model in MODEL_NAMES:
            if model not in done:
                status = f"error: {type(exc).__name__}: {exc}"
                self.cells.append({"model": model, **setting, **row.get(model, {}), "status": status})


def run_matrix(ph: Phase, rep: Report, sizes: Sizes, device: torch.device, work: Path) -> dict[str, Any]:
    """The ``matrix`` phase: every setting that fits, its cells, ratios and per-iteration verdicts."""
    return Matrix(ph, rep, sizes, device, work).run()


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


__all__ = ["Matrix", "matrix_ratios", "matrix_settings", "run_matrix"]
