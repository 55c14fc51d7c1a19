"""Does the verdict depend on the training budget? GSTSN − GaitSet rank-1 at every evaluation of the runs' curves,
paired by seed (torch-free).

- Input: the runs' rows and their evaluation curves (``eval_curve.csv`` rows with a ``run_id`` column, as the report
  loads them; :func:`study_curves` reads them from a study folder).
- Pairs: as time to accuracy pairs them (:func:`gstsn.results.curves.pair_runs`): a GSTSN run and a GaitSet run of
  the same seed, device, data and every shared setting (:data:`~gstsn.results.curves.PAIR_KEYS`, iterations
  included, so that one figure never mixes two learning-rate schedules); one series per setting and GSTSN variant.
- Points: for each pair and probe set, every iteration at which both runs have a rank-1 (``per_part`` distance,
  identical views excluded: the curve's ``rank1``), the difference GSTSN − GaitSet; at each iteration, the mean over
  the seeds there with its 95 % t-interval (:func:`gstsn.results.stats.paired_difference`). The intervals are per
  point, not adjusted for the number of points: they show how the difference moves with the budget; the study's
  verdict (at the final budget) is the multiplicity-adjusted one.
- A curve value that cannot be a rank-1 (outside 0–100, not a number) is named and left out
  (:func:`gstsn.results.curves.usable_curves`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from gstsn.config import CONDITIONS
from gstsn.results import curves as curve_files
from gstsn.results.curves import EVAL_CURVE_COLUMNS, PairedRuns, pair_runs, usable_curves
from gstsn.results.files import RUNS_DIR, RUNS_FILE
from gstsn.results.runs import read_runs
from gstsn.results.stats import paired_difference

MAIN_DISTANCE = "per_part"
PER_SEED_COLUMNS = ["condition", "iteration", "seed", "gaitset", "gstsn", "diff"]
POINT_COLUMNS = ["condition", "iteration", "mean", "low", "high", "n", "seeds"]


@dataclass
class BudgetCurve:
    """GSTSN − GaitSet rank-1 against iterations for one setting and GSTSN variant.

    ``per_seed``: one row per probe set, iteration and seed (:data:`PER_SEED_COLUMNS`); ``points``: per probe set
    and iteration the mean difference with its 95 % t-interval over the seeds (:data:`POINT_COLUMNS`; ``seeds`` is
    a comma-separated list); ``problems``: curve values left out, and pairs without a common evaluation."""

    paired: PairedRuns
    distance: str
    per_seed: pd.DataFrame
    points: pd.DataFrame
    problems: list[str] = field(default_factory=list)


def run_curve(curves: pd.DataFrame, run_id: str, distance: str, condition: str) -> pd.DataFrame:
    """One run's curve for one distance and probe set, by iteration (one row per iteration: the last written)."""
    part = curves[
        (curves["run_id"].astype(str) == run_id)
        & (curves["distance"].astype(str) == distance)
        & (curves["condition"].astype(str).str.upper() == condition)
    ]
    part = part.sort_values("iteration", kind="stable").drop_duplicates("iteration", keep="last")
    return part.reset_index(drop=True)


def budget_curve(
    paired: PairedRuns, curves: pd.DataFrame, distance: str = MAIN_DISTANCE, conditions: Iterable[str] = CONDITIONS
) -> BudgetCurve:
    """The paired differences of ``paired``'s runs at each common evaluation (module docstring)."""
    ids = {rid for _, a, b in paired.pairs for rid in (a, b)}
    usable, problems = usable_curves(curves[curves["run_id"].astype(str).isin(ids)])
    rows = []
    for cond in conditions:
        for seed, gaitset_id, gstsn_id in paired.pairs:
            a = run_curve(usable, gaitset_id, distance, cond).set_index("iteration")["rank1"]
            b = run_curve(usable, gstsn_id, distance, cond).set_index("iteration")["rank1"]
            common = sorted(set(a.index) & set(b.index))
            if not common and len(a) and len(b):
                problems.append(
                    f"seed {seed}: the GaitSet run {gaitset_id} and the GSTSN run {gstsn_id} have no {cond} "
                    "evaluation at a common iteration"
                )
            rows += [[cond, int(it), seed, float(a[it]), float(b[it]), float(b[it] - a[it])] for it in common]
    order = {c: i for i, c in enumerate(CONDITIONS)}
    rows.sort(key=lambda r: (order.get(r[0], len(order)), r[0], r[1], r[2]))  # probe set, iteration, seed
    per_seed = pd.DataFrame(rows, columns=PER_SEED_COLUMNS)
    points = []
    for (cond, it), part in per_seed.groupby(["condition", "iteration"], sort=False):
        iv, seeds = paired_difference(dict(zip(part["seed"], part["gstsn"], strict=True)),
                                      dict(zip(part["seed"], part["gaitset"], strict=True)))  # fmt: skip
        points.append([cond, it, iv.mean, iv.low, iv.high, iv.n, ",".join(map(str, seeds))])
    points_df = pd.DataFrame(points, columns=POINT_COLUMNS)
    return BudgetCurve(paired, distance, per_seed, points_df, list(dict.fromkeys(problems)))


def with_curves(rows: Iterable[Mapping[str, Any]], curves: pd.DataFrame) -> list[Mapping[str, Any]]:
    """The rows whose run has at least one curve row (only those are paired)."""
    have = set(curves["run_id"].astype(str)) if "run_id" in curves.columns else set()
    return [r for r in rows if str(r.get("run_id")) in have]


def budget_curves(
    rows: Iterable[Mapping[str, Any]],
    curves: pd.DataFrame,
    distance: str = MAIN_DISTANCE,
    label: Callable[[Mapping[str, Any]], str] | None = None,
) -> list[BudgetCurve]:
    """A :class:`BudgetCurve` for each setting and GSTSN variant whose paired runs have curves with at least one
    common evaluation (none: an empty list)."""
    paired = pair_runs(with_curves(rows, curves), **({"label": label} if label else {}))
    out = [budget_curve(p, curves, distance) for p in paired]
    return [bc for bc in out if not bc.points.empty]


def study_curves(study_dir: str | Path) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """A study folder's valid run rows and every run's curve (``eval_curve.csv``, else ``eval_log.csv``) with a
    ``run_id`` column; a curve file missing columns raises :class:`~gstsn.results.curves.CurveError` naming it."""
    study_dir = Path(study_dir)
    rows = read_runs(study_dir / RUNS_FILE).rows
    frames = []
    for row in rows:
        if row.get("method") not in ("gaitset", "gstsn"):
            continue
        curve = curve_files.read_curve(study_dir / RUNS_DIR / str(row["run_id"]))
        if curve is not None and not curve.empty:
            frames.append(curve.assign(run_id=str(row["run_id"])))
    curves = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*EVAL_CURVE_COLUMNS, "run_id"])
    return rows, curves


__all__ = [
    "MAIN_DISTANCE",
    "PER_SEED_COLUMNS",
    "POINT_COLUMNS",
    "BudgetCurve",
    "budget_curve",
    "budget_curves",
    "run_curve",
    "study_curves",
    "with_curves",
]
