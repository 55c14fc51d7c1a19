"""Evaluation curves (rank-1 against training time): ``runs/<run_id>/eval_curve.csv`` in a results store, or the
trainer's own ``eval_log.csv`` read in its place, and which runs' curves are compared (docs/results.md).

- ``eval_curve.csv``: ``iteration, wall_time, distance, condition, rank1`` (one row per evaluation, distance and
  condition; ``wall_time`` is training seconds, evaluation excluded; ``rank1`` excludes identical views).
- ``eval_log.csv`` (the trainer's log): ``probe_set`` for ``condition`` and ``rank1_excl`` for ``rank1``, plus
  columns of its own; :func:`as_eval_curve` turns it into the curve format.
- :data:`PAIR_KEYS`: a GSTSN and a GaitSet run are paired for time to accuracy when these fields are equal;
  :data:`SETTING_KEYS` (the same without the seed): the runs of one setting, whose seeds are compared together.
- :func:`pair_runs`: the GaitSet / GSTSN seed pairs of each setting; :func:`first_reach`: when a curve first reaches
  a rank-1; :func:`usable_curves`: a curve table without impossible values (each one named).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from gstsn.results.files import EVAL_CURVE_FILE, EVAL_LOG_FILE
from gstsn.results.row import row_keys
from gstsn.results.stats import hashable

EVAL_CURVE_COLUMNS: tuple[str, ...] = ("iteration", "wall_time", "distance", "condition", "rank1")
EVAL_LOG_COLUMNS: tuple[str, ...] = ("iteration", "wall_time", "distance", "probe_set", "rank1_excl")
PAIR_KEYS: tuple[str, ...] = row_keys(
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
SETTING_KEYS: tuple[str, ...] = tuple(k for k in PAIR_KEYS if k != "seed")


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


def pair_key(row: Mapping[str, Any], keys: tuple[str, ...] = PAIR_KEYS) -> str:
    """``row``'s values of ``keys`` as one string, equal for equal values however they were read (a JSON list or a
    tuple, a NumPy or a Python number, NaN or None)."""
    return json.dumps([hashable(row.get(k)) for k in keys], default=str)


@dataclass(frozen=True)
class PairedRuns:
    """The GaitSet and GSTSN runs of one setting (:data:`SETTING_KEYS`) paired by seed, for one GSTSN variant.

    ``pairs``: ``(seed, gaitset run id, gstsn run id)`` by seed; ``row``: the first GaitSet run's row (the setting's
    values, for a title); ``gstsn_label``: the GSTSN variant's name (the runs' ``cell`` unless the caller names it)."""

    setting: str
    gstsn_label: str
    pairs: tuple[tuple[int, str, str], ...]
    row: Mapping[str, Any]

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(seed for seed, _, _ in self.pairs)


def pair_runs(
    rows: Iterable[Mapping[str, Any]], label: Callable[[Mapping[str, Any]], str] = lambda r: str(r.get("cell"))
) -> list[PairedRuns]:
    """Every GSTSN run with a GaitSet run of the same :data:`PAIR_KEYS` (the first such GaitSet run, as
    :mod:`gstsn.timing.tta` pairs), grouped by setting and GSTSN variant (``label``); one pair per seed (the first
    run). Groups in order of setting, then variant; pairs by seed. Rows need ``run_id``, ``method`` and ``seed``."""
    rows = [r for r in rows if r.get("method") in ("gaitset", "gstsn")]
    gaitset: dict[str, Mapping[str, Any]] = {}
    for r in rows:
        if r["method"] == "gaitset":
            gaitset.setdefault(pair_key(r), r)
    groups: dict[tuple[str, str], dict[int, tuple[int, str, str]]] = {}
    first_row: dict[tuple[str, str], Mapping[str, Any]] = {}
    for r in rows:
        partner = gaitset.get(pair_key(r)) if r["method"] == "gstsn" else None
        if partner is None:
            continue
        group = (pair_key(r, SETTING_KEYS), label(r))
        seed = int(hashable(r["seed"]))
        groups.setdefault(group, {}).setdefault(seed, (seed, str(partner["run_id"]), str(r["run_id"])))
        first_row.setdefault(group, partner)
    return [
        PairedRuns(setting, name, tuple(pairs[s] for s in sorted(pairs)), first_row[(setting, name)])
        for (setting, name), pairs in sorted(groups.items())
    ]


def usable_curves(curves: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """``curves`` (curve columns and ``run_id``) with ``iteration``, ``wall_time`` and ``rank1`` as numbers, less the
    rows whose rank-1 is not a percentage (0–100) or whose iteration or wall time is not a finite number ≥ 0: those
    are named, one sentence per run, never averaged."""
    out = curves.copy()
    bad = pd.Series(False, index=out.index)
    for col in ("iteration", "wall_time", "rank1"):
        values = pd.to_numeric(out[col], errors="coerce")
        hi = 100.0 if col == "rank1" else math.inf
        bad |= ~(values.between(0.0, hi) & values.map(math.isfinite))
        out[col] = values
    problems = []
    for run_id, part in curves[bad].groupby("run_id", sort=True):
        first = part.iloc[0]
        problems.append(
            f"run {run_id}: eval_curve.csv has {len(part)} row(s) with an impossible value (rank-1 outside 0–100, "
            f"or a missing or negative iteration or wall time), e.g. iteration {first['iteration']}, wall time "
            f"{first['wall_time']}, {first['condition']} rank-1 {first['rank1']}; left out"
        )
    return out[~bad].reset_index(drop=True), problems


def first_reach(curve: pd.DataFrame, target: float) -> float | None:
    """Wall time of the first evaluation at or above ``target`` (curve of one distance and condition), or None."""
    ordered = curve.sort_values("iteration", kind="stable")
    hit = ordered[ordered["rank1"] >= target - 1e-9]
    return float(hit["wall_time"].iloc[0]) if len(hit) else None


__all__ = [
    "EVAL_CURVE_COLUMNS",
    "EVAL_CURVE_FILE",
    "EVAL_LOG_COLUMNS",
    "EVAL_LOG_FILE",
    "PAIR_KEYS",
    "SETTING_KEYS",
    "CurveError",
    "PairedRuns",
    "as_eval_curve",
    "eval_curve_text",
    "first_reach",
    "pair_key",
    "pair_runs",
    "read_curve",
    "usable_curves",
]
