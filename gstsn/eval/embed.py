"""Test-time embedding of whole sequences, and the driver from a trained model to CASIA-B rank-1.

Every test sequence is embedded with all its frames in order (or, when ``EvalConfig.max_test_frames`` caps it, a
centred contiguous clip of that many frames, in order). Sequences of different lengths are packed back to back
(``iter_test_batches``) and the model receives their lengths, so each sequence's embedding depends on its own frames
only: it does not change with the batch it shares (tested), with ``eval_batch_frames`` or with the order of rows.
Runs under ``torch.inference_mode`` with the model in eval mode; with ``precision="bf16"`` (a run's
:func:`gstsn.precision.precision_used`) the forward pass is under bf16 autocast and the features are returned as
float32. With a ``frame_source`` (:class:`gstsn.data.device_frames.DeviceFrames`) the frames are unpacked on the
device and the host only lists frame ids; the features are gathered on the device and copied back once, so the host
never waits for the device between batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from gstsn.config import InputConfig, RunConfig
from gstsn.precision import autocast_to, precision_used


class EmbeddingError(ValueError):
    """Rows to embed are invalid (empty selection, unknown subjects), or the data's frames do not fit the model."""


def check_frame_size(dataset: Any, input_cfg: InputConfig, data: str | None = None) -> None:
    """Raise :class:`EmbeddingError` naming the data when its frames are not the ``height``×``width`` the model
    takes (``data``: how the user named it, e.g. the ``--data`` spec; else the cache's path)."""
    got = (getattr(dataset, "height", None), getattr(dataset, "width", None))
    want = (input_cfg.height, input_cfg.width)
    if None in got or got == want:
        return
    name = data or str(getattr(dataset, "path", "the data"))
    where = getattr(dataset, "path", None)
    at = f" (cache {where})" if where is not None and str(where) != name else ""
    raise EmbeddingError(
        f"the data {name!r}{at} has {got[0]}×{got[1]} frames, but the model takes {want[0]}×{want[1]} frames "
        "(input fields height/width, as trained): evaluate on data with frames of that size"
    )


def clip_centred(frames: torch.Tensor, seq_lens: torch.Tensor, cap: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep a centred contiguous clip of at most ``cap`` frames of each packed sequence.

    ``frames (T_total, H, W)`` holds sequences of ``seq_lens (n,)`` frames back to back; returns the clipped packed
    frames and their new lengths (unchanged when ``cap`` is None or the sequence is not longer).
    """
    if cap is None:
        return frames, seq_lens
    lens = seq_lens.to(torch.int64)
    if int(lens.max()) <= cap:
        return frames, lens
    starts = torch.cumsum(lens, 0) - lens
    new_lens = lens.clamp(max=cap)
    offsets = starts + (lens - new_lens) // 2
    idx = torch.cat([torch.arange(int(o), int(o) + int(n)) for o, n in zip(offsets, new_lens, strict=True)])
    return frames[idx], new_lens


def embed_sequences(
    model: nn.Module,
    dataset: Any,
    rows: Sequence[int] | np.ndarray,
    input_cfg: InputConfig,
    device: torch.device,
    *,
    batch_frames: int = 4096,
    max_test_frames: int | None = None,
    precision: str = "fp32",
    frame_source: Any = None,
    as_tensor: bool = False,
) -> np.ndarray | torch.Tensor:
    """Embeddings ``(len(rows), parts, d)`` float32 of ``dataset``'s sequences ``rows``, in the order of ``rows``.

    Consecutive rows are packed into forwards of at most ``batch_frames`` frames (counted after the
    ``max_test_frames`` cap); a sequence longer than that is embedded alone. Rows without frames are an error.
    ``frame_source``: the dataset's frames on ``device`` (``DeviceFrames``), unpacked there. ``as_tensor``: return a
    float32 tensor on ``device`` instead of a numpy array.
    """
    from gstsn.data.sampling import iter_test_batches

    check_frame_size(dataset, input_cfg)
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size == 0:
        raise EmbeddingError("no sequences to embed (empty row selection)")
    position = {int(r): i for i, r in enumerate(rows)}
    if len(position) != len(rows):
        raise EmbeddingError("rows to embed must be distinct")
    pieces: list[torch.Tensor] = []
    order: list[int] = []
    done: list[int] = []
    autocast = autocast_to(precision, device)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), autocast:
            for group, full_frames in _groups(dataset, rows, batch_frames, max_test_frames):
                if frame_source is not None:
                    ids, seq_lens, batch_rows = _frame_ids(dataset, group)
                    ids, lens = clip_centred(ids, seq_lens, max_test_frames)
                    f = frame_source.frames(ids)  # uint8 (T, H, W), unpacked on the device
                else:
                    frames, seq_lens, batch_rows = next(iter_test_batches(dataset, group, full_frames))
                    f, lens = clip_centred(
                        torch.from_numpy(np.ascontiguousarray(frames)), torch.as_tensor(seq_lens), max_test_frames
                    )
                x = _prepare(f.to(device, non_blocking=True), input_cfg)
                pieces.append(model(x, lens.tolist()).float())  # (n, parts, d), left on the device
                order.extend(position[int(r)] for r in batch_rows)
                done.extend(int(r) for r in batch_rows)
    finally:
        model.train(was_training)
    if not pieces or len(done) != len(rows):
        missing = sorted(set(position) - set(done))
        raise EmbeddingError(f"{len(missing)} of {len(rows)} rows have no frames to embed, e.g. rows {missing[:5]}")
    feats = torch.cat(pieces)
    inverse = torch.empty(len(order), dtype=torch.int64)
    inverse[torch.as_tensor(order)] = torch.arange(len(order))
    feats = feats[inverse.to(feats.device)]  # back into the order of rows
    return feats if as_tensor else feats.cpu().numpy()


def _frame_ids(dataset: Any, group: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Global frame ids of every frame of the sequences ``group`` in order, packed back to back, and their lengths."""
    starts, lengths = dataset.starts[group], dataset.lengths[group]
    ends = np.cumsum(lengths)
    ids = np.arange(int(ends[-1]), dtype=np.int64) + np.repeat(starts - (ends - lengths), lengths)
    return torch.from_numpy(ids), torch.from_numpy(lengths.astype(np.int64)), group


def _groups(dataset: Any, rows: np.ndarray, batch_frames: int, cap: int | None) -> list[tuple[np.ndarray, int]]:
    """Consecutive runs of ``rows`` whose frames *after the cap* fit ``batch_frames`` (a longer one alone), each with
    its uncapped frame count (what ``iter_test_batches`` needs to return the run as one batch)."""
    lengths = dataset.index["length"].to_numpy()[rows]
    if np.any(lengths < 1):
        bad = rows[lengths < 1]
        raise EmbeddingError(f"{bad.size} of {rows.size} rows have no frames to embed, e.g. rows {bad[:5].tolist()}")
    used = lengths if cap is None else np.minimum(lengths, cap)
    groups, start, total = [], 0, 0
    for i, n in enumerate(used.tolist()):
        if i > start and total + n > batch_frames:
            groups.append((rows[start:i], int(lengths[start:i].sum())))
            start, total = i, 0
        total += n
    groups.append((rows[start:], int(lengths[start:].sum())))
    return groups


def _prepare(frames: torch.Tensor, input_cfg: InputConfig) -> torch.Tensor:
    from gstsn.models import prepare_frames

    return prepare_frames(frames, input_cfg)


def rows_of_subjects(dataset: Any, subjects: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, empty)``: row numbers of ``subjects``' sequences in ``dataset.index`` that have frames (ascending), and
    those that have none (they cannot be embedded; the protocol treats them as missing)."""
    wanted = set(subjects)
    index = dataset.index
    mine = index["subject"].isin(wanted).to_numpy()
    if not mine.any():
        raise EmbeddingError(
            f"none of the {len(wanted)} test subjects (e.g. {sorted(wanted)[:3]}) is in the data "
            f"(subjects there: {sorted(set(index['subject']))[:3]}...)"
        )
    has_frames = index["length"].to_numpy() >= 1
    return np.flatnonzero(mine & has_frames), np.flatnonzero(mine & ~has_frames)


def embed_for_run(
    model: nn.Module,
    dataset: Any,
    rows: np.ndarray,
    cfg: RunConfig,
    device: torch.device,
    frame_source: Any = None,
    as_tensor: bool = False,
) -> np.ndarray | torch.Tensor:
    """:func:`embed_sequences` of ``rows`` with the run's input, test-frame cap, batch budget and precision."""
    return embed_sequences(
        model,
        dataset,
        rows,
        cfg.input,
        device,
        batch_frames=cfg.eval.eval_batch_frames,
        max_test_frames=cfg.eval.max_test_frames,
        precision=precision_used(device, cfg.train),
        frame_source=frame_source,
        as_tensor=as_tensor,
    )


def evaluate_model(
    model: nn.Module,
    dataset: Any,
    test_subjects: Sequence[str],
    cfg: RunConfig,
    device: torch.device,
    frame_source: Any = None,
) -> tuple[Any, np.ndarray]:
    """Embed every sequence of ``test_subjects`` and score CASIA-B rank-1 with ``cfg.eval.distance``.

    Returns ``(Rank1Result, features (N, parts, d))``; sequences without frames are left out (missing).
    ``frame_source``: the dataset's frames on ``device`` (see :func:`embed_sequences`); the features then stay on the
    device for the protocol and come back to the host once, for the return value.
    """
    from gstsn.eval.protocol import evaluate_rank1

    check_frame_size(dataset, cfg.input, cfg.data.source)
    rows, _ = rows_of_subjects(dataset, test_subjects)
    on_device = frame_source is not None
    feats = embed_for_run(model, dataset, rows, cfg, device, frame_source=frame_source, as_tensor=on_device)
    index = dataset.index.iloc[rows]
    result = evaluate_rank1(
        feats,
        index["subject"].to_numpy(),
        index["seq_type"].to_numpy(),
        index["view"].to_numpy(),
        distance=cfg.eval.distance,
        device=device,
    )
    return result, (feats.cpu().numpy() if on_device else feats)


__all__ = [
    "EmbeddingError",
    "check_frame_size",
    "clip_centred",
    "embed_for_run",
    "embed_sequences",
    "evaluate_model",
    "rows_of_subjects",
]
