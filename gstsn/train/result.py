"""What a finished (or time-limited) training run reports: :class:`TrainResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TrainResult:
    """What a finished (or time-limited) run reports."""

    out_dir: Path
    iteration: int
    status: str  # "completed" or "time_limit"
    train_time: float  # cumulative seconds of training across resumes
    last_stats: dict[str, float]
    collapse: dict[str, Any]
    checkpoint: Path | None
    device: str
    world_size: int
    resumed_from: int | None
    sec_per_iter: float  # this session's mean training step time (after the first step)
    cpu_others_share: float | None = None  # share of the CPUs other processes took while it trained (all sessions)
    eval_rows: list[dict[str, Any]] = field(default_factory=list)  # rows written to eval_log.csv this session
    final_eval: Any = None  # Rank1Result at the final iteration (main rank, when test subjects were given)
    final_features: Any = None  # the test embeddings behind ``final_eval`` (rows of ``rows_of_subjects``), or None


__all__ = ["TrainResult"]
