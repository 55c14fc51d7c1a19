"""A checkpoint small enough to travel: two files under 16 MiB each, from which a full checkpoint is rebuilt.

Why: a GPU job here returns files of at most 16 MiB and carries at most 64 MiB of tree in, the real CASIA-B npz
(42.5 MB) included. A paper-scale GaitSet checkpoint is 31 MB (2,594,592 weights, and Adam's two moments of the same
size, in fp32): it fits neither limit. The compact form keeps the weights and everything else in fp32, exact, and
rounds Adam's two moment buffers to bf16 (relative error ≤ 2⁻⁹; bf16 has fp32's exponent range, so nothing
underflows):

- ``resume-state.pt``: the checkpoint without the moment buffers (weights fp32, sampler and RNG states, iteration,
  training time, config): ~10.4 MB for paper GaitSet;
- ``resume-adam-bf16.pt``: ``exp_avg`` / ``exp_avg_sq`` per parameter, bf16: ~10.4 MB.

A run resumed from it continues the same batch stream and weights; only the moments carry the rounding, so the
resume is not bit-identical to one from the full checkpoint (the trainer's own checkpoints stay exact).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from gstsn.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

STATE_FILE = "resume-state.pt"
MOMENTS_FILE = "resume-adam-bf16.pt"
MOMENT_KEYS = ("exp_avg", "exp_avg_sq")
COMPACT_FORMAT = 1


def write_compact(checkpoint: str | Path, out_dir: str | Path) -> dict[str, int]:
    """Write the compact form of ``checkpoint`` into ``out_dir``; returns ``{file name: size in bytes}``."""
    payload = load_checkpoint(Path(checkpoint))
    state = copy.copy(payload)
    opt = copy.deepcopy(payload["optimizer"])
    moments: dict[str, dict[int, torch.Tensor]] = {k: {} for k in MOMENT_KEYS}
    for pid, entry in opt["state"].items():
        for key in MOMENT_KEYS:
            if key in entry:
                moments[key][int(pid)] = entry.pop(key).to(torch.bfloat16)
    state["optimizer"] = opt
    state["compact_format"] = COMPACT_FORMAT
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(state, out / STATE_FILE)
    torch.save({"compact_format": COMPACT_FORMAT, "iteration": payload["iteration"], **moments}, out / MOMENTS_FILE)
    return {name: (out / name).stat().st_size for name in (STATE_FILE, MOMENTS_FILE)}


def has_compact(src_dir: str | Path) -> bool:
    return all((Path(src_dir) / name).is_file() for name in (STATE_FILE, MOMENTS_FILE))


def read_compact(src_dir: str | Path) -> dict[str, Any]:
    """The full checkpoint payload rebuilt from ``src_dir``'s two files (moments back in fp32)."""
    src = Path(src_dir)
    try:
        state = torch.load(src / STATE_FILE, map_location="cpu", weights_only=True)
        moments = torch.load(src / MOMENTS_FILE, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated / foreign files
        files = f"{STATE_FILE}, {MOMENTS_FILE}"
        raise CheckpointError(f"compact checkpoint in {src} cannot be read ({files}): {exc}") from exc
    if state.get("compact_format") != COMPACT_FORMAT or moments.get("compact_format") != COMPACT_FORMAT:
        raise CheckpointError(f"{src} does not hold a compact checkpoint of format {COMPACT_FORMAT}")
    if moments.get("iteration") != state.get("iteration"):
        raise CheckpointError(
            f"{src}: {STATE_FILE} is at iteration {state.get('iteration')} but {MOMENTS_FILE} at "
            f"{moments.get('iteration')}; copy both files of one run"
        )
    for pid, entry in state["optimizer"]["state"].items():
        for key in MOMENT_KEYS:
            if int(pid) in moments[key]:
                entry[key] = moments[key][int(pid)].to(torch.float32)
    state.pop("compact_format")
    return state


def restore_compact(src_dir: str | Path, checkpoint_dir: str | Path) -> Path:
    """Rebuild the full checkpoint from ``src_dir`` into ``checkpoint_dir`` (a run's ``checkpoints/``)."""
    return save_checkpoint(read_compact(src_dir), Path(checkpoint_dir), keep=1)


__all__ = ["MOMENTS_FILE", "STATE_FILE", "has_compact", "read_compact", "restore_compact", "write_compact"]
