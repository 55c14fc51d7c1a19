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


def _two_by_two(dependence: float, seeds=range(4)) -> pd.DataFrame:
    """input_type × temporal runs where ordered input adds 1 point to GaitSet and ``1 + dependence`` to GSTSN, with
    a per-seed offset shared by the four cells (what pairing removes) and a little per-run noise."""
    rng = np.random.default_rng(1)
    rows = []
    for seed in seeds:
        offset = rng.normal(0, 5)
        for temporal in (False, True):
            for input_type in ("set", "sequence"):
                effect = (1.0 + (dependence if temporal else 0.0)) if input_type == "sequence" else 0.0
                value = 60 + offset + effect + rng.normal(0, 0.2)
                cell = f"temporal={str(temporal).lower()}, input_type={input_type}"
                rows.append(
                    {
                        "run_id": f"run{len(rows)}",
                        "cell": cell,
                        "seed": seed,
                        "method": "gstsn" if temporal else "gaitset",
                        "temporal": temporal,
                        "input_type": input_type,
                        **{f"rank1.per_part.{c}": value for c in ("NM", "BG", "CL")},
                    }
                )
    return pd.DataFrame(rows)


AXES_2X2 = {"temporal": [False, True], "input_type": ["set", "sequence"]}


def test_interaction_is_the_paired_difference_in_differences(tmp_path):
    runs = _two_by_two(dependence=3.0)
    got = stats.compare_interactions(runs, AXES_2X2, {"temporal": True, "input_type": "set"},
                                     stats.rank1_metrics(["per_part"]))  # fmt: skip
    assert list(got["cell"].unique()) == ["temporal=false, input_type=sequence"]
    row = got.iloc[0]
    assert (row["along"], row["across"], row["base"]) == (
        "temporal=false, input_type=set",
        "temporal=true, input_type=sequence",
        "temporal=true, input_type=set",
    )
    assert row["what"] == "input_type set → sequence: effect at temporal=false minus at temporal=true"
    # by hand: (GaitSet seq − GaitSet set) − (GSTSN seq − GSTSN set), per seed, then its t-interval
    by = runs.set_index(["cell", "seed"])["rank1.per_part.NM"]
    per_seed = [by[(row["cell"], s)] - by[(row["along"], s)] - by[(row["across"], s)] + by[(row["base"], s)]
                for s in range(4)]  # fmt: skip
    expected = stats.mean_ci(per_seed)
    assert row["diff"] == pytest.approx(expected.mean) and row["low"] == pytest.approx(expected.low)
    assert row["diff"] == pytest.approx(-3.0, abs=0.5) and row["seeds"] == "0,1,2,3"
    assert row["verdict"] == stats.WORSE and int(row["m"]) == 3  # its own family: NM, BG, CL
    # the contrasts keep their family: 4 pairs × 3 conditions, not 15
    contrasts = stats.compare_runs(runs, AXES_2X2, {"temporal": True, "input_type": "set"},
                                   stats.rank1_metrics(["per_part"]))  # fmt: skip
    assert set(contrasts["m"]) == {12}
    # `gstsn ablations summary` prints it under the contrasts
    text = format_study(_study_folder(tmp_path, runs, AXES_2X2, {"temporal": True, "input_type": "set"}))
    assert "Holm p over the 3 interaction comparisons" in text
    assert "  input_type set → sequence: effect at temporal=false minus at temporal=true: NM -3." in text


def _study_folder(folder, runs: pd.DataFrame, axes, baseline):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "study.json").write_text(json.dumps({"axes": axes, "baseline": baseline}))
    (folder / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs.to_dict("records")))
    return folder


def test_no_dependence_is_not_distinguishable_and_one_axis_has_no_interaction(tmp_path):
    runs = _two_by_two(dependence=0.0)
    got = stats.compare_interactions(runs, AXES_2X2, {"temporal": True, "input_type": "set"},
                                     stats.rank1_metrics(["per_part"]))  # fmt: skip
    assert set(got["verdict"]) == {stats.UNCLEAR}
    one_axis = runs[runs["temporal"]]
    assert "interactions" not in format_study(_study_folder(tmp_path / "one", one_axis, {"input_type": ["set",
                                              "sequence"]}, {"input_type": "set"}))  # fmt: skip
    assert stats.compare_interactions(one_axis, {"input_type": ["set", "sequence"]}, {"input_type": "set"},
                                      stats.rank1_metrics(["per_part"])).empty  # fmt: skip


def test_interactions_of_a_two_by_three_grid_and_a_missing_corner():
    cells = {f"t={t},c={c}": {"temporal": t, "cue": c} for t in (False, True) for c in (0.0, 0.5, 1.0)}
    base = {"temporal": False, "cue": 0.5}
    got = stats.interactions(cells, ["temporal", "cue"], base)
    assert [(i.cell, i.along, i.across, i.base) for i in got] == [
        ("t=True,c=0.0", "t=True,c=0.5", "t=False,c=0.0", "t=False,c=0.5"),
        ("t=True,c=1.0", "t=True,c=0.5", "t=False,c=1.0", "t=False,c=0.5"),
    ]
    del cells["t=False,c=1.0"]  # a cell without runs: its interaction cannot be formed
    assert [i.cell for i in stats.interactions(cells, ["temporal", "cue"], base)] == ["t=True,c=0.0"]
    assert stats.interactions(cells, ["temporal", "cue", "x"], base) == []


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
