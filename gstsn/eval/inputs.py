"""Input checks shared by the evaluators (rank-1, retrieval, cross view): each failure names the argument, the value
and what was expected."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from gstsn.config import DISTANCES, VIEWS


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


def check_chunks(probe_chunk: int | None, part_chunk: int | None) -> None:
    if any(c is not None and int(c) < 1 for c in (probe_chunk, part_chunk)):
        raise ProtocolError(f"probe_chunk={probe_chunk!r}, part_chunk={part_chunk!r}; expected positive integers")


# ---------------------------------------------------------------------------------------------------- one object
@dataclass(frozen=True)
class EvalInputs:
    """The evaluators' validated inputs, built once by :meth:`check` from the arguments every evaluator takes:
    features on the compute device, the labels per row, subject codes and view indices, and the chunk sizes (the
    distance is checked here and passed on by the caller)."""

    x: torch.Tensor
    subject: np.ndarray
    seq_type: np.ndarray
    view: np.ndarray
    codes: np.ndarray  # int64 subject code per row (order of np.unique)
    view_idx: np.ndarray  # int64 index into VIEWS per row
    probe_chunk: int | None
    part_chunk: int | None

    @classmethod
    def check(
        cls,
        features: Any,
        subject: Any,
        seq_type: Any,
        view: Any,
        distance: str,
        device: Any,
        probe_chunk: int | None,
        part_chunk: int | None,
        allowed_types: Sequence[str],
    ) -> EvalInputs:
        """Validate (each failure a :class:`ProtocolError` naming the argument) and derive codes and view indices."""
        validate_distance(distance)
        check_chunks(probe_chunk, part_chunk)
        x = as_features(features, device)
        n = int(x.shape[0])
        subject = as_labels(subject, "subject", n)
        seq_type = as_labels(seq_type, "seq_type", n).astype(str)
        view = as_labels(view, "view", n).astype(str)
        check_names(seq_type, list(allowed_types), "seq_type")
        check_names(view, VIEWS, "view")
        _, codes = np.unique(subject, return_inverse=True)
        view_idx = np.searchsorted(np.asarray(VIEWS), view).astype(np.int64)
        return cls(
            x, subject, seq_type, view, codes.astype(np.int64).reshape(-1), view_idx,
            None if probe_chunk is None else int(probe_chunk), None if part_chunk is None else int(part_chunk),
        )  # fmt: skip


__all__ = [
    "EvalInputs",
    "ProtocolError",
    "as_features",
    "as_labels",
    "check_chunks",
    "check_names",
    "validate_distance",
]
