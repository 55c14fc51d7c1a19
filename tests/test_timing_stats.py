"""Timing statistics: paired ABBA repeats, bootstrap intervals, the claim's three-way status."""

from __future__ import annotations

import numpy as np
import pytest

from gstsn.timing.stats import (
    TimingStatsError,
    bootstrap_median_ci,
    claim_status,
    paired_ratio,
    paired_times,
    ratio_of_medians,
)


def test_paired_times_alternates_abba_after_warmup():
    calls = []
    ta, tb = paired_times(lambda: calls.append("a"), lambda: calls.append("b"), pairs=4, warmup=1)
    assert calls == ["a", "b"] + ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert len(ta) == len(tb) == 4 and all(t >= 0 for t in ta + tb)


def test_paired_times_needs_a_pair():
    with pytest.raises(TimingStatsError, match="pairs"):
        paired_times(lambda: None, lambda: None, pairs=0)


def test_bootstrap_median_ci_brackets_the_median_and_is_seeded():
    x = [1.0, 1.1, 0.9, 1.3, 1.05, 0.95, 2.0]
    med, lo, hi = bootstrap_median_ci(x, np.random.default_rng(3))
    assert med == pytest.approx(1.05)
    assert min(x) <= lo <= med <= hi <= max(x)
    assert (med, lo, hi) == bootstrap_median_ci(x, np.random.default_rng(3))
    assert bootstrap_median_ci([0.5], np.random.default_rng(0)) == (0.5, 0.5, 0.5)


@pytest.mark.parametrize("bad", [[], [1.0, 0.0], [1.0, float("nan")], [-1.0]])
def test_bootstrap_rejects_bad_samples(bad):
    with pytest.raises(TimingStatsError):
        bootstrap_median_ci(bad, np.random.default_rng(0))


def test_paired_ratio_of_a_constant_factor_is_exact():
    a = [0.10, 0.20, 0.15, 0.12]
    est = paired_ratio(a, [1.5 * t for t in a], np.random.default_rng(0))
    assert est.ratio == pytest.approx(1.5) and est.low == pytest.approx(1.5) and est.high == pytest.approx(1.5)
    assert est.n == 4 and "paired" in est.method
    assert est.median_a_s == pytest.approx(np.median(a))


def test_paired_ratio_cancels_drift_that_an_unpaired_ratio_cannot():
    """A machine slowing down 10x during the run: pairs keep the ratio, unpaired medians smear it."""
    drift = np.geomspace(0.01, 0.1, 10)
    a, b = drift, 1.2 * drift
    paired = paired_ratio(a, b, np.random.default_rng(0))
    unpaired = ratio_of_medians(a, b, np.random.default_rng(0))
    assert paired.high - paired.low == pytest.approx(0.0, abs=1e-12)
    assert unpaired.high - unpaired.low > 0.5


def test_paired_ratio_needs_equal_lengths():
    with pytest.raises(TimingStatsError, match="as many"):
        paired_ratio([1.0, 2.0], [1.0], np.random.default_rng(0))


@pytest.mark.parametrize(
    ("low", "high", "status"),
    [(0.6, 0.8, "holds"), (0.81, 1.2, "does not hold"), (0.7, 0.9, "inconclusive"), (0.8, 0.8, "holds")],
)
def test_claim_status(low, high, status):
    assert claim_status(low, high, 0.8) == status
