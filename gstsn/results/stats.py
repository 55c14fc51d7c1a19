"""Statistics of a study's runs (NumPy, pandas, SciPy): summaries per cell, the comparisons a study makes, and their
tables, adjusted for the study's many comparisons.

- the means with t-intervals, paired differences and the verdict of one comparison are :mod:`gstsn.results.intervals`
  (re-exported here);
- :func:`contrasts`: which cells a study compares: every grid cell against the cell that differs from it in one
  axis only, that axis at the baseline's value (the other axes held fixed); reference rows (GEI) against the
  baseline cell. For a one-axis study: each cell against the baseline cell.
- :func:`summarize_runs` / :func:`compare_runs`: tidy tables over a study's ``runs.jsonl`` rows; a study's table
  (:func:`compare_runs`) adjusts for its many comparisons (Holm–Bonferroni, :func:`gstsn.results.multiplicity.
  adjust_family`) and its verdicts use the adjusted p-values.
- :func:`interactions` / :func:`compare_interactions`: for a study with two axes, whether the effect of one axis
  depends on the other (the paired difference-in-differences, "does ordered input matter only for GSTSN?"). Its
  own family: the contrasts' verdicts and their Holm p-values stay what they are without it.

A difference is never formatted without its interval (:func:`gstsn.results.summary.format_difference`). No torch
import: the report uses this module.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gstsn.config import CONDITIONS, DISTANCES, MODEL_NAMES
from gstsn.results import multiplicity
from gstsn.results import runs as runs_format
from gstsn.results.files import STUDY_FILE
from gstsn.results.intervals import (
    BETTER,
    LEVEL,
    NO_INTERVAL,
    UNCLEAR,
    WORSE,
    Interval,
    StatsError,
    mean_ci,
    paired_difference,
    t_quantile,
    verdict,
)
from gstsn.results.metrics import headline_metrics

MODEL_METHODS = MODEL_NAMES  # methods on the axis grid; others (e.g. "gei") are reference rows


# ----------------------------------------------------------------------------------------------------------------------
# Student's t (SciPy)


# ----------------------------------------------------------------------------------------------------------------------
# Study tables


def rank1_metrics(distances: Sequence[str] = DISTANCES, conditions: Sequence[str] = CONDITIONS) -> list[str]:
    """The headline metric names ``rank1.<distance>.<COND>`` (identical views excluded)."""
    return headline_metrics(distances, conditions)


def hashable(value: Any) -> Any:
    """A value usable as a dict key and comparable across JSON spellings (lists → tuples, NumPy scalars → Python)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, list | tuple | np.ndarray):
        return tuple(hashable(v) for v in value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _cell_axis_values(runs: pd.DataFrame, axes: dict[str, list[Any]]) -> dict[str, tuple]:
    """Each cell's values of the study axes (from its first run), as a tuple in ``axes`` order."""
    out: dict[str, tuple] = {}
    for cell, part in runs.groupby("cell", sort=True):
        first = part.iloc[0]
        out[str(cell)] = tuple(hashable(first[f]) if f in part.columns else None for f in axes)
    return out


def order_cells(runs: pd.DataFrame, axes: dict[str, list[Any]]) -> list[str]:
    """Cells in the order of the study's axis values (grid cells first), reference rows (e.g. GEI) after them."""
    if runs.empty:
        return []
    values = _cell_axis_values(runs, axes)
    methods = runs.groupby("cell")["method"].first().to_dict() if "method" in runs.columns else {}

    def key(cell: str) -> tuple:
        pos = []
        for f, v in zip(axes, values[cell], strict=True):
            choices = [hashable(c) for c in axes[f]] if isinstance(axes[f], list) else []
            pos.append(choices.index(v) if v in choices else len(choices))
        off_grid = methods.get(cell) not in MODEL_METHODS if methods else False
        return (off_grid, tuple(pos), cell)

    return sorted(values, key=key)


def per_seed(runs: pd.DataFrame, cell: str, metric: str) -> dict[int, float]:
    """``{seed: value}`` of ``metric`` for the runs of ``cell``: missing, non-numeric and non-finite values are left
    out; two runs of the cell for one seed raise :class:`StatsError` naming the cell and the seeds."""
    part = runs.loc[runs["cell"] == cell]
    if part["seed"].duplicated().any():
        dup = sorted(int(s) for s in part.loc[part["seed"].duplicated(), "seed"])
        raise StatsError(f"cell {cell!r} has more than one run for seed(s) {dup}; expected one run per seed and cell")
    if metric not in part.columns:
        return {}
    values = pd.to_numeric(part[metric], errors="coerce")
    return {int(s): float(v) for s, v in zip(part["seed"], values, strict=True) if math.isfinite(v)}


def summarize_runs(runs: pd.DataFrame, metrics: Sequence[str], level: float = LEVEL) -> pd.DataFrame:
    """One row per cell × metric: ``cell, method, metric, mean, low, high, n, seeds`` (cells in first-seen order)."""
    out = []
    for cell in dict.fromkeys(runs["cell"]):
        method = runs.loc[runs["cell"] == cell, "method"].iloc[0] if "method" in runs.columns else None
        for metric in metrics:
            values = per_seed(runs, cell, metric)
            iv = mean_ci(values.values(), level)
            out.append(
                {
                    "cell": cell,
                    "method": method,
                    "metric": metric,
                    "mean": iv.mean,
                    "low": iv.low,
                    "high": iv.high,
                    "n": iv.n,
                    "seeds": ",".join(str(s) for s in sorted(values)),
                }
            )
    return pd.DataFrame(out, columns=["cell", "method", "metric", "mean", "low", "high", "n", "seeds"])


def contrasts(
    cell_values: Mapping[str, Mapping[str, Any]],
    axes: Mapping[str, Sequence[Any]],
    baseline: Mapping[str, Any],
    references: Sequence[str] = (),
) -> list[tuple[str, str, str]]:
    """``(cell, reference_cell, varied_axis)`` for every comparison a study makes.

    ``cell_values``: grid cell label → its axis values; ``references``: labels of reference rows (off the grid). A grid
    cell is compared with the cell equal to it except for one axis set to the baseline's value; reference rows with
    the baseline cell (``varied_axis`` = ``"method"``).
    """
    key = {label: tuple(hashable(vals.get(a)) for a in axes) for label, vals in cell_values.items()}
    by_key = {k: label for label, k in key.items()}
    base_key = tuple(hashable(baseline.get(a)) for a in axes)
    out: list[tuple[str, str, str]] = []
    for label, k in key.items():
        for i, axis in enumerate(axes):
            if k[i] == base_key[i]:
                continue
            target = (*k[:i], base_key[i], *k[i + 1 :])
            if target in by_key:
                out.append((label, by_key[target], axis))
    base_label = by_key.get(base_key)
    if base_label is not None:
        out.extend((ref, base_label, "method") for ref in references)
    return out


def _grid_cells(runs: pd.DataFrame, axes: Mapping[str, Sequence[Any]]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """``(grid, references)``: each learned cell's axis values (from its first run), and the reference rows (GEI)."""
    methods = runs.groupby("cell", sort=False)["method"].first().to_dict() if "method" in runs.columns else {}
    grid, refs = {}, []
    for cell, part in runs.groupby("cell", sort=False):
        if methods.get(cell, "gstsn") in MODEL_METHODS:
            first = part.iloc[0]
            grid[cell] = {a: (first[a] if a in part.columns else None) for a in axes}
        else:
            refs.append(cell)
    return grid, refs


def _adjust_rows(rows: list[dict[str, Any]], alpha: float, higher_is_better: bool = True) -> None:
    """Holm-adjust ``rows`` (each with its interval under ``_iv``, removed here) per :func:`family_of` of their metric,
    adding ``p, p_holm, m, verdict, seeds_needed`` to each."""
    for family in dict.fromkeys(family_of(r["metric"]) for r in rows):
        members = [r for r in rows if family_of(r["metric"]) == family]
        adjusted = multiplicity.adjust_family([r.pop("_iv") for r in members], alpha, higher_is_better)
        for r, a in zip(members, adjusted, strict=True):
            r.update(p=a.p, p_holm=a.p_holm, m=a.m, verdict=a.verdict, seeds_needed=a.seeds_needed)


def compare_runs(
    runs: pd.DataFrame,
    axes: Mapping[str, Sequence[Any]],
    baseline: Mapping[str, Any],
    metrics: Sequence[str],
    level: float = LEVEL,
    higher_is_better: bool = True,
) -> pd.DataFrame:
    """Paired differences for every :func:`contrasts` pair and metric: ``cell, reference, axis, metric, diff, low,
    high, n, seeds, p, p_holm, m, verdict, raw_verdict, seeds_needed``.

    ``low``/``high``: the raw (per-comparison) interval at ``level``; ``p``: its paired t-test; ``p_holm``:
    Holm-adjusted over the ``m`` comparisons of one family (every contrast × condition of one metric kind and
    distance, e.g. all ``rank1.per_part.*`` rows; see :func:`family_of`). ``verdict`` uses ``p_holm``
    (``raw_verdict``: the raw interval alone); ``seeds_needed``: for an adjusted "not distinguishable", the seeds for
    80 % power at level ``(1 − level) / m`` (:func:`gstsn.results.multiplicity.seeds_needed`; None: more than 1000)."""
    grid, refs = _grid_cells(runs, axes)
    rows = []
    for cell, ref, axis in contrasts(grid, axes, baseline, refs):
        for metric in metrics:
            iv, seeds = paired_difference(per_seed(runs, cell, metric), per_seed(runs, ref, metric), level)
            rows.append(
                {
                    "cell": cell,
                    "reference": ref,
                    "axis": axis,
                    "metric": metric,
                    "diff": iv.mean,
                    "low": iv.low,
                    "high": iv.high,
                    "n": iv.n,
                    "seeds": ",".join(map(str, seeds)),
                    "raw_verdict": verdict(iv, higher_is_better),
                    "_iv": iv,
                }
            )
    _adjust_rows(rows, 1.0 - level, higher_is_better)
    cols = ["cell", "reference", "axis", "metric", "diff", "low", "high", "n", "seeds", "p", "p_holm", "m", "verdict",
            "raw_verdict", "seeds_needed"]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


#: an interaction's verdict words: its sign says at which of the two named values the effect is larger
INTERACTION_WORDS = {BETTER: "effect larger at the first value", WORSE: "effect smaller at the first value"}


@dataclass(frozen=True)
class Interaction:
    """How much the effect of ``axes[1]`` (its baseline value → ``cell``'s) changes when ``axes[0]`` moves from its
    baseline value to ``cell``'s: per seed ``(cell − along) − (across − base)``. The same number is the change in
    ``axes[0]``'s effect when ``axes[1]`` moves (``(cell − across) − (along − base)``); 0 means the two axes act
    independently (additively).

    ``cell`` = (a, b) with both axes off the baseline (a0, b0); ``along`` = (a, b0); ``across`` = (a0, b);
    ``base`` = (a0, b0)."""

    cell: str
    along: str
    across: str
    base: str
    axes: tuple[str, str]
    values: tuple[Any, Any, Any, Any]  # (a, b, a0, b0)

    @property
    def cells(self) -> tuple[str, str, str, str]:
        return (self.cell, self.along, self.across, self.base)

    def describe(self, show: Callable[[Any], str] | None = None) -> str:
        """``input_type set → sequence: effect at temporal=false minus at temporal=true`` (values through ``show``)."""
        show = show or (lambda v: str(v).lower() if isinstance(v, bool) else str(v))
        (first, second), (a, b, a0, b0) = self.axes, self.values
        return f"{second} {show(b0)} → {show(b)}: effect at {first}={show(a)} minus at {first}={show(a0)}"


def interactions(cell_values: Mapping[str, Mapping[str, Any]], axes: Sequence[str], baseline: Mapping[str, Any]
                 ) -> list[Interaction]:  # fmt: skip
    """The :class:`Interaction` of every grid cell whose two axis values both differ from the baseline's, for a study
    with exactly two axes (none otherwise, or where one of the four cells has no run). ``cell_values``: grid cell
    label → its axis values."""
    if len(axes) != 2:
        return []
    first, second = axes
    key = {label: (hashable(v.get(first)), hashable(v.get(second))) for label, v in cell_values.items()}
    by_key = {k: label for label, k in key.items()}
    a0, b0 = hashable(baseline.get(first)), hashable(baseline.get(second))
    base = by_key.get((a0, b0))
    out = []
    for label, (a, b) in key.items():
        if base is None or a == a0 or b == b0:
            continue
        along, across = by_key.get((a, b0)), by_key.get((a0, b))
        if along is not None and across is not None:
            out.append(Interaction(label, along, across, base, (first, second), (a, b, a0, b0)))
    return out


def interaction_difference(runs: pd.DataFrame, interaction: Interaction, metric: str, level: float = LEVEL
                           ) -> tuple[Interval, tuple[int, ...]]:  # fmt: skip
    """The interaction contrast of ``metric`` per seed over the seeds all four cells ran (finite values), and its
    t-interval (one run per seed and cell, as :func:`per_seed` checks)."""
    cell, along, across, base = (per_seed(runs, c, metric) for c in interaction.cells)
    seeds = tuple(sorted(set(cell) & set(along) & set(across) & set(base)))
    return mean_ci([(cell[s] - along[s]) - (across[s] - base[s]) for s in seeds], level), seeds


def compare_interactions(
    runs: pd.DataFrame,
    axes: Mapping[str, Sequence[Any]],
    baseline: Mapping[str, Any],
    metrics: Sequence[str],
    level: float = LEVEL,
) -> pd.DataFrame:
    """Every :func:`interactions` contrast × metric: ``cell, along, across, base, axes, what (in words), metric, diff,
    low, high, n, seeds, p, p_holm, m, verdict, seeds_needed``; Holm-adjusted per :func:`family_of` among the
    interactions only (a family of their own, so the contrasts of :func:`compare_runs` keep their adjustment).
    ``verdict``: ``better`` when the interaction is positive (the effect of ``axes[1]`` larger at ``cell``'s value
    of ``axes[0]``), ``worse`` when negative, else not distinguishable."""
    grid, _ = _grid_cells(runs, axes)
    rows = []
    for inter in interactions(grid, list(axes), baseline):
        for metric in metrics:
            iv, seeds = interaction_difference(runs, inter, metric, level)
            rows.append({"cell": inter.cell, "along": inter.along, "across": inter.across, "base": inter.base,
                         "axes": " × ".join(inter.axes), "what": inter.describe(), "metric": metric,
                         "diff": iv.mean, "low": iv.low, "high": iv.high, "n": iv.n,
                         "seeds": ",".join(map(str, seeds)), "_iv": iv})  # fmt: skip
    _adjust_rows(rows, 1.0 - level)
    cols = ["cell", "along", "across", "base", "axes", "what", "metric", "diff", "low", "high", "n", "seeds", "p",
            "p_holm", "m", "verdict", "seeds_needed"]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def family_of(metric: str) -> str:
    """The family a comparison on ``metric`` is adjusted in: the metric without its probe set
    (``rank1.per_part.NM`` → ``rank1.per_part``), so the conditions of one distance are adjusted together and the
    two distance conventions (the same hypotheses measured twice) each on their own."""
    head, _, tail = metric.rpartition(".")
    return head if head and tail in CONDITIONS else metric


def read_runs_frame(study_dir: str | Path) -> pd.DataFrame:
    """A study's ``runs.jsonl`` as a DataFrame: the valid rows of :func:`gstsn.results.runs.read_runs` (which returns
    the file's rows and its damaged lines, named by :func:`format_study`)."""
    return pd.DataFrame(runs_format.read_runs(Path(study_dir) / runs_format.RUNS_FILE).rows)


def study_statistics(
    study_dir: str | Path, metrics: Sequence[str] | None = None, level: float = LEVEL
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(summary, comparisons)`` of one study folder (``study.json`` + ``runs.jsonl``), see :func:`summarize_runs`
    and :func:`compare_runs`; ``metrics`` defaults to :func:`rank1_metrics`."""
    study_dir = Path(study_dir)
    definition = json.loads((study_dir / STUDY_FILE).read_text(encoding="utf-8"))
    runs = read_runs_frame(study_dir)
    metrics = list(metrics or rank1_metrics())
    if runs.empty:
        return summarize_runs(pd.DataFrame(columns=["cell", "seed"]), []), compare_runs(
            pd.DataFrame(columns=["cell", "seed"]), {}, {}, []
        )
    order = _cell_order(runs, definition)
    runs = runs.assign(_o=runs["cell"].map(order)).sort_values(["_o", "seed"], kind="stable").drop(columns="_o")
    return (
        summarize_runs(runs, metrics, level),
        compare_runs(runs, definition.get("axes", {}), definition.get("baseline", {}), metrics, level),
    )


def study_interactions(study_dir: str | Path, metrics: Sequence[str] | None = None, level: float = LEVEL
                       ) -> pd.DataFrame:  # fmt: skip
    """:func:`compare_interactions` of one study folder (empty unless it has two axes and all four cells of a
    contrast ran)."""
    study_dir = Path(study_dir)
    definition = json.loads((study_dir / STUDY_FILE).read_text(encoding="utf-8"))
    runs = read_runs_frame(study_dir)
    if runs.empty:
        return compare_interactions(pd.DataFrame(columns=["cell", "seed"]), {}, {}, [])
    return compare_interactions(runs, definition.get("axes", {}), definition.get("baseline", {}),
                                list(metrics or rank1_metrics()), level)  # fmt: skip


def _cell_order(runs: pd.DataFrame, definition: Mapping[str, Any]) -> dict[str, int]:
    """Each cell's position in :func:`order_cells`."""
    return {cell: i for i, cell in enumerate(order_cells(runs, definition.get("axes", {})))}


__all__ = [
    "BETTER",
    "INTERACTION_WORDS",
    "Interaction",
    "Interval",
    "LEVEL",
    "NO_INTERVAL",
    "StatsError",
    "UNCLEAR",
    "WORSE",
    "compare_interactions",
    "compare_runs",
    "contrasts",
    "family_of",
    "mean_ci",
    "hashable",
    "interaction_difference",
    "interactions",
    "order_cells",
    "paired_difference",
    "per_seed",
    "rank1_metrics",
    "read_runs_frame",
    "study_interactions",
    "study_statistics",
    "summarize_runs",
    "t_quantile",
    "verdict",
]
