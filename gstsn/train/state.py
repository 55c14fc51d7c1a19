"""Everything a resume restores (model, optimizer, sampler and numpy RNG state, iteration, training time, collapse
monitor) and which config fields may differ when a run is resumed."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gstsn.config import RunConfig
from gstsn.train.checkpoint import latest_checkpoint, load_checkpoint
from gstsn.train.collapse import CollapseMonitor
from gstsn.train.errors import TrainingError

log = logging.getLogger("gstsn.train")

# Fields that may change when a run is resumed: they do not change the trajectory of the iterations already done.
RESUMABLE_FIELDS = (
    "iterations",
    "log_every",
    "checkpoint_every",
    "keep_checkpoints",
    "eval_every",
    "prefetch",
    "distance",
    "max_test_frames",
    "eval_batch_frames",
)


@dataclass
class TrainState:
    """Everything a resume restores. ``state_dict()`` is ``torch.load(weights_only=True)``-safe."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    sampler: Any
    rng: np.random.Generator
    collapse: CollapseMonitor
    iteration: int = 0
    train_time: float = 0.0
    #: CPU seconds other processes used / CPU seconds there were, over the training time (gstsn.contention)
    cpu_others_s: float = 0.0
    cpu_capacity_s: float = 0.0
    sampler_state: dict[str, Any] = field(default_factory=dict)  # state after the last consumed batch
    np_rng_state: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.sampler_state:
            self.sampler_state = copy.deepcopy(self.sampler.state_dict())
            self.np_rng_state = copy.deepcopy(self.rng.bit_generator.state)

    def state_dict(self) -> dict[str, Any]:
        module = self.model.module if hasattr(self.model, "module") else self.model
        return {
            "iteration": self.iteration,
            "train_time": self.train_time,
            "cpu_others_s": self.cpu_others_s,
            "cpu_capacity_s": self.cpu_capacity_s,
            "model": module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "sampler": self.sampler_state,
            "np_rng": self.np_rng_state,
            "torch_rng": torch.get_rng_state(),  # kept in the format; never restored (no layer draws from it)
            "collapse": self.collapse.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        module = self.model.module if hasattr(self.model, "module") else self.model
        module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.sampler.load_state_dict(state["sampler"])
        self.rng.bit_generator.state = state["np_rng"]
        self.collapse.load_state_dict(state["collapse"])
        self.iteration = int(state["iteration"])
        self.train_time = float(state["train_time"])
        self.cpu_others_s = float(state.get("cpu_others_s", 0.0))  # absent in checkpoints from before the fields
        self.cpu_capacity_s = float(state.get("cpu_capacity_s", 0.0))
        self.sampler_state = copy.deepcopy(state["sampler"])
        self.np_rng_state = copy.deepcopy(state["np_rng"])


def check_resume_config(saved: dict[str, Any], cfg: RunConfig, path: Path) -> None:
    current = cfg.flat()
    saved_flat = RunConfig.from_dict(saved, where=str(path)).flat()
    diff = {
        k: (saved_flat[k], current[k]) for k in current if k not in RESUMABLE_FIELDS and saved_flat[k] != current[k]
    }
    if diff:
        listed = ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in sorted(diff.items()))
        raise TrainingError(
            f"cannot resume from {path}: the config differs in {listed}. Only {list(RESUMABLE_FIELDS)} may change "
            "on resume; use another --out directory for a different run."
        )


def restore_newest(state: TrainState, ckpt_dir: Path, cfg: RunConfig, resume: bool) -> Path | None:
    """With ``resume``, load the newest checkpoint of ``ckpt_dir`` into ``state`` (after checking that its config
    may be resumed as ``cfg``) and return its path; None when there is none. Without ``resume`` an existing
    checkpoint is an error, so a run is never silently overwritten."""
    existing = latest_checkpoint(ckpt_dir)
    if existing is None:
        return None
    if not resume:
        raise TrainingError(
            f"{ckpt_dir} already holds checkpoints (newest {existing.name}); pass --resume to continue that "
            "run or choose another --out directory"
        )
    payload = load_checkpoint(existing)
    check_resume_config(payload["config"], cfg, existing)
    state.load_state_dict(payload)
    log.info("resumed from %s (iteration %d)", existing, state.iteration)
    return existing


__all__ = [
    "RESUMABLE_FIELDS",
    "TrainState",
    "check_resume_config",
    "restore_newest",
]
