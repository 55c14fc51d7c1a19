"""Many comparisons: paired t-test p-values, Holm–Bonferroni on hand-worked examples, seeds needed against published
power tables and a simulation, and the study table's adjusted verdicts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from gstsn.results import multiplicity as mu
from gstsn.results import stats, summary


def _interval(mean: float, sd: float, n: int) -> stats.Interval:
    """The paired t-interval of ``n`` differences with this mean and sample SD."""
    half = stats.t_quantile(0.975, n - 1) * sd / math.sqrt(n)
    return stats.Interval(mean, mean - half, mean + half, n)


def test_holm_on_the_textbook_example():
    # Wikipedia's Holm–Bonferroni example: p = 0.01, 0.04, 0.03, 0.005 (m = 4). By hand, sorted: 0.005 × 4 = 0.02,
    # 0.01 × 3 = 0.03, 0.03 × 2 = 0.06, 0.04 × 1 = 0.04 -> running maximum 0.06. H1 and H4 are rejected at 0.05.
    adjusted = mu.holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert (adjusted < 0.05).tolist() == [True, False, False, True]


def test_holm_second_hand_example_caps_at_one_and_keeps_order():
    # sorted 0.001 × 3 = 0.003, 0.02 × 2 = 0.04, 0.5 × 1 = 0.5
    assert mu.holm([0.02, 0.5, 0.001]) == pytest.approx([0.04, 0.5, 0.003])
    assert mu.holm([0.4, 0.6, 0.9]) == pytest.approx([1.0, 1.0, 1.0])  # 0.4 × 3 = 1.2 -> capped at 1
    assert mu.holm([0.03]) == pytest.approx([0.03])  # one comparison: nothing to adjust
    assert mu.holm([0.01, 0.01]) == pytest.approx([0.02, 0.02])  # ties


def test_holm_leaves_comparisons_without_a_test_out_of_the_family():
    adjusted = mu.holm([0.01, math.nan, 0.04])
    assert adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.04)
    assert mu.family_size([0.01, math.nan, 0.04]) == 2
    assert np.isnan(mu.holm([math.nan])).all() and mu.holm([]).size == 0


def test_holm_rejects_impossible_p_values():
    with pytest.raises(ValueError, match=r"p-values must lie in \[0, 1\]"):
        mu.holm([0.2, 1.5])


def test_holm_is_at_least_the_raw_p_and_at_most_bonferroni():
    rng = np.random.default_rng(3)
    for _ in range(200):
        p = rng.random(int(rng.integers(1, 25))) ** 3
        adjusted = mu.holm(p)
        assert (adjusted >= p - 1e-15).all()
        assert (adjusted <= np.minimum(p * p.size, 1.0) + 1e-15).all()
        order = np.argsort(p)
        assert (np.diff(adjusted[order]) >= -1e-15).all()  # monotone in the raw p


def test_p_value_is_the_paired_t_test_and_agrees_with_the_interval():
    rng = np.random.default_rng(0)
    for _ in range(100):
        diffs = rng.normal(rng.normal(0, 1.5), 1.0, size=int(rng.integers(2, 8)))
        iv = stats.mean_ci(diffs)
        p = mu.p_value(iv)
        assert p == pytest.approx(scipy.stats.ttest_1samp(diffs, 0.0).pvalue, rel=1e-9)
        assert (p < 0.05) == (stats.verdict(iv) != stats.UNCLEAR)  # one computation: interval excludes 0 <=> p < 0.05
    assert math.isnan(mu.p_value(stats.mean_ci([1.0])))
    assert mu.p_value(stats.mean_ci([2.0, 2.0, 2.0])) == 0.0 and mu.p_value(stats.mean_ci([0.0, 0.0])) == 1.0


def test_adjusted_verdict_uses_the_adjusted_p():
    iv = _interval(2.0, 1.0, 4)  # raw p ≈ 0.02: the raw interval excludes 0
    assert stats.verdict(iv) == stats.BETTER
    assert mu.adjusted_verdict(iv, 0.02) == stats.BETTER
    assert mu.adjusted_verdict(iv, 0.3) == stats.UNCLEAR
    assert mu.adjusted_verdict(_interval(-2.0, 1.0, 4), 0.01) == stats.WORSE
    assert mu.adjusted_verdict(_interval(-2.0, 1.0, 4), 0.01, higher_is_better=False) == stats.BETTER
    assert mu.adjusted_verdict(stats.mean_ci([1.0]), math.nan) == stats.NO_INTERVAL


# Sample sizes of the two-sided one-sample / paired t-test at 80 % power, as in G*Power and R's power.t.test
# (type = "one.sample"): d = 1 -> n = 9.94, d = 0.8 -> 14.3, d = 0.5 -> 33.4 (rounded up); at the Bonferroni level of a
# 21-comparison family, d = 1 -> 19.66 (statsmodels TTestPower().solve_power, checked once, not a dependency).
@pytest.mark.parametrize(
    ("effect", "alpha", "n"), [(1.0, 0.05, 10), (0.8, 0.05, 15), (0.5, 0.05, 34), (1.0, 0.05 / 21, 20)]
)
def test_seeds_needed_matches_power_tables(effect, alpha, n):
    for sd in (0.5, 3.0):  # only the ratio difference / spread matters
        assert mu.seeds_needed(_interval(effect * sd, sd, 4), alpha) == n
        assert mu.seeds_needed(_interval(-effect * sd, sd, 3), alpha) == n  # either sign
    assert mu.paired_power(effect, n, alpha) >= 0.8 > mu.paired_power(effect, n - 1, alpha)


def test_seeds_needed_is_the_first_n_with_enough_power():
    n = np.arange(2, 1001)
    for effect, alpha in ((0.05, 0.05), (0.2, 0.01), (0.7, 0.05 / 21), (2.5, 0.05), (10.0, 0.05 / 6)):
        power = mu.paired_power(effect, n, alpha)
        assert np.isfinite(power).all() and (np.diff(power) >= -1e-12).all()  # no NaN far out; grows with n
        first = n[np.flatnonzero(power >= 0.8)]
        assert mu.seeds_needed(_interval(effect, 1.0, 4), alpha) == (int(first[0]) if first.size else None)


def test_seeds_needed_by_simulation():
    """At the returned n the paired t-test at alpha rejects in ≈ 80 % of simulated studies; at n − 1 in fewer."""
    rng = np.random.default_rng(7)
    alpha, effect = 0.05 / 6, 1.3
    n = mu.seeds_needed(_interval(effect, 1.0, 4), alpha)
    rates = []
    for k in (n - 1, n):
        diffs = rng.normal(effect, 1.0, size=(20_000, k))
        p = scipy.stats.ttest_1samp(diffs, 0.0, axis=1).pvalue
        rates.append(float((p < alpha).mean()))
    assert rates[0] < 0.8 <= rates[1] + 0.01, (n, rates)


def test_seeds_needed_when_no_number_helps():
    assert mu.seeds_needed(_interval(0.0, 1.0, 4), 0.05) is None  # observed difference 0
    assert mu.seeds_needed(_interval(0.01, 5.0, 4), 0.05) is None  # would need far more than 1000 seeds
    assert mu.seeds_needed(stats.mean_ci([1.0]), 0.05) is None  # no spread to go on
    assert mu.format_seeds_needed(None, 4) == "more than 1000 seeds for 80 % power (now 4)"
    assert mu.format_seeds_needed(12) == "12 seeds for 80 % power"


def test_format_p():
    assert [mu.format_p(p) for p in (0.0004, 0.0241, 0.31, 1.0, math.nan)] == ["< 0.001", "0.024", "0.31", "1.00", "—"]


def _many_cells_runs() -> pd.DataFrame:
    """One axis with 7 values against a baseline: 7 × 3 = 21 comparisons per distance. Cell ``a1`` is raw-better on
    NM (p ≈ 0.007) but not after the adjustment; ``a6`` is better by far on every condition."""
    offsets = {"a0": 0.0, "a1": 0.0, "a2": 0.0, "a3": 0.0, "a4": 0.0, "a5": 0.0, "a6": 10.0, "a7": 0.0}
    noise = {0: -1.0, 1: 0.0, 2: 1.0, 3: 0.5}  # per seed, shared by cells: what pairing removes
    rows = []
    for cell, offset in offsets.items():
        for seed, shared in noise.items():
            own = {"a1": (1.4, 2.6, 3.6, 2.3)[seed]}.get(cell, 0.1 * ((seed * 7 + int(cell[1])) % 5 - 2))
            row = {"run_id": f"{cell}s{seed}", "cell": f"level={cell}", "seed": seed, "method": "gstsn", "level": cell}
            for d in stats.DISTANCES:
                for cond in stats.CONDITIONS:
                    row[f"rank1.{d}.{cond}"] = 50 + offset + shared + (own if cond == "NM" else 0.0)
            rows.append(row)
    return pd.DataFrame(rows)


def test_compare_runs_adjusts_each_distance_as_one_family():
    runs = _many_cells_runs()
    comp = stats.compare_runs(runs, {"level": [f"a{i}" for i in range(8)]}, {"level": "a0"}, stats.rank1_metrics())
    assert len(comp) == 2 * 21 and set(comp["m"]) == {21}
    for family, part in comp.groupby(comp["metric"].map(stats.family_of)):
        assert family in ("rank1.per_part", "rank1.flat") and len(part) == 21
        assert part["p_holm"].to_numpy() == pytest.approx(mu.holm(part["p"].to_numpy()))
    nm = comp[comp["metric"] == "rank1.per_part.NM"].set_index("cell")
    lost = nm.loc["level=a1"]
    assert lost["raw_verdict"] == stats.BETTER and lost["p"] < 0.05 < lost["p_holm"]
    assert lost["verdict"] == stats.UNCLEAR and lost["seeds_needed"] > 4
    assert (comp.loc[comp["cell"] == "level=a6", "verdict"] == stats.BETTER).all()
    clear = comp[comp["verdict"] != stats.UNCLEAR]
    assert clear["seeds_needed"].isna().all()


def test_format_study_prints_raw_and_adjusted(tmp_path):
    import json

    runs = _many_cells_runs()
    (tmp_path / "study.json").write_text(
        json.dumps({"axes": {"level": [f"a{i}" for i in range(8)]}, "baseline": {"level": "a0"}})
    )
    (tmp_path / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs.to_dict("records")))
    text = summary.format_study(tmp_path)
    assert "Holm p over the study's 21 comparisons; verdict from the Holm p" in text
    line = next(x for x in text.splitlines() if x.startswith("  level=a1 vs"))
    assert "NM +2.5 [" in line and " Holm " in line and stats.UNCLEAR in line and "seeds for 80 % power (now 4)" in line


def test_family_of():
    assert stats.family_of("rank1.per_part.NM") == "rank1.per_part"
    assert stats.family_of("rank1_view.flat.CL.090") == "rank1_view.flat.CL.090"
    assert stats.family_of("train_time_s") == "train_time_s"
