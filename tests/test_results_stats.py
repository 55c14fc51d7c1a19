"""Statistics over seeds: exact t quantiles, intervals, paired differences, verdicts, contrasts; no torch import."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from gstsn.results import stats
from gstsn.results.summary import format_difference, format_mean, format_study

# two-sided 95 % critical values t_{0.975, df} from the standard table
T_TABLE = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 9: 2.262, 29: 2.045, 120: 1.980}


@pytest.mark.parametrize(("df", "value"), sorted(T_TABLE.items()))
def test_t_quantile_matches_the_table(df, value):
    assert stats.t_quantile(0.975, df) == pytest.approx(value, abs=5e-4)
    assert stats.t_quantile(0.025, df) == pytest.approx(-value, abs=5e-4)
    assert scipy.stats.t.cdf(stats.t_quantile(0.975, df), df) == pytest.approx(0.975, abs=1e-10)


def test_t_quantile_rejects_bad_input():
    with pytest.raises(stats.StatsError, match="degrees of freedom"):
        stats.t_quantile(0.975, 0)
    with pytest.raises(stats.StatsError, match="quantile level"):
        stats.t_quantile(1.0, 3)


def test_mean_ci_by_hand():
    iv = stats.mean_ci([10.0, 12.0, 14.0])  # mean 12, s = 2, n = 3
    half = 4.302652729749464 * 2 / math.sqrt(3)
    assert (iv.mean, iv.n) == (12.0, 3)
    assert iv.low == pytest.approx(12 - half, abs=1e-9) and iv.high == pytest.approx(12 + half, abs=1e-9)
    one = stats.mean_ci([5.0, float("nan")])
    assert one.n == 1 and one.mean == 5.0 and not one.has_interval and math.isnan(one.half_width)
    assert format_mean(one) == "5.0 (1 seed)"
    assert stats.mean_ci([]).n == 0
    constant = stats.mean_ci([3.0, 3.0, 3.0])
    assert constant.has_interval and constant.low == constant.high == 3.0


def test_paired_difference_uses_only_common_seeds_and_pairs_them():
    cell = {0: 50.0, 1: 60.0, 2: 70.0, 3: 80.0}
    ref = {0: 49.0, 1: 59.0, 2: 68.8}  # seed 3 missing from the reference
    iv, seeds = stats.paired_difference(cell, ref)
    assert seeds == (0, 1, 2)
    assert iv.mean == pytest.approx(3.2 / 3) and iv.n == 3
    # pairing removes the between-seed spread (±10) that an unpaired comparison would carry
    assert iv.half_width < 0.3
    assert stats.verdict(iv) == stats.BETTER
    assert stats.verdict(iv, higher_is_better=False) == stats.WORSE


@pytest.mark.parametrize(
    ("diffs", "word"),
    [([1.0, 1.2, 0.9], stats.BETTER), ([-1.0, -1.2, -0.9], stats.WORSE), ([1.0, -1.0, 0.5], stats.UNCLEAR)],
)
def test_verdicts(diffs, word):
    assert stats.verdict(stats.mean_ci(diffs)) == word


def test_no_difference_without_its_interval():
    assert stats.verdict(stats.mean_ci([2.0])) == stats.NO_INTERVAL
    assert format_difference(stats.mean_ci([2.0])) == "n/a (1 paired seed)"
    text = format_difference(stats.mean_ci([1.0, 2.0, 3.0]))
    assert text.startswith("+2.0 [") and text.endswith("]") and text.count(",") == 1
    assert format_mean(stats.mean_ci([1.0, 2.0, 3.0])).startswith("2.0 [")


def test_contrasts_one_and_two_axes():
    one = {"idr_stat=median": {"idr_stat": "median"}, "idr_stat=max": {"idr_stat": "max"}}
    assert stats.contrasts(one, {"idr_stat": ["median", "max"]}, {"idr_stat": "median"}, ["method=gei"]) == [
        ("idr_stat=max", "idr_stat=median", "idr_stat"),
        ("method=gei", "idr_stat=median", "method"),
    ]
    axes = {"temporal": [False, True], "input_type": ["set", "sequence"]}
    cells = {f"{t},{i}": {"temporal": t, "input_type": i} for t in axes["temporal"] for i in axes["input_type"]}
    got = set(stats.contrasts(cells, axes, {"temporal": True, "input_type": "set"}))
    assert got == {
        ("False,set", "True,set", "temporal"),
        ("True,sequence", "True,set", "input_type"),
        ("False,sequence", "True,sequence", "temporal"),  # GaitSet vs GSTSN at sequence input
        ("False,sequence", "False,set", "input_type"),  # sequence vs set for GaitSet
    }


def _runs() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(3):
        offset = rng.normal(0, 5)  # shared by every cell of a seed: what pairing removes
        for cell, value, method in (
            ("idr_stat=median", 60, "gstsn"),
            ("idr_stat=max", 55, "gstsn"),
            ("method=gei", 20, "gei"),
        ):
            noise = 0.0 if method == "gei" else offset + rng.normal(0, 0.3)
            rows.append(
                {
                    "run_id": f"{cell}-{seed}",
                    "cell": cell,
                    "seed": seed,
                    "method": method,
                    "idr_stat": None if method == "gei" else cell.split("=")[1],
                    "rank1.per_part.NM": value + noise,
                    "rank1.per_part.BG": value - 10 + noise,
                    "rank1.per_part.CL": value - 20 + noise,
                }
            )
    return pd.DataFrame(rows)


def test_summaries_and_comparisons_of_a_study(tmp_path):
    runs = _runs()
    metrics = stats.rank1_metrics(["per_part"])
    summary = stats.summarize_runs(runs, metrics)
    assert len(summary) == 9 and set(summary["n"]) == {3}
    gei = summary[(summary["cell"] == "method=gei") & (summary["metric"] == "rank1.per_part.NM")].iloc[0]
    assert gei["mean"] == gei["low"] == gei["high"] == 20.0  # deterministic reference: zero-width interval
    comp = stats.compare_runs(runs, {"idr_stat": ["median", "max"]}, {"idr_stat": "median"}, metrics)
    nm = comp[comp["metric"] == "rank1.per_part.NM"].set_index("cell")
    assert nm.loc["idr_stat=max", "verdict"] == stats.WORSE
    assert nm.loc["idr_stat=max", "diff"] == pytest.approx(-5, abs=1.0)
    assert nm.loc["method=gei", "verdict"] == stats.WORSE and nm.loc["method=gei", "reference"] == "idr_stat=median"
    # the same through the files a study folder holds
    (tmp_path / "study.json").write_text(
        json.dumps({"axes": {"idr_stat": ["median", "max"]}, "baseline": {"idr_stat": "median"}})
    )
    (tmp_path / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs.to_dict("records")) + '{"torn')
    summary2, comp2 = stats.study_statistics(tmp_path, metrics)
    assert list(dict.fromkeys(summary2["cell"])) == ["idr_stat=median", "idr_stat=max", "method=gei"]
    assert len(comp2) == len(comp)
    text = format_study(tmp_path)
    assert "idr_stat=max vs idr_stat=median: NM -" in text and stats.WORSE in text and "[" in text


def test_two_runs_of_one_cell_and_seed_is_an_error():
    runs = pd.concat([_runs(), _runs().iloc[:1]])
    with pytest.raises(stats.StatsError, match="more than one run for seed"):
        stats.summarize_runs(runs, ["rank1.per_part.NM"])


def test_stats_module_does_not_import_torch():
    code = "import sys, gstsn.results.stats; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
