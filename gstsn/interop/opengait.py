"""Map an OpenGait GaitSet checkpoint onto gstsn's GaitSet (``GaitSetFamily`` with ``temporal=False``).

OpenGait's GaitSet (``opengait/modeling/models/gaitset.py``) stores, in its checkpoint's ``"model"`` state dict:

=========================================  ======================  ====================================
OpenGait key                               shape                   gstsn key
=========================================  ======================  ====================================
``set_block1.forward_block.0.conv.weight`` ``(c1, 1, 5, 5)``       ``spatial.set1.conv.weight``
``set_block1.forward_block.2.conv.weight`` ``(c1, c1, 3, 3)``      ``spatial.set2.conv.weight``
``set_block2.forward_block.0.conv.weight`` ``(c2, c1, 3, 3)``      ``spatial.set3.conv.weight``
``set_block2.forward_block.2.conv.weight`` ``(c2, c2, 3, 3)``      ``spatial.set4.conv.weight``
``set_block3.forward_block.0.conv.weight`` ``(c3, c2, 3, 3)``      ``spatial.set5.conv.weight``
``set_block3.forward_block.2.conv.weight`` ``(c3, c3, 3, 3)``      ``spatial.set6.conv.weight``
``gl_block2.0.conv.weight``                ``(c2, c1, 3, 3)``      ``spatial.mgp1.conv.weight``
``gl_block2.2.conv.weight``                ``(c2, c2, 3, 3)``      ``spatial.mgp2.conv.weight``
``gl_block3.0.conv.weight``                ``(c3, c2, 3, 3)``      ``spatial.mgp3.conv.weight``
``gl_block3.2.conv.weight``                ``(c3, c3, 3, 3)``      ``spatial.mgp4.conv.weight``
``Head.fc_bin``                            ``(parts, c3, d)``      ``spatial.fc.weight`` (parts reordered)
=========================================  ======================  ====================================

(``BasicConv2d`` is a bias-free ``Conv2d`` under ``.conv``; the LeakyReLUs (slope 0.01) and max-pools between them
have no parameters, and so are the same model as gstsn's.) The parts differ only in order: OpenGait's
``HorizontalPoolingPyramid`` concatenates its ``bin_num`` strips (default ``[16, 8, 4, 2, 1]``) for the set feature,
then for the global pipeline; gstsn's HPM takes ``hpm_bins`` in ascending order (``1, 2, 4, 8, 16``). Within a bin both
cut the height top to bottom, so ``fc_bin`` is permuted part by part. A leading ``module.`` (a DistributedDataParallel
prefix) is removed. Anything else (a missing key, an extra key, a wrong shape) is an error naming the first bad key.

The file is read with ``torch.load(weights_only=True)``; OpenGait's scheduler state holds a ``collections.Counter``
(MultiStepLR's milestones), which is allowed as a safe global for that load only.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import torch

from gstsn.train.checkpoint import load_failure

#: OpenGait key -> gstsn key (all but the head)
CONV_KEYS: dict[str, str] = {
    "set_block1.forward_block.0.conv.weight": "spatial.set1.conv.weight",
    "set_block1.forward_block.2.conv.weight": "spatial.set2.conv.weight",
    "set_block2.forward_block.0.conv.weight": "spatial.set3.conv.weight",
    "set_block2.forward_block.2.conv.weight": "spatial.set4.conv.weight",
    "set_block3.forward_block.0.conv.weight": "spatial.set5.conv.weight",
    "set_block3.forward_block.2.conv.weight": "spatial.set6.conv.weight",
    "gl_block2.0.conv.weight": "spatial.mgp1.conv.weight",
    "gl_block2.2.conv.weight": "spatial.mgp2.conv.weight",
    "gl_block3.0.conv.weight": "spatial.mgp3.conv.weight",
    "gl_block3.2.conv.weight": "spatial.mgp4.conv.weight",
}
#: OpenGait key -> its shape in terms of the three trunk widths
CONV_SHAPES: dict[str, str] = {
    "set_block1.forward_block.0.conv.weight": "(c1, 1, 5, 5)",
    "set_block1.forward_block.2.conv.weight": "(c1, c1, 3, 3)",
    "set_block2.forward_block.0.conv.weight": "(c2, c1, 3, 3)",
    "set_block2.forward_block.2.conv.weight": "(c2, c2, 3, 3)",
    "set_block3.forward_block.0.conv.weight": "(c3, c2, 3, 3)",
    "set_block3.forward_block.2.conv.weight": "(c3, c3, 3, 3)",
    "gl_block2.0.conv.weight": "(c2, c1, 3, 3)",
    "gl_block2.2.conv.weight": "(c2, c2, 3, 3)",
    "gl_block3.0.conv.weight": "(c3, c2, 3, 3)",
    "gl_block3.2.conv.weight": "(c3, c3, 3, 3)",
}
HEAD_KEY = "Head.fc_bin"
OPENGAIT_BINS = (16, 8, 4, 2, 1)


class ImportCheckpointError(ValueError):
    """The file is not an OpenGait GaitSet checkpoint gstsn can map; the message names the first bad key."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The ``"model"`` state dict of an OpenGait checkpoint (or a bare state dict), read with ``weights_only=True``."""
    path = Path(path)
    if path.is_dir():
        raise ImportCheckpointError(f"checkpoint {path} is a directory; expected a checkpoint file (an OpenGait .pt)")
    if not path.is_file():
        raise ImportCheckpointError(f"checkpoint {path} does not exist")
    try:
        with torch.serialization.safe_globals([collections.Counter]):
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is reported with the file's name
        raise ImportCheckpointError(
            f"{path} could not be read as a weights-only torch file and is refused: it is not a plain tensor "
            f"checkpoint ({load_failure(exc)}); gstsn reads it with torch.load(weights_only=True) only, never in the "
            "unsafe mode"
        ) from None
    state = payload.get("model", payload) if isinstance(payload, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ImportCheckpointError(f"{path} holds no state dict (expected a dict with a 'model' state dict)")
    return {k.removeprefix("module."): v for k, v in state.items()}


def shapes_of(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """``{"channels": (c1, c2, c3), "parts": p, "embed_dim": d}`` from the checkpoint, checking every key and shape
    against OpenGait's GaitSet; raises :class:`ImportCheckpointError` naming the first key that does not fit."""
    for key in state:
        if key not in CONV_KEYS and key != HEAD_KEY:
            raise ImportCheckpointError(f"unexpected key {key!r}: not a parameter of OpenGait's GaitSet")
    for key in [*CONV_KEYS, HEAD_KEY]:
        if key not in state:
            raise ImportCheckpointError(f"missing key {key!r}: an OpenGait GaitSet checkpoint has it")
    for key, pattern in CONV_SHAPES.items():
        if state[key].ndim != 4:
            raise ImportCheckpointError(
                f"key {key!r} has shape {tuple(state[key].shape)} ({state[key].ndim}-d); expected a 4-d conv weight "
                f"of shape {pattern}"
            )
    c1 = int(state["set_block1.forward_block.0.conv.weight"].shape[0])
    c2 = int(state["set_block2.forward_block.0.conv.weight"].shape[0])
    c3 = int(state["set_block3.forward_block.0.conv.weight"].shape[0])
    expected = {
        "set_block1.forward_block.0.conv.weight": (c1, 1, 5, 5),
        "set_block1.forward_block.2.conv.weight": (c1, c1, 3, 3),
        "set_block2.forward_block.0.conv.weight": (c2, c1, 3, 3),
        "set_block2.forward_block.2.conv.weight": (c2, c2, 3, 3),
        "set_block3.forward_block.0.conv.weight": (c3, c2, 3, 3),
        "set_block3.forward_block.2.conv.weight": (c3, c3, 3, 3),
        "gl_block2.0.conv.weight": (c2, c1, 3, 3),
        "gl_block2.2.conv.weight": (c2, c2, 3, 3),
        "gl_block3.0.conv.weight": (c3, c2, 3, 3),
        "gl_block3.2.conv.weight": (c3, c3, 3, 3),
    }
    for key, shape in expected.items():
        if tuple(state[key].shape) != shape:
            raise ImportCheckpointError(
                f"key {key!r} has shape {tuple(state[key].shape)}; expected {shape} (channels {c1}, {c2}, {c3})"
            )
    head = state[HEAD_KEY]
    if head.ndim != 3 or int(head.shape[1]) != c3:
        raise ImportCheckpointError(f"key {HEAD_KEY!r} has shape {tuple(head.shape)}; expected (parts, {c3}, d)")
    return {"channels": (c1, c2, c3), "parts": int(head.shape[0]), "embed_dim": int(head.shape[2])}


def part_order(bin_num: tuple[int, ...], hpm_bins: tuple[int, ...]) -> list[int]:
    """For each gstsn part (set strips then MGP strips, ``hpm_bins`` order), the index of the same part in
    OpenGait's order (``bin_num`` order)."""

    def offsets(bins: tuple[int, ...]) -> dict[tuple[int, int], int]:
        out, at = {}, 0
        for b in bins:
            for i in range(b):
                out[(b, i)] = at
                at += 1
        return out

    og, per_map = offsets(bin_num), sum(bin_num)
    return [m * per_map + og[(b, i)] for m in range(2) for b in hpm_bins for i in range(b)]


def to_gstsn_state(state: dict[str, torch.Tensor], bin_num: tuple[int, ...] = OPENGAIT_BINS) -> dict[str, Any]:
    """gstsn GaitSet state dict and model fields (``channels``, ``hpm_bins``, ``embed_dim``) from an OpenGait one."""
    info = shapes_of(state)
    bin_num = tuple(int(b) for b in bin_num)
    if 2 * sum(bin_num) != info["parts"]:
        raise ImportCheckpointError(
            f"key {HEAD_KEY!r} has {info['parts']} parts but bins {list(bin_num)} give {2 * sum(bin_num)}; pass the "
            "model's bin_num (OpenGait config model_cfg.bin_num) with --bins"
        )
    hpm_bins = tuple(sorted(bin_num))
    mapped = {CONV_KEYS[k]: v.detach().clone().float() for k, v in state.items() if k in CONV_KEYS}
    mapped["spatial.fc.weight"] = state[HEAD_KEY].detach().float()[part_order(bin_num, hpm_bins)].clone()
    return {"state": mapped, "channels": info["channels"], "hpm_bins": hpm_bins, "embed_dim": info["embed_dim"]}


__all__ = [
    "CONV_KEYS",
    "CONV_SHAPES",
    "HEAD_KEY",
    "ImportCheckpointError",
    "OPENGAIT_BINS",
    "part_order",
    "read_state_dict",
    "shapes_of",
    "to_gstsn_state",
]
