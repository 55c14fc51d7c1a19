"""Means over seeds with their t-intervals, paired differences and the verdict of one comparison (NumPy, SciPy): the
ground both :mod:`gstsn.results.stats` (study tables) and :mod:`gstsn.results.multiplicity` (many comparisons at
once) stand on.

- :func:`mean_ci`: the mean of a cell's per-seed values with a two-sided Student-t interval (``n - 1`` degrees of
  freedom; SciPy's t quantile, :func:`t_quantile`).
- :func:`paired_difference`: ``cell − reference`` per seed (only seeds both ran), then :func:`mean_ci` of those
  differences: the paired t-interval. A deterministic reference (the GEI row, identical for every seed) is paired the
  same way, so the interval is that of the learned cell's seed-to-seed variation.
- :func:`verdict`: ``better`` / ``worse`` when the interval excludes 0 (in the direction of ``higher_is_better``),
  else ``not distinguishable at this sample size``; with fewer than 2 pairs there is no interval and no verdict.
  That is the verdict of one comparison alone; a study's table adjusts for its many comparisons
  (:func:`gstsn.results.multiplicity.adjust_family`).

No torch import: the report uses this module.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import scipy.stats

LEVEL = 0.95
BETTER = "better"
WORSE = "worse"
UNCLEAR = "not distinguishable at this sample size"
NO_INTERVAL = "no interval (fewer than 2 paired seeds)"


class StatsError(ValueError):
    """The runs given to a statistic are inconsistent (e.g. two runs of one cell for one seed)."""


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t with ``df`` ≥ 1 degrees of freedom."""
    if isinstance(df, bool) or not isinstance(df, (int, np.integer)) or df < 1:
        raise StatsError(f"degrees of freedom must be an integer ≥ 1, got {df!r}")
    if not 0.0 < p < 1.0:
        raise StatsError(f"quantile level must be in (0, 1), got {p!r}")
    return float(scipy.stats.t.ppf(p, df))


@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` values with its two-sided t-interval ``[low, high]`` at ``level`` (NaN bounds when n < 2)."""

    mean: float
    low: float
    high: float
    n: int
    level: float = LEVEL

    @property
    def has_interval(self) -> bool:
        return self.n >= 2 and math.isfinite(self.low) and math.isfinite(self.high)

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2 if self.has_interval else math.nan


def mean_ci(values: Iterable[float], level: float = LEVEL) -> Interval:
    """Mean and two-sided t-interval of ``values`` (NaN entries dropped); ``n`` = values kept.

    ``mean ± t_{(1+level)/2, n-1} · s / √n`` with ``s`` the sample standard deviation (ddof 1).
    """
    arr = np.asarray([float(v) for v in values], dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    n = int(arr.size)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, level)
    mean = float(arr.mean())
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1, level)
    half = t_quantile((1.0 + level) / 2.0, n - 1) * float(arr.std(ddof=1)) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n, level)


def paired_difference(
    cell: Mapping[int, float], reference: Mapping[int, float], level: float = LEVEL
) -> tuple[Interval, tuple[int, ...]]:
    """Differences ``cell[s] − reference[s]`` over the seeds both have (finite values), and their t-interval."""
    seeds = tuple(sorted(s for s in cell if s in reference and math.isfinite(cell[s]) and math.isfinite(reference[s])))
    return mean_ci([cell[s] - reference[s] for s in seeds], level), seeds


def verdict(diff: Interval, higher_is_better: bool = True) -> str:
    """``better`` / ``worse`` when the interval excludes 0, else ``not distinguishable at this sample size``."""
    if not diff.has_interval:
        return NO_INTERVAL
    if diff.low > 0:
        return BETTER if higher_is_better else WORSE
    if diff.high < 0:
        return WORSE if higher_is_better else BETTER
    return UNCLEAR


__all__ = [
    "BETTER",
    "LEVEL",
    "NO_INTERVAL",
    "UNCLEAR",
    "WORSE",
    "Interval",
    "StatsError",
    "mean_ci",
    "paired_difference",
    "t_quantile",
    "verdict",
]
