"""Checkpoints: written atomically (temp file in the same folder + ``os.replace``), read with ``weights_only=True``.

A run directory keeps its checkpoints as ``checkpoints/ckpt-0001000.pt`` (the iteration, zero-padded; the names are
:func:`gstsn.results.files.checkpoint_name` and :func:`~gstsn.results.files.checkpoint_iteration`); the newest is
the one with the highest iteration. A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts (no
pickled objects), so ``torch.load(weights_only=True)`` reads it without running code. A write that fails for want of
space raises :class:`gstsn.atomic.DiskFullError` naming the file, the space left and the checkpoints kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from gstsn.atomic import DiskFullError, atomic_open
from gstsn.results.files import checkpoint_iteration, checkpoint_name

CHECKPOINT_FORMAT = 1
REQUIRED_KEYS = ("format", "iteration", "config", "model", "optimizer", "sampler", "np_rng", "torch_rng")


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable or not one of ours; the message names the file and the problem."""


class DamagedCheckpointError(CheckpointError):
    """``torch.load`` cannot read the file at all (truncated, overwritten): a resume may fall back to an older one."""


def checkpoint_path(directory: Path, iteration: int) -> Path:
    return Path(directory) / checkpoint_name(iteration)


def list_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """``(iteration, path)`` of every checkpoint in ``directory``, oldest first (none if it does not exist)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(it, p) for p in directory.iterdir() if (it := checkpoint_iteration(p.name)) is not None]
    return sorted(found)


def latest_checkpoint(directory: Path) -> Path | None:
    found = list_checkpoints(directory)
    return found[-1][1] if found else None


def save_checkpoint(payload: dict[str, Any], directory: Path, keep: int = 2) -> Path:
    """Write ``payload`` as the checkpoint of ``payload["iteration"]``; keep only the ``keep`` newest checkpoints.

    The file appears complete or not at all: it is written to a temp file in the same folder, flushed to disk and
    renamed over the final name.
    """
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise CheckpointError(f"checkpoint payload lacks key(s) {missing}; required: {list(REQUIRED_KEYS)}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = checkpoint_path(directory, int(payload["iteration"]))
    try:
        with atomic_open(final, "wb") as fh:
            torch.save(payload, fh)
    except DiskFullError as exc:
        kept = list_checkpoints(directory)
        raise DiskFullError(
            final,
            f"the checkpoints already written are intact (newest {kept[-1][1].name}); free some space, then continue "
            "with --resume"
            if kept
            else "no checkpoint of this run had been written yet",
            exc,
        ) from exc
    for _, old in list_checkpoints(directory)[:-keep]:
        old.unlink(missing_ok=True)
    return final


def load_failure(exc: Exception) -> str:
    """What went wrong in ``torch.load``, without torch's advice to retry with ``weights_only=False`` (never take it:
    that runs arbitrary code from the file)."""
    text = str(exc)
    marker = "WeightsUnpickler error:"
    if marker in text:
        detail = text.split(marker, 1)[1].strip().split("\n\n")[0].strip()
        return f"unsafe content: {detail}" if detail else "unsafe content"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "weights_only" not in ln]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True`` and check it is one of ours (format, keys)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for truncated / foreign files
        raise DamagedCheckpointError(
            f"checkpoint {path} is damaged or not a gstsn checkpoint ({load_failure(exc)}); gstsn reads checkpoints "
            "with torch.load(weights_only=True) only, never in the unsafe mode"
        ) from None
    if not isinstance(payload, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(payload).__name__}, expected a dict")
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"checkpoint {path} has format {payload.get('format')!r}; this version reads format {CHECKPOINT_FORMAT}"
        )
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks key(s) {missing}")
    return payload


__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "DamagedCheckpointError",
    "checkpoint_path",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "load_failure",
    "save_checkpoint",
]
