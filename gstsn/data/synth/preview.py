"""``write_preview``: a PNG contact sheet of silhouettes (views × conditions, plus walking strips) to look at."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gstsn.data.naming import VIEWS

_LABEL_W = 92  # pixels for the row labels (after scaling)
_HEADER_H = 16
_GAP = 2
_BACKGROUND = 60  # grey between cells; a missing sequence stays this colour


def _lookup(index: Any) -> dict[tuple[str, str, str], int]:
    return {
        (s, t, v): i for i, (s, t, v) in enumerate(zip(index["subject"], index["seq_type"], index["view"], strict=True))
    }


def write_preview(
    dataset: Any,
    path: str | os.PathLike,
    subjects: list[str] | None = None,
    seq_types: tuple[str, ...] = ("nm-01", "bg-01", "cl-01"),
    strip_view: str = "090",
    scale: int = 2,
) -> Path:
    """Write a PNG grid of frames and return its path.

    ``dataset``: anything with an ``index`` DataFrame (subject, seq_type, view, ...) and ``sequence(i) -> (T, H, W)``
    {0,1} frames (a :class:`SynthDataset` or a cache). Top block: one row per (subject, sequence type) with the
    middle frame of each of the 11 views. Bottom block: for each sequence type of the first subject, 11 frames two
    apart from the ``strip_view`` sequence, to see the gait cycle. Missing sequences are left grey.
    ``subjects`` defaults to the first two subjects of the index.
    """
    index = dataset.index
    if len(index) == 0:
        raise ValueError("write_preview: the dataset has no sequences to show")
    if subjects is None:
        subjects = list(dict.fromkeys(index["subject"]))[:2]
    if not isinstance(scale, int) or scale < 1:
        raise ValueError(f"write_preview: scale = {scale!r} is invalid; expected a positive integer")
    rows_of = _lookup(index)
    height, width = dataset.sequence(0).shape[1:]

    rows: list[tuple[str, list[np.ndarray | None]]] = []
    for subject in subjects:
        for seq_type in seq_types:
            cells = []
            for view in VIEWS:
                i = rows_of.get((subject, seq_type, view))
                seq = dataset.sequence(i) if i is not None else None
                cells.append(None if seq is None or len(seq) == 0 else seq[len(seq) // 2])
            rows.append((f"{subject} {seq_type}", cells))
    for seq_type in seq_types:
        i = rows_of.get((subjects[0], seq_type, strip_view))
        seq = dataset.sequence(i) if i is not None else np.zeros((0, height, width), np.uint8)
        cells = [seq[2 * k] if 2 * k < len(seq) else None for k in range(len(VIEWS))]
        rows.append((f"{subjects[0]} {seq_type} @{strip_view}", cells))

    cw, ch = width * scale, height * scale
    sheet_w = _LABEL_W + len(VIEWS) * (cw + _GAP)
    sheet_h = _HEADER_H + len(rows) * (ch + _GAP)
    sheet = Image.new("L", (sheet_w, sheet_h), color=_BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for j, view in enumerate(VIEWS):
        draw.text((_LABEL_W + j * (cw + _GAP) + 2, 2), view, fill=255, font=font)
    for r, (label, cells) in enumerate(rows):
        y = _HEADER_H + r * (ch + _GAP)
        draw.text((2, y + ch // 2 - 6), label, fill=255, font=font)
        for j, frame in enumerate(cells):
            if frame is None:
                continue
            tile = Image.fromarray((np.asarray(frame) > 0).astype(np.uint8) * 255, mode="L")
            sheet.paste(tile.resize((cw, ch), Image.NEAREST), (_LABEL_W + j * (cw + _GAP), y))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, format="PNG")
    return path
