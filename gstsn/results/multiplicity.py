"""Many comparisons at once: paired t-test p-values, the Holm–Bonferroni adjustment and seeds needed (SciPy).

A study makes many comparisons (``identity_cue``: 7 contrasts × NM/BG/CL = 21 on the main distance). At 95 % each,
about one in twenty true nulls would come out "better" or "worse" by chance, so the verdicts control the
family-wise error rate over the study's comparisons instead:

- :func:`p_value`: the two-sided paired t-test of "mean difference = 0", from the paired t-interval itself (the test
  and the interval are one computation: standard error = half-width ÷ the t quantile). ``p < 0.05`` exactly when the
  raw 95 % interval excludes 0.
- :func:`holm`: Holm's step-down adjusted p-values (Holm 1979). Sort the ``m`` p-values, multiply the ``i``-th
  smallest by ``m − i + 1``, take the running maximum, cap at 1. Rejecting where the adjusted p is below 0.05 keeps
  the chance of any false "better"/"worse" in the family at or below 5 % under any dependence between the
  comparisons; it rejects everything Bonferroni (``p · m``) does, and often more. SciPy has no Holm
  (``scipy.stats.false_discovery_control`` is Benjamini–Hochberg / –Yekutieli, which controls the false discovery
  rate, a weaker promise); statsmodels' ``multipletests(method="holm")`` agrees with this one (checked once by hand,
  not a dependency).
- :func:`adjust_family`: a family of comparisons adjusted together, the one place that orchestrates the above for
  the study tables (:func:`gstsn.results.stats.compare_runs`) and the report (:func:`gstsn.report.stats.adjust`).
- :func:`seeds_needed`: for a difference the adjusted test cannot separate from 0, the number of seeds (paired runs
  per cell) that would give the paired t-test ``power`` (80 %) at the Bonferroni level ``0.05 / m`` if the true
  difference and the seed-to-seed standard deviation were the observed ones. Bonferroni's level is the strictest
  step of Holm's ladder, so that many seeds suffice under Holm whatever rank the comparison ends up at. Power from
  the noncentral t distribution, both tails.

No torch import: the report uses this module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.stats

from gstsn.results.intervals import BETTER, LEVEL, NO_INTERVAL, UNCLEAR, WORSE, Interval, t_quantile

ALPHA = round(1.0 - LEVEL, 12)  # 0.05: the family-wise error rate of the verdicts
POWER = 0.8
MAX_SEEDS = 1000


def p_value(diff: Interval) -> float:
    """Two-sided p-value of the paired t-test of ``diff.mean = 0`` (``n − 1`` degrees of freedom); NaN without an
    interval. Zero spread: 0 when the mean is not 0, else 1."""
    if not diff.has_interval:
        return math.nan
    se = diff.half_width / t_quantile((1.0 + diff.level) / 2.0, diff.n - 1)
    if se == 0.0:
        return 0.0 if diff.mean != 0.0 else 1.0
    return float(2.0 * scipy.stats.t.sf(abs(diff.mean) / se, diff.n - 1))


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values, in the input order. NaN entries (comparisons without an interval) are not
    part of the family: they stay NaN and do not count in ``m``."""
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"expected a 1-D sequence of p-values, got shape {p.shape}")
    if ((p < 0) | (p > 1)).any():
        raise ValueError(f"p-values must lie in [0, 1], got {p[(p < 0) | (p > 1)].tolist()}")
    out = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    m = tested.size
    if m == 0:
        return out
    order = tested[np.argsort(p[tested], kind="stable")]
    stepped = p[order] * (m - np.arange(m))  # i-th smallest (0-based) times m − i
    out[order] = np.minimum(np.maximum.accumulate(stepped), 1.0)
    return out


def family_size(p_values: Sequence[float]) -> int:
    """``m``: how many comparisons of a family have a p-value (an interval)."""
    return int(np.isfinite(np.asarray(p_values, dtype=np.float64)).sum())


def adjusted_verdict(diff: Interval, p_adjusted: float, alpha: float = ALPHA, higher_is_better: bool = True) -> str:
    """``better`` / ``worse`` when the adjusted p-value is below ``alpha`` (direction from the sign of the mean), else
    ``not distinguishable at this sample size``; without an interval, no verdict."""
    if not diff.has_interval or not math.isfinite(p_adjusted):
        return NO_INTERVAL
    if p_adjusted >= alpha or diff.mean == 0.0:
        return UNCLEAR
    return BETTER if (diff.mean > 0) == higher_is_better else WORSE


def paired_power(effect: float, n: np.ndarray | int, alpha: float) -> np.ndarray:
    """Power of the two-sided one-sample (paired) t-test with ``n`` pairs at level ``alpha`` when the true mean
    difference is ``effect`` standard deviations (noncentral t, both rejection tails)."""
    n = np.asarray(n, dtype=np.float64)
    df = n - 1.0
    crit = scipy.stats.t.ppf(1.0 - alpha / 2.0, df)
    nc = abs(effect) * np.sqrt(n)
    # lower tail P(T' < −crit) written as P(T'' > crit) with T'' ~ nct(df, −nc): SciPy's nct.cdf gives NaN far out
    return scipy.stats.nct.sf(crit, df, nc) + scipy.stats.nct.sf(crit, df, -nc)


def seeds_needed(diff: Interval, alpha: float, power: float = POWER, max_seeds: int = MAX_SEEDS) -> int | None:
    """The smallest number of seeds ``n ≥ 2`` at which the paired t-test at level ``alpha`` has ``power`` to find a
    true difference equal to ``diff.mean`` with the observed seed-to-seed spread (the SD of the paired differences).

    None when no number up to ``max_seeds`` does (the observed difference is 0, or tiny against its spread) or when
    there is no spread to go on (fewer than 2 paired seeds). A planning figure, not a promise: the observed difference
    is itself uncertain, and a smaller true difference needs more seeds.
    """
    if not diff.has_interval:
        return None
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise ValueError(f"alpha and power must lie in (0, 1), got alpha={alpha!r}, power={power!r}")
    sd = diff.half_width / t_quantile((1.0 + diff.level) / 2.0, diff.n - 1) * math.sqrt(diff.n)
    if diff.mean == 0.0:
        return None
    if sd == 0.0:
        return 2
    effect = abs(diff.mean) / sd
    z = scipy.stats.norm.ppf(1.0 - alpha / 2.0) + scipy.stats.norm.ppf(power)
    n = min(max(2, math.ceil((z / effect) ** 2)), max_seeds)  # the normal approximation; the t test needs a few more
    if paired_power(effect, n, alpha) < power:
        while n < max_seeds and paired_power(effect, n, alpha) < power:  # power grows with n
            n += 1
        return n if paired_power(effect, n, alpha) >= power else None
    while n > 2 and paired_power(effect, n - 1, alpha) >= power:
        n -= 1
    return n


@dataclass(frozen=True)
class Adjusted:
    """One comparison inside its family: its paired t-test ``p``, Holm's ``p_holm`` over the ``m`` comparisons with an
    interval, the verdict from ``p_holm`` and, for an adjusted "not distinguishable", the seeds that would give
    :data:`POWER` at level ``alpha / m`` (None: none up to :data:`MAX_SEEDS`, or not asked)."""

    p: float
    p_holm: float
    m: int
    verdict: str
    seeds_needed: int | None


def adjust_family(diffs: Sequence[Interval], alpha: float = ALPHA, higher_is_better: bool = True) -> list[Adjusted]:
    """The comparisons ``diffs`` (paired differences) of one family, Holm-adjusted together, in the input order."""
    p = [p_value(d) for d in diffs]
    p_holm = holm(p)
    m = family_size(p)
    out = []
    for diff, raw, adjusted in zip(diffs, p, p_holm, strict=True):
        word = adjusted_verdict(diff, float(adjusted), alpha, higher_is_better)
        needed = seeds_needed(diff, alpha / m) if word == UNCLEAR else None
        out.append(Adjusted(raw, float(adjusted), m, word, needed))
    return out


def format_p(p: float) -> str:
    """``"< 0.001"``, ``"0.024"`` (3 decimals below 0.1), ``"0.31"``, ``"1.00"``; ``"—"`` for NaN (no test)."""
    if not math.isfinite(p):
        return "—"
    if p < 0.001:
        return "< 0.001"
    return f"{p:.3f}" if p < 0.1 else f"{p:.2f}"


def format_seeds_needed(
    n: int | None, current: int | None = None, power: float = POWER, max_seeds: int = MAX_SEEDS
) -> str:
    """``"14 seeds for 80 % power (now 4)"``; ``"more than 1000 seeds for 80 % power"`` when no practical number
    would do; ``current`` (the seeds paired now) is left out when None."""
    now = f" (now {current})" if current is not None else ""
    count = f"more than {max_seeds}" if n is None else str(n)
    return f"{count} seeds for {power * 100:.0f} % power{now}"


__all__ = [
    "ALPHA",
    "MAX_SEEDS",
    "POWER",
    "Adjusted",
    "adjust_family",
    "adjusted_verdict",
    "family_size",
    "format_p",
    "format_seeds_needed",
    "holm",
    "p_value",
    "paired_power",
    "seeds_needed",
]
