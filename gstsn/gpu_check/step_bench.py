"""The trainer's own training step, timed: one model and setting per :class:`StepBench`, and the GPU-busy share of its
steps (the profiler's device time over the unprofiled step time)."""

from __future__ import annotations

import gc
import time
from functools import partial
from pathlib import Path
from typing import Any

import torch

from gstsn.timing.flops import synchronize


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


def free_memory(device: torch.device) -> None:
    """Collect garbage and, on CUDA, return the freed blocks: the next setting or phase starts from a clean device."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


__all__ = ["StepBench", "busy_fraction", "free_memory"]
