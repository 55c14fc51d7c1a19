"""What a run is built from: the device, the seeded initial weights and the Adam options per device (autocast:
:mod:`gstsn.precision`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gstsn.config import RunConfig
from gstsn.locks import LockHeld, exclusive_lock
from gstsn.models import build_model
from gstsn.train.errors import TrainingError


def resolve_device(name: str | torch.device) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU is an error (no silent fallback)."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise TrainingError(f"device {name!r} was asked for but torch sees no CUDA device; use --device cpu/auto")
        return torch.device(name)
    raise TrainingError(f"device = {name!r} is invalid; expected one of ('auto', 'cpu', 'cuda')")


#: the lock file of a run folder, held by the process training in it
RUN_LOCK = ".train.lock"


def lock_run_folder(out: Path) -> contextlib.ExitStack:
    """One process trains in ``out`` at a time: a second one fails here, before reading or writing anything, and
    names the holder (two writers would interleave the logs and race on the checkpoints). Returns the held lock (an
    ExitStack: closing it releases the folder)."""
    if out.exists() and not out.is_dir():
        raise TrainingError(f"--out {out} is a file; expected a run folder (a new or existing directory)")
    held = contextlib.ExitStack()
    try:
        held.enter_context(exclusive_lock(out / RUN_LOCK, blocking=False))
        return held
    except LockHeld as exc:
        raise TrainingError(
            f"{out} is in use by another training process ({exc.holder or 'holder unknown'}); wait for it "
            "to finish or choose another --out directory"
        ) from None


def check_options(
    cfg: RunConfig, dataset: Any, device: torch.device, distributed: bool, cuda_graph: bool, device_frames: bool
) -> None:
    """The trainer's options fit together and fit the data, or a :class:`TrainingError` says which do not."""
    if (dataset.height, dataset.width) != (cfg.input.height, cfg.input.width):
        raise TrainingError(
            f"the data's frames are {dataset.height}×{dataset.width} but the config expects "
            f"{cfg.input.height}×{cfg.input.width} (fields height/width)"
        )
    if not cuda_graph:
        return
    if device.type != "cuda" or distributed:
        raise TrainingError("cuda_graph needs one CUDA device (no CPU, no DistributedDataParallel)")
    if cfg.train.lr_schedule != "constant" or cfg.train.warmup:
        raise TrainingError("cuda_graph captures the learning rate: it needs lr_schedule = constant, no warmup")
    if not device_frames:
        raise TrainingError("cuda_graph needs the frames on the device (device_frames)")


def seeded_model(cfg: RunConfig, factory: Callable[[Any], nn.Module] = build_model) -> nn.Module:
    """Build the model with initial weights that depend on ``cfg.seed`` only (the global torch RNG is restored)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return factory(cfg.model)


def adam_options(device: torch.device, capturable: bool = False) -> dict[str, bool]:
    """Adam's implementation: the fused CUDA kernel on a GPU (one launch for every parameter), ``capturable`` for a
    CUDA graph; the default (for-each) one on the CPU, whose steps the CPU tests pin bit for bit."""
    if device.type != "cuda":
        return {}
    return {"fused": True, "capturable": True} if capturable else {"fused": True}


def apply_adam_options(optimizer: torch.optim.Optimizer, options: dict[str, bool]) -> None:
    """Set Adam's implementation flags after ``load_state_dict`` (which restores the saved run's), with its step
    counters where that implementation keeps them (on the parameter's device for fused / capturable)."""
    for group in optimizer.param_groups:
        group["fused"] = options.get("fused")
        group["capturable"] = options.get("capturable", False)
        if group["fused"]:
            group["foreach"] = None
    on_device = bool(options.get("fused") or options.get("capturable"))
    for param, state in optimizer.state.items():
        if "step" in state:
            target = param.device if on_device else torch.device("cpu")
            state["step"] = state["step"].to(device=target, dtype=torch.float32)


def open_run_data(cfg: RunConfig) -> tuple[Any, Any]:
    """The dataset of ``cfg.data.source`` and its split ``cfg.data.split``."""
    from gstsn.data import open_dataset
    from gstsn.data.splits import load_split

    dataset = open_dataset(cfg.data.source)
    subjects = sorted(set(dataset.index["subject"]))
    return dataset, load_split(cfg.data.split, subjects)


__all__ = [
    "RUN_LOCK",
    "adam_options",
    "apply_adam_options",
    "check_options",
    "lock_run_folder",
    "open_run_data",
    "resolve_device",
    "seeded_model",
]
