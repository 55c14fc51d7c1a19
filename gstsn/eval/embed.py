"""Test-time embedding of whole sequences, and the driver from a trained model to CASIA-B rank-1.

Every test sequence is embedded with all its frames in order (or, when ``EvalConfig.max_test_frames`` caps it, a
centred contiguous clip of that many frames, in order). Sequences of different lengths are packed back to back
(``iter_test_batches``) and the model receives their lengths, so each sequence's embedding depends on its own frames
only: it does not change with the batch it shares (tested), with ``eval_batch_frames`` or with the order of rows.
Runs under ``torch.inference_mode`` with the model in eval mode; on CUDA with ``amp`` the forward pass is bf16 and the
features are returned as float32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from gstsn.config import InputConfig, RunConfig


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
    amp: bool = False,
) -> np.ndarray:
    """Embeddings ``(len(rows), parts, d)`` float32 of ``dataset``'s sequences ``rows``, in the order of ``rows``.

    Consecutive rows are packed into forwards of at most ``batch_frames`` frames (counted after the
    ``max_test_frames`` cap); a sequence longer than that is embedded alone. Rows without frames are an error.
    """
    from gstsn.data.sampling import iter_test_batches

    check_frame_size(dataset, input_cfg)
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size == 0:
        raise EmbeddingError("no sequences to embed (empty row selection)")
    position = {int(r): i for i, r in enumerate(rows)}
    if len(position) != len(rows):
        raise EmbeddingError("rows to embed must be distinct")
    out: np.ndarray | None = None
    done: list[int] = []
    autocast = (
        torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        if amp and device.type == "cuda"
        else contextlib.nullcontext()
    )
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), autocast:
            for group, full_frames in _groups(dataset, rows, batch_frames, max_test_frames):
                frames, seq_lens, batch_rows = next(iter_test_batches(dataset, group, full_frames))
                f, lens = clip_centred(
                    torch.from_numpy(np.ascontiguousarray(frames)), torch.as_tensor(seq_lens), max_test_frames
                )
                x = _prepare(f.to(device, non_blocking=True), input_cfg)
                emb = model(x, lens.tolist()).float().cpu().numpy()  # (n, parts, d)
                if out is None:
                    out = np.empty((len(rows), *emb.shape[1:]), dtype=np.float32)
                out[[position[int(r)] for r in batch_rows]] = emb
                done.extend(int(r) for r in batch_rows)
    finally:
        model.train(was_training)
    if out is None or len(done) != len(rows):
        missing = sorted(set(position) - set(done))
        raise EmbeddingError(f"{len(missing)} of {len(rows)} rows have no frames to embed, e.g. rows {missing[:5]}")
    return out


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


def embed_for_run(model: nn.Module, dataset: Any, rows: np.ndarray, cfg: RunConfig, device: torch.device) -> np.ndarray:
    """:func:`embed_sequences` of ``rows`` with the run's input, test-frame cap, batch budget and precision."""
    return embed_sequences(
        model,
        dataset,
        rows,
        cfg.input,
        device,
        batch_frames=cfg.eval.eval_batch_frames,
        max_test_frames=cfg.eval.max_test_frames,
        amp=cfg.train.amp,
    )


def evaluate_model(
    model: nn.Module,
    dataset: Any,
    test_subjects: Sequence[str],
    cfg: RunConfig,
    device: torch.device,
) -> tuple[Any, np.ndarray]:
    """Embed every sequence of ``test_subjects`` and score CASIA-B rank-1 with ``cfg.eval.distance``.

    Returns ``(Rank1Result, features (N, parts, d))``; sequences without frames are left out (missing).
    """
    from gstsn.eval.protocol import evaluate_rank1

    check_frame_size(dataset, cfg.input, cfg.data.source)
    rows, _ = rows_of_subjects(dataset, test_subjects)
    feats = embed_for_run(model, dataset, rows, cfg, device)
    index = dataset.index.iloc[rows]
    result = evaluate_rank1(
        feats,
        index["subject"].to_numpy(),
        index["seq_type"].to_numpy(),
        index["view"].to_numpy(),
        distance=cfg.eval.distance,
        device=device,
    )
    return result, feats


__all__ = [
    "EmbeddingError",
    "check_frame_size",
    "clip_centred",
    "embed_for_run",
    "embed_sequences",
    "evaluate_model",
    "rows_of_subjects",
]
