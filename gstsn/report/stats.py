"""Statistics over seeds for the report: mean with a 95 % t-interval, paired differences by seed, verdict words.

Written for the report because the ablation area's statistics module did not exist when the report was built; it uses
only NumPy and pandas (never torch), so a report renders anywhere from result files. Every difference comes with its
interval; with fewer than two paired seeds there is no interval, and then no difference is printed either.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: two-sided 95 % critical values of Student's t for 1..30 degrees of freedom
_T_975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
_Z_975 = 1.959963984540054

BETTER = "better"
WORSE = "worse"
UNCLEAR = "not distinguishable at this sample size"
NO_INTERVAL = "no interval (fewer than 2 paired seeds)"


def t_critical_95(df: int) -> float:
    """Two-sided 95 % quantile of Student's t with ``df`` ≥ 1 degrees of freedom (table to 30, expansion above)."""
    if isinstance(df, bool) or not isinstance(df, (int, np.integer)) or df < 1:
        raise ValueError(f"degrees of freedom must be an integer ≥ 1, got {df!r}")
    if df <= len(_T_975):
        return _T_975[df - 1]
    z = _Z_975  # Cornish-Fisher expansion of the t quantile in 1/df; error < 1e-4 for df > 30
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` values with its 95 % t-interval ``[low, high]`` (NaN bounds when ``n`` < 2)."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def has_interval(self) -> bool:
        return self.n >= 2 and math.isfinite(self.low) and math.isfinite(self.high)

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2 if self.has_interval else math.nan


def mean_ci(values: Iterable[float]) -> Interval:
    """Mean and 95 % t-interval of ``values`` (1-D; NaN entries are dropped). ``n`` = values kept."""
    arr = np.asarray([float(v) for v in values], dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    n = int(arr.size)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(arr.mean())
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1)
    half = t_critical_95(n - 1) * float(arr.std(ddof=1)) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def verdict_word(diff: Interval) -> str:
    """``better`` / ``worse`` when the interval of a difference (higher is better) excludes 0, else the unclear word."""
    if not diff.has_interval:
        return NO_INTERVAL
    if diff.low > 0:
        return BETTER
    if diff.high < 0:
        return WORSE
    return UNCLEAR


@dataclass(frozen=True)
class Comparison:
    """``cell`` minus ``reference`` on ``metric``, paired by seed: the mean difference and its 95 % interval."""

    metric: str
    cell: str
    reference: str
    diff: Interval
    seeds: tuple[int, ...]

    @property
    def verdict(self) -> str:
        return verdict_word(self.diff)


def paired_difference(runs: pd.DataFrame, metric: str, cell: str, reference: str) -> Comparison:
    """Difference ``cell − reference`` of ``metric`` over the seeds both cells ran (one value per seed and cell).

    ``runs`` has columns ``cell``, ``seed`` and ``metric``; rows with a missing metric are left out of the pairing.
    A cell with two rows for one seed is an error in the results store and raises ``ValueError`` naming it.
    """
    for col in ("cell", "seed"):
        if col not in runs.columns:
            raise ValueError(f"runs table has no column {col!r}; expected columns cell, seed, {metric}")
    if metric not in runs.columns:
        return Comparison(metric, cell, reference, mean_ci([]), ())
    sides = []
    for name in (cell, reference):
        part = runs.loc[runs["cell"] == name, ["seed", metric]].dropna()
        if part["seed"].duplicated().any():
            dup = sorted(part.loc[part["seed"].duplicated(), "seed"].tolist())
            raise ValueError(f"cell {name!r} has more than one run for seed(s) {dup}; expected one run per seed")
        sides.append(part.set_index("seed")[metric].astype(float))
    joined = pd.concat(sides, axis=1, keys=["a", "b"], join="inner").sort_index()
    diffs = (joined["a"] - joined["b"]).to_numpy()
    return Comparison(metric, cell, reference, mean_ci(diffs), tuple(int(s) for s in joined.index))


def format_value(iv: Interval, digits: int = 1) -> str:
    """``"95.1 ± 0.8"`` (or just ``"95.1"`` with one value, ``"—"`` with none)."""
    if iv.n == 0:
        return "—"
    if not iv.has_interval:
        return f"{iv.mean:.{digits}f}"
    return f"{iv.mean:.{digits}f} ± {iv.half_width:.{digits}f}"


def format_difference(iv: Interval, digits: int = 1, unit: str = "") -> str:
    """``"+1.3 [−0.2, +2.8]"``; without an interval there is no difference to print: ``"n/a (1 seed)"``."""
    if not iv.has_interval:
        return f"n/a ({iv.n} paired seed{'s' if iv.n != 1 else ''})"
    return f"{_signed(iv.mean, digits)}{unit} [{_signed(iv.low, digits)}, {_signed(iv.high, digits)}]"


def _signed(x: float, digits: int) -> str:
    text = f"{x:+.{digits}f}"
    if float(text) == 0:
        return f"{0:.{digits}f}"  # no "-0.0" or "+0.0"
    return text.replace("-", "−")
