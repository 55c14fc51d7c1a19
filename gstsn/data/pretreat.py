"""The community's silhouette pretreatment: raw frames cropped to the body and resized to 64×64, then cut to
64×44 and binarised."""

from __future__ import annotations

import numpy as np
from PIL import Image

from gstsn.data.importing import DataImportError

PRETREAT_SIZE = 64  # pretreated frames are PRETREAT_SIZE × PRETREAT_SIZE
MIN_PIXEL_SUM = 10000  # raw frames whose 0..255 pixel sum is <= this are dropped
SIDE_CUT = 10  # columns cut from each side of a 64-wide frame (scaled with the width) -> 64×44
BINARIZE_THRESHOLD = 128  # a pixel is foreground when its 0..255 value is >= this


def pretreat_raw_frame(img: np.ndarray, size: int = PRETREAT_SIZE) -> np.ndarray | None:
    """The community pretreatment of one raw gray frame uint8 ``(h, w)`` -> uint8 ``(size, size)``, or ``None``.

    ``None`` (frame dropped) when the pixel sum is <= ``MIN_PIXEL_SUM``, when the resized silhouette is less than one
    pixel wide, or when no x-centre is found (or it falls on column 0, as the reference code's ``if not x_center``).
    Steps: crop to the rows holding the silhouette; resize to height ``size`` keeping the aspect (width
    ``int(size * w / h)``, bicubic; Pillow's bicubic, not OpenCV's, so edge values can differ by a few grey levels);
    x-centre = first column where the cumulative column sum exceeds half the total; cut a ``size``-wide window around
    it, zero-padding by ``size // 2`` on both sides when the window leaves the image.
    """
    img = np.asarray(img)
    if img.ndim != 2:
        raise DataImportError(f"a raw frame must be a 2-D gray image; got shape {img.shape}")
    img = img.astype(np.uint8, copy=False)
    if int(img.sum(dtype=np.int64)) <= MIN_PIXEL_SUM:
        return None
    rows = np.flatnonzero(img.sum(axis=1, dtype=np.int64))
    img = img[rows[0] : rows[-1] + 1]
    new_w = int(size * img.shape[1] / img.shape[0])
    if new_w < 1:
        return None
    img = np.asarray(Image.fromarray(img).resize((new_w, size), Image.Resampling.BICUBIC))
    col = img.sum(axis=0, dtype=np.int64)
    total = int(col.sum())
    above = np.flatnonzero(np.cumsum(col) > total / 2)
    if total == 0 or not above.size or above[0] == 0:
        return None
    half = size // 2
    left, right = int(above[0]) - half, int(above[0]) + half
    if left <= 0 or right >= img.shape[1]:
        img = np.pad(img, ((0, 0), (half, half)))
        left, right = left + half, right + half
    return np.ascontiguousarray(img[:, left:right])


def crop_binarize(frames: np.ndarray) -> np.ndarray:
    """Pretreated gray frames uint8 ``(T, H, W)`` -> uint8 ``(T, H, W - 2*cut)`` in {0, 1}.

    ``cut`` is ``SIDE_CUT`` scaled with the width (10 px of 64: 64×64 -> 64×44). A pixel is foreground when its value
    is >= ``BINARIZE_THRESHOLD`` (128); frames whose values are all in {0, 1} are taken as already binary.
    """
    frames = np.asarray(frames)
    if frames.ndim != 3:
        raise DataImportError(f"frames must be (T, H, W); got shape {frames.shape}")
    cut = int(round(SIDE_CUT * frames.shape[2] / PRETREAT_SIZE))
    kept = frames[:, :, cut : frames.shape[2] - cut]
    threshold = 1 if kept.size and kept.max() <= 1 else BINARIZE_THRESHOLD
    return (kept >= threshold).astype(np.uint8)


__all__ = [
    "BINARIZE_THRESHOLD",
    "MIN_PIXEL_SUM",
    "PRETREAT_SIZE",
    "SIDE_CUT",
    "crop_binarize",
    "pretreat_raw_frame",
]
