"""The "20 % less time" claim as time to target (``gstsn.results.time_to_target``): hand-made curves with known
answers (a GSTSN run that never reaches the target, a contended run, a single seed), and its line in
``gstsn ablations summary``."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import scipy.stats
from helpers.paired_runs import time_to_target_runs
from helpers.results_store import write_study

from gstsn.results.curves import pair_runs
from gstsn.results.stats import mean_ci
from gstsn.results.summary import format_study
from gstsn.results.time_to_target import (
    PER_ITERATION,
    TARGET_FRACTION,
    geometric_mean_ci,
    ratio_words,
    time_to_target,
    times_to_target,
)


def test_time_to_a_target_of_95_percent_of_gaitsets_final():
    rows, curves = time_to_target_runs()
    (tt,) = times_to_target(rows, curves)
    assert tt.fraction == TARGET_FRACTION == 0.95
    nm, bg, per_it = tt.rows
    assert [nm.what, bg.what, per_it.what] == ["NM", "BG", PER_ITERATION]
    assert nm.target == pytest.approx(0.95 * 62.0) and nm.gaitset_final.mean == pytest.approx(62.0)
    assert [t.seconds for t in nm.times["gaitset"]] == pytest.approx([20.0, 22.0, 24.0])
    assert [t.seconds for t in nm.times["gstsn"][:2]] == pytest.approx([12.0, 26.4])
    assert nm.times["gstsn"][2].seconds is None  # never reached within its curve
    assert nm.missing == ["GSTSN seed 2 (run b2)"]
    assert nm.means["gaitset"].mean == pytest.approx(22.0) and nm.means["gaitset"].n == 3
    assert nm.means["gstsn"].mean == pytest.approx(19.2) and nm.means["gstsn"].n == 2  # seed 2 left out
    assert nm.ratios == pytest.approx({0: 0.6, 1: 1.2})
    logs = [math.log(0.6), math.log(1.2)]
    half = scipy.stats.t.ppf(0.975, 1) * pd.Series(logs).std() / math.sqrt(2)
    assert nm.ratio.mean == pytest.approx(math.sqrt(0.72))
    assert (nm.ratio.low, nm.ratio.high) == pytest.approx(
        (math.exp(sum(logs) / 2 - half), math.exp(sum(logs) / 2 + half))
    )
    assert bg.target == pytest.approx(38.0) and [t.seconds for t in bg.times["gstsn"]] == [40.0] * 3
    assert bg.ratios == pytest.approx({0: 40 / 30, 1: 40 / 33, 2: 40 / 36}) and bg.missing == []


def test_time_per_iteration_sits_beside_it():
    rows, curves = time_to_target_runs()
    per_it = times_to_target(rows, curves)[0].rows[-1]
    assert [t.seconds for t in per_it.times["gaitset"]] == pytest.approx([0.1, 0.11, 0.12])  # sec_per_iter
    assert [t.seconds for t in per_it.times["gstsn"]] == pytest.approx([0.12, 0.132, 0.144])  # train_time_s / its
    assert per_it.ratios == pytest.approx({0: 1.2, 1: 1.2, 2: 1.2}) and per_it.ratio.mean == pytest.approx(1.2)
    assert "contradicts" in ratio_words(per_it.ratio)


def test_contended_runs_are_marked_and_rows_without_a_share_say_not_recorded():
    rows, curves = time_to_target_runs({"b1": 0.4, "a0": 0.02})
    (tt,) = times_to_target(rows, curves)
    nm = tt.rows[0]
    assert tt.contention_recorded
    assert [(t.run_id, t.share) for t in nm.contended_runs] == [("b1", 0.4)]
    assert nm.times["gaitset"][0].share == 0.02 and not nm.times["gaitset"][0].contended
    assert nm.times["gaitset"][1].share is None  # the key is absent: not recorded
    assert nm.ratios == pytest.approx({0: 0.6, 1: 1.2})  # marked, not dropped
    quiet = times_to_target(*time_to_target_runs())[0]
    assert not quiet.contention_recorded and quiet.rows[0].contended_runs == []


def test_a_single_seed_has_no_interval():
    rows, curves = time_to_target_runs()
    (tt,) = times_to_target([r for r in rows if r["seed"] == 0], curves)
    nm = tt.rows[0]
    assert nm.target == pytest.approx(0.95 * 60.0)
    assert nm.means["gaitset"].n == 1 and not nm.means["gaitset"].has_interval
    assert nm.ratio.n == 1 and nm.ratio.mean == pytest.approx(12.0 / 20.0) and math.isnan(nm.ratio.low)
    assert ratio_words(nm.ratio).startswith("no interval")


def test_geometric_mean_interval_is_the_t_interval_of_the_logs():
    iv = geometric_mean_ci([0.5, 2.0])
    logs = mean_ci([math.log(0.5), math.log(2.0)])
    assert iv.mean == pytest.approx(1.0) and iv.n == 2
    assert (iv.low, iv.high) == pytest.approx((math.exp(logs.low), math.exp(logs.high)))
    assert iv.low * iv.high == pytest.approx(1.0)  # symmetric on the log scale


def test_gaitset_curves_without_the_condition_give_no_reading():
    rows, curves = time_to_target_runs()
    (paired,) = pair_runs(rows)
    tt = time_to_target(paired, curves, {r["run_id"]: r for r in rows}, conditions=("CL",))
    assert tt.rows == []
    assert times_to_target(rows, curves[curves["condition"] == "CL"]) == []


def test_the_summary_prints_time_to_target(tmp_path):
    study = write_study(tmp_path, "gaitset_vs_gstsn", {"temporal": [False, True]}, {"temporal": False}, [0, 1, 2],
                        {(True,): 1.0}, synthetic=False, gei=True, with_tables=False, with_logs=False)  # fmt: skip
    text = format_study(study)
    (line,) = [x for x in text.splitlines() if "time to target" in x]
    assert line.startswith("  time to target, temporal=true (NM target ")
    assert "95 % of GaitSet's final" in line and "per iteration" in line and "contention not recorded" in line
    runs = [json.loads(x) for x in (study / "runs.jsonl").read_text().splitlines()]
    run = next(r for r in runs if r["method"] == "gstsn")
    (study / "runs" / run["run_id"] / "eval_curve.csv").write_text("iteration,rank1\n100,50\n")
    assert "WARNING: time to target not computed:" in format_study(study)  # a damaged curve is named, not raised
