"""Holm's adjustment of a family of comparisons is orchestrated in one place (``multiplicity.adjust_family``): the
study tables (``results.stats.compare_runs``) and the report (``report.stats.adjust``) get the same p-values,
verdicts and seeds needed from it."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from gstsn.report import stats as report_stats
from gstsn.results import multiplicity as mu
from gstsn.results import stats
from gstsn.results.intervals import BETTER, NO_INTERVAL, UNCLEAR, Interval

FAMILY = [
    Interval(3.0, 2.0, 4.0, 4),  # clearly better
    Interval(1.0, 0.05, 1.95, 4),  # raw interval excludes 0, too close for the family
    Interval(0.2, -1.0, 1.4, 4),  # not distinguishable
    Interval(1.0, math.nan, math.nan, 1),  # no interval: not part of the family
]


def test_adjust_family_is_the_composition_of_its_steps():
    out = mu.adjust_family(FAMILY)
    p = [mu.p_value(d) for d in FAMILY]
    assert [a.p for a in out[:3]] == pytest.approx(p[:3]) and math.isnan(out[3].p)
    assert [a.p_holm for a in out[:3]] == pytest.approx(mu.holm(p)[:3]) and math.isnan(out[3].p_holm)
    assert {a.m for a in out} == {3}
    assert [a.verdict for a in out] == [BETTER, UNCLEAR, UNCLEAR, NO_INTERVAL]
    assert out[0].seeds_needed is None and out[3].seeds_needed is None
    assert out[1].seeds_needed == mu.seeds_needed(FAMILY[1], mu.ALPHA / 3)
    worse = mu.adjust_family([Interval(-3.0, -4.0, -2.0, 4)], higher_is_better=False)
    assert worse[0].verdict == BETTER


def test_the_study_table_and_the_report_adjust_alike():
    rows = []
    for seed, (a, b, c) in enumerate([(50.0, 53.0, 50.5), (50.0, 52.5, 51.5), (50.0, 53.5, 49.0), (50.0, 53.1, 50.2)]):
        for cell, value in (("x=a", a), ("x=b", b), ("x=c", c)):
            rows.append({"run_id": f"{cell}{seed}", "cell": cell, "seed": seed, "method": "gstsn",
                         "x": cell[-1], "rank1.per_part.NM": value})  # fmt: skip
    runs = pd.DataFrame(rows)
    table = stats.compare_runs(runs, {"x": ["a", "b", "c"]}, {"x": "a"}, ["rank1.per_part.NM"]).set_index("cell")
    cells = ("x=b", "x=c")
    report = report_stats.adjust([report_stats.paired_difference(runs, "rank1.per_part.NM", c, "x=a") for c in cells])
    assert {a.verdict for a in report} == {BETTER, UNCLEAR}
    for cell, adjusted in zip(cells, report, strict=True):
        row = table.loc[cell]
        assert (row["p"], row["p_holm"], row["m"]) == pytest.approx((adjusted.p, adjusted.p_holm, adjusted.m))
        assert row["verdict"] == adjusted.verdict
        assert (row["seeds_needed"] if not pd.isna(row["seeds_needed"]) else None) == adjusted.seeds_needed
