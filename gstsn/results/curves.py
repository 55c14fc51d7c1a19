"""Evaluation curves (rank-1 against training time): ``runs/<run_id>/eval_curve.csv`` in a results store, or the
trainer's own ``eval_log.csv`` read in its place, and which runs' curves are compared (docs/results.md).

- ``eval_curve.csv``: ``iteration, wall_time, distance, condition, rank1`` (one row per evaluation, distance and
  condition; ``wall_time`` is training seconds, evaluation excluded; ``rank1`` excludes identical views).
- ``eval_log.csv`` (the trainer's log): ``probe_set`` for ``condition`` and ``rank1_excl`` for ``rank1``, plus
  columns of its own; :func:`as_eval_curve` turns it into the curve format.
- :data:`PAIR_KEYS`: a GSTSN and a GaitSet run are paired for time to accuracy when these fields are equal.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from gstsn.results.files import EVAL_CURVE_FILE, EVAL_LOG_FILE

EVAL_CURVE_COLUMNS: tuple[str, ...] = ("iteration", "wall_time", "distance", "condition", "rank1")
EVAL_LOG_COLUMNS: tuple[str, ...] = ("iteration", "wall_time", "distance", "probe_set", "rank1_excl")
PAIR_KEYS: tuple[str, ...] = (
    "seed",
    "device",
    "data_source",
    "data_fingerprint",
    "split",
    "profile",
    "iterations",
    "channels",
    "hpm_bins",
    "embed_dim",
    "input_type",
    "identity_cue",
)


class CurveError(ValueError):
    """An evaluation curve file lacks columns of its format (the message names the file and the columns)."""


def as_eval_curve(log: pd.DataFrame) -> pd.DataFrame:
    """The trainer's ``eval_log.csv`` rows in the ``eval_curve.csv`` columns (other columns are kept)."""
    return log.rename(columns={"probe_set": "condition", "rank1_excl": "rank1"})


def read_curve(run_dir: Path) -> pd.DataFrame | None:
    """The curve of the run in ``run_dir`` (``eval_curve.csv``, else ``eval_log.csv``) in the curve columns, or None
    when it has neither. Raises :class:`CurveError` naming the file when a column is missing."""
    for name, needed in ((EVAL_CURVE_FILE, EVAL_CURVE_COLUMNS), (EVAL_LOG_FILE, EVAL_LOG_COLUMNS)):
        path = Path(run_dir) / name
        if path.is_file():
            df = pd.read_csv(path)
            missing = [c for c in needed if c not in df.columns]
            if missing:
                raise CurveError(f"{path}: missing column(s) {missing}; expected {list(needed)}")
            return as_eval_curve(df)[list(EVAL_CURVE_COLUMNS)]
    return None


def eval_curve_text(eval_log: Path) -> str | None:
    """The trainer's ``eval_log.csv`` (``iteration, wall_time, probe_set, rank1_excl, ...``) as the store's
    ``eval_curve.csv`` text (``iteration, wall_time, distance, condition, rank1``); None without evaluations."""
    if not eval_log.is_file():
        return None
    with eval_log.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return None
    lines = [",".join(EVAL_CURVE_COLUMNS)]
    for r in rows:
        lines.append(",".join([r["iteration"], r["wall_time"], r["distance"], r["probe_set"], r["rank1_excl"]]))
    return "\n".join(lines) + "\n"


__all__ = [
    "EVAL_CURVE_COLUMNS",
    "EVAL_CURVE_FILE",
    "EVAL_LOG_COLUMNS",
    "EVAL_LOG_FILE",
    "PAIR_KEYS",
    "CurveError",
    "as_eval_curve",
    "eval_curve_text",
    "read_curve",
]
