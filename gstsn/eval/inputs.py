"""Input checks shared by the evaluators (rank-1, retrieval, cross view): each failure names the argument, the value
and what was expected."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from gstsn.config import DISTANCES


class ProtocolError(ValueError):
    """Bad input to the rank-1 protocol; the message names the argument, the value and what was expected."""


# ------------------------------------------------------------------------------------------------------ validation
def validate_distance(distance: str) -> None:
    if distance not in DISTANCES:
        raise ProtocolError(f"distance={distance!r} is unknown; expected one of {list(DISTANCES)}")


def as_features(features: Any, device: torch.device | str | None) -> torch.Tensor:
    """``features`` as a floating tensor ``(N, parts, d)`` on ``device`` (default: where it already is / CPU)."""
    if isinstance(features, np.ndarray):
        if not np.issubdtype(features.dtype, np.floating):
            raise ProtocolError(f"features have dtype {features.dtype}; expected a floating dtype (float32 usually)")
        x = torch.from_numpy(np.ascontiguousarray(features))
    elif isinstance(features, torch.Tensor):
        x = features.detach()
    else:
        raise ProtocolError(f"features must be a numpy array or a torch tensor, not {type(features).__name__}")
    if not x.is_floating_point():
        raise ProtocolError(f"features have dtype {x.dtype}; expected a floating dtype (float32 usually)")
    if x.ndim == 2:
        x = x[:, None, :]
    if x.ndim != 3:
        raise ProtocolError(f"features have shape {tuple(x.shape)}; expected (N, parts, d) or (N, d)")
    if x.shape[1] == 0 or x.shape[2] == 0:
        raise ProtocolError(f"features have shape {tuple(x.shape)}; parts and d must be at least 1")
    if device is not None:
        x = x.to(torch.device(device))
    return x


def as_labels(values: Any, name: str, n: int) -> np.ndarray:
    arr = np.asarray(values.cpu() if isinstance(values, torch.Tensor) else values)
    if arr.ndim != 1 or len(arr) != n:
        raise ProtocolError(f"{name} has shape {arr.shape}; expected ({n},), one entry per feature row")
    return arr


def check_names(values: np.ndarray, allowed: Sequence[str], name: str) -> None:
    bad = sorted({str(v) for v in np.unique(values.astype(str))} - set(allowed))
    if bad:
        raise ProtocolError(f"{name} holds unknown value(s) {bad[:5]}; expected names from {list(allowed)}")


__all__ = [
    "ProtocolError",
    "as_features",
    "as_labels",
    "check_names",
    "validate_distance",
]
