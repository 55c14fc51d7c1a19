"""Timing statistics: wall-clock repeats, paired GSTSN/GaitSet repeats, bootstrap confidence intervals.

A paired ratio alternates the two callables in ABBA order (A B, B A, A B, ...), so a slow drift of a shared machine
hits both equally; the ratio of each pair ``t_b / t_a`` is a paired observation, and its median gets a bootstrap
percentile interval. Every resampling draws from an explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

CI_LEVEL = 0.95
N_BOOT = 2000


class TimingStatsError(ValueError):
    """Too few or invalid timing samples for a statistic; the message names what was given."""


def time_call(fn: Callable[[], Any]) -> float:
    """Seconds one call of ``fn`` takes (``fn`` synchronises its device itself)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def paired_times(
    fn_a: Callable[[], Any], fn_b: Callable[[], Any], pairs: int, warmup: int = 1
) -> tuple[list[float], list[float]]:
    """``(times_a, times_b)``, ``pairs`` each, measured alternately in ABBA order after ``warmup`` calls of each."""
    if pairs < 1:
        raise TimingStatsError(f"paired timing needs pairs ≥ 1; got {pairs}")
    for _ in range(warmup):
        fn_a()
        fn_b()
    ta, tb = [], []
    for i in range(pairs):
        if i % 2 == 0:
            ta.append(time_call(fn_a))
            tb.append(time_call(fn_b))
        else:
            tb.append(time_call(fn_b))
            ta.append(time_call(fn_a))
    return ta, tb


def _clean(samples: Sequence[float], what: str) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    if x.size == 0:
        raise TimingStatsError(f"{what}: no samples")
    if not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise TimingStatsError(f"{what}: samples must be finite and > 0; got {x.tolist()}")
    return x


def bootstrap_median_ci(
    samples: Sequence[float], rng: np.random.Generator, level: float = CI_LEVEL, n_boot: int = N_BOOT
) -> tuple[float, float, float]:
    """``(median, low, high)``: the sample median and its bootstrap percentile interval at ``level``."""
    x = _clean(samples, "bootstrap_median_ci")
    med = float(np.median(x))
    if x.size == 1:
        return med, med, med
    boots = np.median(x[rng.integers(0, x.size, size=(n_boot, x.size))], axis=1)
    alpha = (1 - level) / 2
    return med, float(np.quantile(boots, alpha)), float(np.quantile(boots, 1 - alpha))


@dataclass(frozen=True)
class RatioEstimate:
    """A time ratio ``b / a`` with its interval; ``method`` says how it was measured (shown in the verdict)."""

    ratio: float
    low: float
    high: float
    n: int
    method: str
    median_a_s: float
    median_b_s: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def paired_ratio(
    times_a: Sequence[float],
    times_b: Sequence[float],
    rng: np.random.Generator,
    level: float = CI_LEVEL,
    n_boot: int = N_BOOT,
) -> RatioEstimate:
    """Median of the paired ratios ``b_i / a_i`` with a bootstrap percentile interval (pairs resampled)."""
    a, b = _clean(times_a, "paired_ratio a"), _clean(times_b, "paired_ratio b")
    if a.size != b.size:
        raise TimingStatsError(f"paired_ratio needs as many b as a samples; got {a.size} and {b.size}")
    med, low, high = bootstrap_median_ci(b / a, rng, level, n_boot)
    method = (
        f"median of {a.size} paired ratios (ABBA order, same run), {level:.0%} bootstrap percentile interval "
        f"({n_boot} resamples)"
    )
    return RatioEstimate(med, low, high, int(a.size), method, float(np.median(a)), float(np.median(b)))


def ratio_of_medians(
    times_a: Sequence[float],
    times_b: Sequence[float],
    rng: np.random.Generator,
    level: float = CI_LEVEL,
    n_boot: int = N_BOOT,
) -> RatioEstimate:
    """``median(b) / median(a)`` of unpaired samples (two benchmarks of one run), each resampled independently."""
    a, b = _clean(times_a, "ratio_of_medians a"), _clean(times_b, "ratio_of_medians b")
    ratio = float(np.median(b) / np.median(a))
    boots = np.median(b[rng.integers(0, b.size, size=(n_boot, b.size))], axis=1) / np.median(
        a[rng.integers(0, a.size, size=(n_boot, a.size))], axis=1
    )
    alpha = (1 - level) / 2
    method = (
        f"ratio of medians of two benchmarks of the same run ({a.size} and {b.size} rounds, unpaired), "
        f"{level:.0%} bootstrap percentile interval ({n_boot} resamples)"
    )
    return RatioEstimate(
        ratio,
        float(np.quantile(boots, alpha)),
        float(np.quantile(boots, 1 - alpha)),
        int(min(a.size, b.size)),
        method,
        float(np.median(a)),
        float(np.median(b)),
    )


def claim_status(low: float, high: float, threshold: float) -> str:
    """``holds`` when the whole interval is ≤ ``threshold``, ``does not hold`` when it is all above, else
    ``inconclusive``."""
    if high <= threshold:
        return "holds"
    if low > threshold:
        return "does not hold"
    return "inconclusive"


__all__ = [
    "CI_LEVEL",
    "N_BOOT",
    "RatioEstimate",
    "TimingStatsError",
    "bootstrap_median_ci",
    "claim_status",
    "paired_ratio",
    "paired_times",
    "ratio_of_medians",
    "time_call",
]
