"""GSTSN − GaitSet rank-1 against training iterations, paired by seed (``gstsn.results.budget``), and the pairing of
GaitSet and GSTSN runs it shares with time to accuracy (``gstsn.results.curves.pair_runs``): hand-made curves with
known answers."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import scipy.stats
from helpers.paired_runs import curve_rows, frame, run_row

from gstsn.results.budget import budget_curve, budget_curves, study_curves
from gstsn.results.curves import pair_runs, usable_curves


def three_seeds() -> tuple[list[dict], pd.DataFrame]:
    """GaitSet at 50 / 60 / 70 (iterations 100 / 200 / 300); GSTSN ahead by seed + 1 points at 300, level at 100.
    GSTSN seed 2 evaluates once more (150) and GaitSet seed 2 skipped 200: neither is a common evaluation."""
    rows, parts = [], []
    for seed in (0, 1, 2):
        gaitset = {100: (10.0, 50.0), 200: (20.0, 60.0), 300: (30.0, 70.0)}
        if seed == 2:
            del gaitset[200]
        gstsn = {100: (12.0, 50.0), 200: (24.0, 60.0 + seed), 300: (36.0, 71.0 + seed)}
        if seed == 2:
            gstsn[150] = (18.0, 55.0)
        rows += [run_row(f"a{seed}", "gaitset", seed), run_row(f"b{seed}", "gstsn", seed)]
        parts += [curve_rows(f"a{seed}", gaitset), curve_rows(f"b{seed}", gstsn)]
    return rows, frame(*parts)


def test_differences_are_paired_by_seed_at_common_evaluations():
    rows, curves = three_seeds()
    (bc,) = budget_curves(rows, curves)
    assert bc.paired.pairs == ((0, "a0", "b0"), (1, "a1", "b1"), (2, "a2", "b2"))
    nm = bc.points[bc.points["condition"] == "NM"].set_index("iteration")
    assert list(nm.index) == [100, 200, 300]  # 150: GaitSet did not evaluate there
    assert nm.loc[100, ["mean", "low", "high", "n"]].tolist() == [0.0, 0.0, 0.0, 3]
    assert nm.loc[200, "n"] == 2 and nm.loc[200, "seeds"] == "0,1" and nm.loc[200, "mean"] == pytest.approx(0.5)
    half = scipy.stats.t.ppf(0.975, 2) * 1.0 / math.sqrt(3)  # differences 1, 2, 3: sd 1
    assert nm.loc[300, ["mean", "low", "high"]].tolist() == pytest.approx([2.0, 2.0 - half, 2.0 + half])
    seed2 = bc.per_seed[bc.per_seed["seed"] == 2]
    assert seed2["iteration"].tolist() == [100, 300] and seed2["diff"].tolist() == [0.0, 3.0]
    assert set(bc.points["condition"]) == {"NM"} and bc.problems == []


def test_one_seed_has_no_interval():
    rows, curves = three_seeds()
    (bc,) = budget_curves([r for r in rows if r["seed"] == 0], curves)
    assert bc.points["n"].tolist() == [1, 1, 1]
    assert bc.points["low"].isna().all() and bc.points["high"].isna().all()
    assert bc.points["mean"].tolist() == [0.0, 0.0, 1.0]


def test_an_impossible_rank1_is_named_and_left_out():
    rows, curves = three_seeds()
    curves.loc[(curves["run_id"] == "b0") & (curves["iteration"] == 300), "rank1"] = 140.0
    curves.loc[(curves["run_id"] == "b1") & (curves["iteration"] == 100), "rank1"] = float("nan")
    (bc,) = budget_curves(rows, curves)
    nm = bc.points.set_index("iteration")
    assert nm.loc[300, "seeds"] == "1,2" and nm.loc[300, "mean"] == pytest.approx(2.5)  # seed 0's 140 left out
    assert nm.loc[100, "seeds"] == "0,2"
    assert len(bc.problems) == 2 and "run b0" in bc.problems[0] and "rank-1 140.0" in bc.problems[0]
    assert "run b1" in bc.problems[1] and "left out" in bc.problems[1]
    kept, problems = usable_curves(curves)
    assert len(kept) == len(curves) - 2 and len(problems) == 2


def test_only_runs_of_one_setting_pair_and_each_setting_is_its_own_series():
    rows, curves = three_seeds()
    longer = [run_row("c0", "gaitset", 0, iterations=600), run_row("d0", "gstsn", 0, iterations=600)]
    alone = [run_row("e5", "gstsn", 5), run_row("f0", "gstsn", 0, device="cuda")]  # no GaitSet partner
    extra = frame(*(curve_rows(r["run_id"], {100: (9.0, 40.0 + i)}) for i, r in enumerate(longer + alone)))
    series = budget_curves(rows + longer + alone, pd.concat([curves, extra], ignore_index=True))
    assert [bc.paired.pairs for bc in series] == [((0, "a0", "b0"), (1, "a1", "b1"), (2, "a2", "b2")),
                                                  ((0, "c0", "d0"),)]  # fmt: skip
    assert [bc.paired.row["iterations"] for bc in series] == [300, 600]
    # a GaitSet run without a curve is not a partner: its GSTSN run pairs with nothing
    assert budget_curves(rows, curves[curves["run_id"] != "a1"])[0].paired.seeds == (0, 2)


def test_pairing_names_each_gstsn_variant_and_keeps_the_first_run_of_a_seed():
    rows = [run_row("a0", "gaitset", 0), run_row("a0bis", "gaitset", 0), run_row("b0", "gstsn", 0),
            run_row("m0", "gstsn", 0, cell="idr_stat=max"), run_row("b0bis", "gstsn", 0)]  # fmt: skip
    groups = pair_runs(rows)
    assert [(g.gstsn_label, g.pairs) for g in groups] == [
        ("idr_stat=max", ((0, "a0", "m0"),)),
        ("temporal=true", ((0, "a0", "b0"),)),
    ]


def test_a_pair_without_a_common_evaluation_is_named():
    rows = [run_row("a0", "gaitset", 0), run_row("b0", "gstsn", 0)]
    curves = frame(curve_rows("a0", {100: (1.0, 50.0)}), curve_rows("b0", {150: (1.0, 50.0)}))
    (paired,) = pair_runs(rows)
    bc = budget_curve(paired, curves)
    assert bc.points.empty and "no NM evaluation at a common iteration" in bc.problems[0]
    assert budget_curves(rows, curves) == []


def test_study_curves_reads_a_study_folder(tmp_path):
    from helpers.results_store import write_study

    write_study(tmp_path, "gaitset_vs_gstsn", {"temporal": [False, True]}, {"temporal": False}, [0, 1],
                {(True,): 1.0}, synthetic=False, gei=True, with_tables=False, with_logs=False)  # fmt: skip
    rows, curves = study_curves(tmp_path / "gaitset_vs_gstsn")
    assert len(rows) == 6 and curves["run_id"].nunique() == 4  # GEI rows have no curve
    (bc,) = budget_curves(rows, curves)
    assert bc.paired.seeds == (0, 1) and sorted(set(bc.points["iteration"])) == [50, 100, 150, 200]
