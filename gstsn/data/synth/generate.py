"""``generate(cfg)``: the whole synthetic dataset in the project's sequence-table schema."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gstsn.data.naming import SEQ_TYPES, VIEWS
from gstsn.data.synth.body import build_body
from gstsn.data.synth.config import GENERATOR_NAME, GENERATOR_VERSION, SynthConfig, fingerprint, synth_config_to_dict
from gstsn.data.synth.kinematics import frame_layout, walker_pose
from gstsn.data.synth.render import NoiseLevels, make_cameras, render_frames
from gstsn.data.synth.traits import sequence_lengths, sequence_params, subject_traits

STREAM_NOISE = 3
_CHUNK_FRAMES = 1024  # frames rendered at once; bounds the rasteriser's scratch memory (~60 MB)


@dataclass(frozen=True)
class SynthDataset:
    """A generated dataset in the sequence-table schema.

    - ``frames``: uint8 (F, height, width), values {0, 1}, all sequences concatenated in row order;
    - ``index``: DataFrame with columns subject, seq_type, view (str), start, length (int64), sorted by
      (subject, seq_type, view); sequence i is ``frames[start[i] : start[i] + length[i]]``;
    - ``meta``: generator name and version, the resolved config, its fingerprint and counts (JSON-ready).
    """

    frames: np.ndarray
    index: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.index)

    def sequence(self, i: int) -> np.ndarray:
        """Frames of sequence ``i``: uint8 (T, height, width)."""
        start, length = int(self.index.start.iat[i]), int(self.index.length.iat[i])
        return self.frames[start : start + length]


def subject_name(i: int) -> str:
    """0-based subject index -> CASIA-B style id ("001", ...)."""
    return f"{i + 1:03d}"


def sequence_rows() -> list[tuple[str, str]]:
    """(seq_type, view) of one subject's sequences in table order (lexicographic, as the real data is sorted)."""
    return sorted((t, v) for t in SEQ_TYPES for v in VIEWS)


def _keys() -> tuple[list[tuple[int, str]], list[int]]:
    """RNG keys of one subject's sequences in table order: (type index, condition) and view index."""
    rows = sequence_rows()
    return [(SEQ_TYPES.index(t), t[:2]) for t, _ in rows], [VIEWS.index(v) for _, v in rows]


def render_subject(
    cfg: SynthConfig, subject_index: int, out: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """All sequences of one subject: frames uint8 (F_s, height, width) and lengths int64 (len(sequence_rows()),).

    ``out``, if given, is a preallocated (F_s, height, width) uint8 array to render into (and is returned).
    """
    rows = sequence_rows()
    seq_keys, view_keys = _keys()
    traits = subject_traits(cfg, subject_index)
    seqp = sequence_params(cfg, subject_index, seq_keys, view_keys)
    pose = walker_pose(traits, seqp, cfg.fps)
    seq, _ = frame_layout(seqp.length)
    body = build_body(pose, traits, seqp, seq)
    azimuth = np.array([float(v) for _, v in rows])
    cams = make_cameras(azimuth, seqp.distance, seqp.cam_height).take(seq)
    noise = NoiseLevels(edge_px=cfg.edge_noise_px, holes=cfg.hole_rate, dropout=cfg.part_dropout)
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, STREAM_NOISE, subject_index]))
    shape = (len(seq), cfg.height, cfg.width)
    if out is None:
        out = np.empty(shape, dtype=np.uint8)
    elif out.shape != shape or out.dtype != np.uint8:
        raise ValueError(f"render_subject: out has shape {out.shape} {out.dtype}; expected {shape} uint8")
    for lo in range(0, len(seq), _CHUNK_FRAMES):
        sl = slice(lo, min(lo + _CHUNK_FRAMES, len(seq)))
        out[sl] = render_frames(
            body.take(sl),
            cams.take(np.arange(sl.start, sl.stop)),
            pose.pelvis[sl],
            seqp.edge_bias[seq[sl]],
            cfg.height,
            cfg.width,
            noise,
            rng,
        )
    return out, seqp.length.astype(np.int64)


def generate(cfg: SynthConfig | None = None, progress: Callable[[int, int], None] | None = None) -> SynthDataset:
    """Render the dataset described by ``cfg`` (default :class:`SynthConfig`); a pure function of the config.

    ``progress(done, total)`` is called after each subject (e.g. to drive a progress bar); it does not affect the
    output. Subjects are "001".., sequence types nm-01..06, bg-01..02, cl-01..02, views 000..180.
    """
    cfg = SynthConfig() if cfg is None else cfg
    if not isinstance(cfg, SynthConfig):
        raise TypeError(f"generate() expects a SynthConfig, got {type(cfg).__name__}")
    rows = sequence_rows()
    seq_keys, view_keys = _keys()
    length = np.concatenate([sequence_lengths(cfg, s, seq_keys, view_keys) for s in range(cfg.subjects)])
    start = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
    frames = np.empty((int(length.sum()), cfg.height, cfg.width), dtype=np.uint8)  # filled subject by subject
    per_subject = len(rows)
    for s in range(cfg.subjects):
        lo = int(start[s * per_subject])
        hi = lo + int(length[s * per_subject : (s + 1) * per_subject].sum())
        render_subject(cfg, s, out=frames[lo:hi])
        if progress is not None:
            progress(s + 1, cfg.subjects)
    index = pd.DataFrame(
        {
            "subject": [subject_name(s) for s in range(cfg.subjects) for _ in rows],
            "seq_type": [t for _ in range(cfg.subjects) for t, _ in rows],
            "view": [v for _ in range(cfg.subjects) for _, v in rows],
            "start": start,
            "length": length,
        }
    )
    meta = {
        "generator": GENERATOR_NAME,
        "generator_version": GENERATOR_VERSION,
        "config": synth_config_to_dict(cfg),
        "fingerprint": fingerprint(cfg),
        "source": f"procedural CASIA-B-like walkers ({GENERATOR_NAME} {GENERATOR_VERSION})",
        "sequences": len(index),
        "frames": int(frames.shape[0]),
    }
    return SynthDataset(frames=frames, index=index, meta=meta)
