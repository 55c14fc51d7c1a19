"""Everything a resume restores (model, optimizer, sampler and numpy RNG state, iteration, training time, collapse
monitor), which checkpoint it restores (the newest intact one) and which config fields may differ when a run is
resumed (the run's ``config.json`` edited by hand is refused, not overwritten)."""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gstsn.config import RunConfig, config_hash
from gstsn.contention import ContentionMeter
from gstsn.results.files import CONFIG_FILE
from gstsn.train.checkpoint import CheckpointError, DamagedCheckpointError, list_checkpoints, load_checkpoint
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
    #: the share of the CPUs other processes took over the training time, kept across resumes
    contention: ContentionMeter = field(default_factory=ContentionMeter)
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
            "cpu_others_s": self.contention.others_s,
            "cpu_capacity_s": self.contention.capacity_s,
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
        self.contention = ContentionMeter(  # absent in checkpoints from before the fields
            float(state.get("cpu_others_s", 0.0)), float(state.get("cpu_capacity_s", 0.0))
        )
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


def _flat(config: dict[str, Any]) -> dict[str, Any]:
    """A config dict as written (sections of fields, and ``seed``) by field name."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        out.update(value if isinstance(value, dict) else {key: value})
    return out


def check_config_file(path: Path, saved: dict[str, Any], checkpoint: Path) -> None:
    """Refuse to resume when the run's ``config.json`` was edited by hand: its ``config`` no longer hashes to the
    ``config_hash`` gstsn wrote beside it. A resume reads the run's config from the checkpoint and the command line
    and rewrites the file, so an edit would be lost without a word; the message names each edited field with the
    checkpoint's value and the file's."""
    if not path.is_file():
        return
    try:
        written = json.loads(path.read_text(encoding="utf-8"))
        config, stored = written["config"], written["config_hash"]
        if config_hash(RunConfig.from_dict(config, where=str(path))) == stored:
            return
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TrainingError(
            f"{path} cannot be read as the run's config ({type(exc).__name__}: {exc}); it was edited by hand or "
            f"damaged. --resume takes the run's config from {checkpoint.name} and the command line and would overwrite "
            "it: restore the file, or remove it (it is written again)"
        ) from None
    ours, theirs = _flat(saved), _flat(config)
    edited = {k: (ours.get(k), theirs.get(k)) for k in sorted(set(ours) | set(theirs)) if ours.get(k) != theirs.get(k)}
    listed = ", ".join(f"{k}: {a!r} in {checkpoint.name} vs {b!r} in the file" for k, (a, b) in edited.items())
    raise TrainingError(
        f"{path} was edited by hand (its config no longer matches its config_hash {stored}"
        + (f"; {listed}" if listed else "")
        + "). --resume does not read config.json: it takes the run's config from the checkpoint and the command line, "
        "and would overwrite the edit. Restore the file (or remove it: it is written again); give a change that may "
        f"be made on resume as an option ({', '.join('--' + f.replace('_', '-') for f in RESUMABLE_FIELDS)}), "
        "anything else needs another --out directory"
    )


def _newest_intact(ckpt_dir: Path) -> tuple[Path, dict[str, Any], list[tuple[Path, CheckpointError]]]:
    """The newest checkpoint that can be read, its payload, and the newer ones that cannot (truncated by a full disk
    or a crash of the machine), each with its error. None readable: the error of the only one, or of all."""
    found = list_checkpoints(ckpt_dir)
    damaged: list[tuple[Path, CheckpointError]] = []
    for _, path in reversed(found):
        try:
            return path, load_checkpoint(path), damaged
        except DamagedCheckpointError as exc:
            damaged.append((path, exc))
    if len(damaged) == 1:
        raise damaged[0][1]
    raise CheckpointError(f"no intact checkpoint in {ckpt_dir}: " + "; ".join(str(exc) for _, exc in damaged))


def _set_aside(damaged: list[tuple[Path, CheckpointError]], resumed: Path, iteration: int) -> None:
    """Rename each damaged checkpoint ``*.damaged``: kept for inspection, no longer taken for a checkpoint (the pruning
    of old checkpoints must not count it and delete the intact ones), with a warning naming it and the one resumed."""
    for bad, exc in damaged:
        aside = bad.with_name(bad.name + ".damaged")
        bad.rename(aside)
        log.warning(
            "%s; renamed to %s; resuming from the newest intact checkpoint %s (iteration %d) instead",
            exc, aside.name, resumed, iteration,
        )  # fmt: skip


def restore_newest(state: TrainState, ckpt_dir: Path, cfg: RunConfig, resume: bool) -> Path | None:
    """With ``resume``, load the newest intact checkpoint of ``ckpt_dir`` into ``state`` (after checking that its
    config may be resumed as ``cfg`` and that the run's ``config.json`` was not edited) and return its path; None when
    there is none. Newer damaged checkpoints are set aside with a warning (:func:`_set_aside`). Without ``resume`` an
    existing checkpoint is an error, so a run is never silently overwritten."""
    found = list_checkpoints(ckpt_dir)
    if not found:
        return None
    if not resume:
        raise TrainingError(
            f"{ckpt_dir} already holds checkpoints (newest {found[-1][1].name}); pass --resume to continue that "
            "run or choose another --out directory"
        )
    existing, payload, damaged = _newest_intact(ckpt_dir)
    check_resume_config(payload["config"], cfg, existing)
    check_config_file(Path(ckpt_dir).parent / CONFIG_FILE, payload["config"], existing)
    _set_aside(damaged, existing, int(payload["iteration"]))
    state.load_state_dict(payload)
    log.info("resumed from %s (iteration %d)", existing, state.iteration)
    return existing


__all__ = [
    "RESUMABLE_FIELDS",
    "TrainState",
    "check_config_file",
    "check_resume_config",
    "restore_newest",
]
