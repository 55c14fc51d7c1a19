"""Does a sequence read from a PNG / pickle tree look like binary silhouettes? Binarity and fill, checked at import.

Two numbers per sequence, both cheap (one ``bincount`` per frame):

- **binarity**: the share of a frame's pixels at its two most frequent grey levels (median over the frames). A
  silhouette is background plus foreground (0 and 255, or 0 and 1) with a thin band of grey edge pixels from the
  pretreatment's resize: 1.0 for frames already binary, at least 0.84 per frame (median 0.90) for real CASIA-B
  frames scaled up 4× and pretreated again. A photo or grey noise spreads over many levels: 0.01-0.03 for noise
  and a gradient image.
- **fill**: the share of foreground pixels once binarised as the cache stores them (64×44, mean over the frames).
  Real CASIA-B sequences (the compact copy, 13,592 sequences) lie between 0.15 and 0.38 (single frames up to 0.85);
  binarised noise or a gradient image is 0.50-0.63, an inverted silhouette (white background) 0.77.

:func:`assess` turns them into a verdict: ``"ok"``, ``"borderline"`` (imported, reported and warned about) or
``"refused"`` (the import stops, naming the file, unless the user accepts non-silhouettes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Refused below / above these (clearly not silhouettes); borderline below / above the WARN_* ones.
MIN_BINARITY = 0.5
WARN_BINARITY = 0.75
MAX_FILL = 0.6
WARN_FILL = 0.45
WARN_MIN_FILL = 0.02  # (almost) empty frames: imported, but worth a word


@dataclass(frozen=True)
class Quality:
    """Binarity and fill of one sequence, the frame that looks least like a silhouette, and the verdict."""

    binarity: float  # median over frames of the share of pixels at the frame's two most frequent levels
    fill: float  # mean over frames of the share of foreground pixels after binarisation
    worst_frame: int  # index of the frame with the lowest binarity (the highest fill when all are binary)
    verdict: str  # "ok", "borderline" or "refused"
    reason: str  # "" when ok

    def describe(self) -> str:
        return (
            f"{self.reason} (binarity {self.binarity:.2f}: share of pixels at the two main grey levels, "
            f"silhouettes >= {WARN_BINARITY}, refused < {MIN_BINARITY}; fill {self.fill:.2f}: foreground share, "
            f"real CASIA-B 0.15-0.38, refused > {MAX_FILL})"
        )


def binarity(gray: np.ndarray) -> np.ndarray:
    """Per frame of uint8 ``(T, H, W)``: the share of pixels at the frame's two most frequent values, float ``(T,)``."""
    gray = np.asarray(gray)
    t = gray.shape[0]
    if t == 0:
        return np.zeros(0)
    levels = gray.reshape(t, -1).astype(np.int64) + 256 * np.arange(t)[:, None]
    counts = np.bincount(levels.ravel(), minlength=256 * t).reshape(t, 256)
    top2 = np.partition(counts, 254, axis=1)[:, 254:].sum(axis=1)
    return top2 / gray[0].size


def assess(gray: np.ndarray, binary: np.ndarray) -> Quality:
    """The verdict on one sequence: ``gray`` uint8 ``(T, H, W)`` as read (before thresholding), ``binary`` the
    ``(T, H', W')`` {0, 1} frames the cache will store."""
    per_frame = binarity(gray)
    fills = np.asarray(binary).reshape(len(binary), -1).mean(axis=1) if len(binary) else np.zeros(0)
    b = float(np.median(per_frame)) if per_frame.size else 1.0
    f = float(fills.mean()) if fills.size else 0.0
    if per_frame.size and per_frame.min() < 1:
        worst = int(np.argmin(per_frame))
    else:
        worst = int(np.argmax(fills)) if fills.size else 0
    if b < MIN_BINARITY:
        verdict, reason = "refused", "not binary: frames spread over many grey levels, as a photo or noise does"
    elif f > MAX_FILL:
        verdict, reason = "refused", "mostly foreground after binarising (an inverted or non-silhouette image)"
    elif b < WARN_BINARITY:
        verdict, reason = "borderline", "less binary than silhouettes usually are"
    elif f > WARN_FILL:
        verdict, reason = "borderline", "more foreground than real silhouettes have"
    elif f < WARN_MIN_FILL:
        verdict, reason = "borderline", "(almost) empty frames"
    else:
        verdict, reason = "ok", ""
    return Quality(b, f, worst, verdict, reason)


__all__ = ["MAX_FILL", "MIN_BINARITY", "Quality", "WARN_BINARITY", "WARN_FILL", "WARN_MIN_FILL", "assess", "binarity"]
