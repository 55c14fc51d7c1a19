"""The report's view of the statistics: :mod:`gstsn.results.stats` (the ablation suite's module, no torch) over the
report's runs table, plus the display formats.

The numbers (means with 95 % t-intervals over seeds, paired differences by seed, verdict words, which cells a study
compares) all come from ``gstsn.results.stats``, and the multiplicity adjustment (Holm–Bonferroni p-values, seeds
needed) from ``gstsn.results.multiplicity``, so the report prints exactly what ``gstsn ablations`` computes. What is
added here: pairing straight from a runs DataFrame (:func:`paired_difference`), a family of comparisons adjusted
together (:func:`adjust`) and the typographic formats of the pages. A difference is never formatted without its
interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from gstsn.results import multiplicity
from gstsn.results import stats as results_stats
from gstsn.results import summary as results_summary
from gstsn.results.multiplicity import format_p, format_seeds_needed
from gstsn.results.stats import BETTER, NO_INTERVAL, UNCLEAR, WORSE, Interval, StatsError, mean_ci

__all__ = [
    "BETTER",
    "NO_INTERVAL",
    "UNCLEAR",
    "WORSE",
    "AdjustedComparison",
    "Comparison",
    "Interval",
    "StatsError",
    "adjust",
    "format_difference",
    "format_p",
    "format_seeds_needed",
    "mean_ci",
    "paired_difference",
    "verdict_word",
]


def verdict_word(diff: Interval) -> str:
    """``better`` / ``worse`` when the interval of a difference (higher is better) excludes 0, else the unclear word."""
    return results_stats.verdict(diff, higher_is_better=True)


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


@dataclass(frozen=True)
class AdjustedComparison(Comparison):
    """A :class:`Comparison` inside its study's family of ``m`` comparisons: the raw interval (``diff``) and paired
    t-test ``p``, the Holm-adjusted ``p_holm``, and for an adjusted "not distinguishable" the seeds that would give
    80 % power at level 0.05 / m (None: more than 1000). ``verdict`` uses ``p_holm``; ``raw_verdict`` the raw
    interval alone."""

    p: float = math.nan
    p_holm: float = math.nan
    m: int = 0
    seeds_needed: int | None = None

    @property
    def verdict(self) -> str:
        return multiplicity.adjusted_verdict(self.diff, self.p_holm)

    @property
    def raw_verdict(self) -> str:
        return verdict_word(self.diff)

    def reversed(self) -> AdjustedComparison:
        """``reference − cell``: the same test (same p-values and seeds needed), the interval negated."""
        d = self.diff
        flipped = Interval(-d.mean, -d.high, -d.low, d.n, d.level)
        return AdjustedComparison(self.metric, self.reference, self.cell, flipped, self.seeds, self.p, self.p_holm,
                                  self.m, self.seeds_needed)  # fmt: skip


def adjust(comparisons: list[Comparison], alpha: float = multiplicity.ALPHA) -> list[AdjustedComparison]:
    """The comparisons of one family, Holm-adjusted together (``m`` = those with an interval), in the input order
    (:func:`gstsn.results.multiplicity.adjust_family`)."""
    adjusted = multiplicity.adjust_family([c.diff for c in comparisons], alpha)
    return [
        AdjustedComparison(c.metric, c.cell, c.reference, c.diff, c.seeds, a.p, a.p_holm, a.m, a.seeds_needed)
        for c, a in zip(comparisons, adjusted, strict=True)
    ]


def paired_difference(runs: pd.DataFrame, metric: str, cell: str, reference: str) -> Comparison:
    """Difference ``cell − reference`` of ``metric`` over the seeds both cells ran (one value per seed and cell).

    ``runs`` has columns ``cell``, ``seed`` and ``metric`` (a missing metric column gives an empty comparison). Two
    runs of one cell for one seed raise :class:`StatsError` (a ``ValueError``) naming the cell and the seeds.
    """
    for col in ("cell", "seed"):
        if col not in runs.columns:
            raise StatsError(f"runs table has no column {col!r}; expected columns cell, seed, {metric}")
    if metric not in runs.columns:
        return Comparison(metric, cell, reference, mean_ci([]), ())
    diff, seeds = results_stats.paired_difference(
        results_stats.per_seed(runs, cell, metric), results_stats.per_seed(runs, reference, metric)
    )
    return Comparison(metric, cell, reference, diff, tuple(seeds))


def format_difference(iv: Interval, digits: int = 1) -> str:
    """``"+1.3 [−0.2, +2.8]"`` (typographic minus); without an interval: ``"n/a (1 paired seed)"``."""
    return results_summary.format_difference(iv, digits, minus="−")
