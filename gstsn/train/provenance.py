"""Where a result came from: the provenance a run directory's ``results.json`` records (docs/results.md).

Code version (git commit and whether tracked files differ from it), library versions, device and CPU model (with its
bf16 hardware flags), the precision the forward passes computed in, torch threads, data source and fingerprint, config
hash, seed, profile, date and command line.
"""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gstsn.config import RunConfig, config_hash
from gstsn.machine import cpu_bf16_flags, cpu_model
from gstsn.precision import precision_used


def _git(*cmd: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *cmd], cwd=Path(__file__).resolve().parent, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def provenance(cfg: RunConfig, device: torch.device, dataset: Any, profile: str | None) -> dict[str, Any]:
    """Where a result came from: code version, libraries, device, data and config identity, seed."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()
    return {
        "git_commit": commit,
        "git_dirty": None if status is None else bool(status),
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "device": str(device),
        "device_name": device_name,
        "cpu_model": cpu_model(),
        "cpu_threads": torch.get_num_threads(),
        "cpu_bf16": list(cpu_bf16_flags()),
        "precision": precision_used(device, cfg.train),
        "data_source": cfg.data.source,
        "data_fingerprint": str(getattr(dataset, "fingerprint", "")),
        "config_hash": config_hash(cfg),
        "seed": cfg.seed,
        "profile": profile,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
    }


__all__ = ["provenance"]
