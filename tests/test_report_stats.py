"""Report statistics and verdicts: t-intervals, pairing by seed, verdict words, contrasts, the published numbers."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest
from helpers.results_store import write_study

from gstsn.report import stats, tables, verdicts
from gstsn.report.load import read_study_folder
from gstsn.report.published import PUBLISHED

SPEC = Path(__file__).resolve().parents[1].parent / "shared/spec/models.md"


def test_numbers_come_from_the_ablation_statistics():
    from gstsn.results import stats as ablate_stats

    assert stats.mean_ci is ablate_stats.mean_ci and stats.Interval is ablate_stats.Interval
    assert (stats.BETTER, stats.WORSE, stats.UNCLEAR) == (ablate_stats.BETTER, ablate_stats.WORSE, ablate_stats.UNCLEAR)


def test_mean_ci_by_hand():
    iv = stats.mean_ci([1.0, 2.0, 3.0, float("nan")])
    half = 4.302653 * 1.0 / math.sqrt(3)  # s = 1 for 1, 2, 3; t(0.975, 2) = 4.302653
    assert (iv.n, iv.mean) == (3, 2.0)
    assert iv.low == pytest.approx(2.0 - half) and iv.high == pytest.approx(2.0 + half)
    one = stats.mean_ci([5.0])
    assert one.n == 1 and one.mean == 5.0 and not one.has_interval and math.isnan(one.half_width)
    assert stats.mean_ci([]).n == 0


def _runs(rows):
    return pd.DataFrame(rows, columns=["cell", "seed", "m"])


def test_paired_difference_pairs_by_seed_only():
    runs = _runs([("a", 0, 10.0), ("a", 1, 12.0), ("a", 2, 11.0), ("b", 1, 9.0), ("b", 2, 10.0), ("b", 3, 50.0)])
    comp = stats.paired_difference(runs, "m", "a", "b")
    assert comp.seeds == (1, 2)
    assert comp.diff.mean == pytest.approx(2.0) and comp.diff.n == 2
    # 12-9 = 3, 11-10 = 1: s = sqrt(2), t(0.975, 1) = 12.706 -> the interval includes 0
    assert comp.diff.low < 0 < comp.diff.high and comp.verdict == stats.UNCLEAR


def test_verdict_words():
    assert stats.verdict_word(stats.Interval(1.0, 0.2, 1.8, 3)) == stats.BETTER
    assert stats.verdict_word(stats.Interval(-1.0, -1.8, -0.2, 3)) == stats.WORSE
    assert stats.verdict_word(stats.Interval(0.1, -0.5, 0.7, 3)) == stats.UNCLEAR
    assert stats.verdict_word(stats.Interval(1.0, math.nan, math.nan, 1)) == stats.NO_INTERVAL


def test_a_difference_is_never_formatted_without_its_interval():
    assert stats.format_difference(stats.Interval(1.0, math.nan, math.nan, 1)) == "n/a (1 paired seed)"
    assert stats.format_difference(stats.Interval(1.26, 0.21, 2.31, 3)) == "+1.3 [+0.2, +2.3]"
    assert stats.format_difference(stats.Interval(-1.0, -2.0, 0.0, 3)) == "−1.0 [−2.0, 0.0]"


def test_duplicate_seed_in_a_cell_is_an_error():
    runs = _runs([("a", 0, 1.0), ("a", 0, 2.0), ("b", 0, 1.0)])
    with pytest.raises(ValueError, match=r"cell 'a' has more than one run for seed\(s\) \[0\]"):
        stats.paired_difference(runs, "m", "a", "b")


def test_two_axis_contrasts_hold_the_other_axis_fixed(tmp_path):
    write_study(tmp_path, "input_type", {"input_type": ["set", "sequence"], "temporal": [False, True]},
                {"input_type": "set", "temporal": False}, [0, 1], {}, synthetic=True, with_tables=False,
                with_logs=False, with_eval=False)  # fmt: skip
    group = verdicts.data_groups(read_study_folder(tmp_path / "input_type"))[0]
    pairs = {(c.cell, c.reference, c.axis) for c in verdicts.contrasts(group)}
    assert pairs == {
        ("input_type=sequence, temporal=false", "input_type=set, temporal=false", "input_type"),
        ("input_type=set, temporal=true", "input_type=set, temporal=false", "temporal"),
        ("input_type=sequence, temporal=true", "input_type=set, temporal=true", "input_type"),
        ("input_type=sequence, temporal=true", "input_type=sequence, temporal=false", "temporal"),
    }
    assert verdicts.gstsn_gaitset_pairs(group) == [
        ("input_type=set, temporal=true", "input_type=set, temporal=false"),
        ("input_type=sequence, temporal=true", "input_type=sequence, temporal=false"),
    ]


def test_a_two_axis_study_shows_its_interaction(tmp_path):
    # ordered input helps GSTSN by 6 points and GaitSet not at all: an interaction of 6 (GaitSet's effect minus GSTSN's)
    effects = {("sequence", True): 6.0}
    write_study(tmp_path, "input_type", {"input_type": ["set", "sequence"], "temporal": [False, True]},
                {"input_type": "set", "temporal": False}, [0, 1, 2, 3], effects, synthetic=True, noise=0.3,
                with_tables=False, with_logs=False, with_eval=False)  # fmt: skip
    study = read_study_folder(tmp_path / "input_type")
    group = verdicts.data_groups(study)[0]
    (inter,) = verdicts.interactions(group)
    assert inter.describe() == "temporal false → true: effect at input_type=sequence minus at input_type=set"
    nm = verdicts.interaction_family(group, "per_part")[(inter.cell, "NM")]
    assert nm.diff.mean == pytest.approx(6.0, abs=1.0) and nm.verdict == stats.BETTER and nm.m == 3
    box = verdicts.study_verdict(study, group)
    assert "distinguishable from no dependence in 3 of 3" in box.answer
    assert any(line.startswith("Interaction, temporal false → true") for line in box.lines)
    table = tables.interaction_table(group)
    assert [r[0].text for r in table.rows] == [inter.describe(), inter.describe()]  # per_part, flat
    assert table.rows[0][2].sub == "effect larger at the first value"
    assert verdicts.family_size(group, "per_part") == 12  # the contrasts' family is unchanged


def test_a_one_axis_study_has_no_interaction_table(tmp_path):
    write_study(tmp_path, "idr_statistic", {"idr_stat": ["median", "max"]}, {"idr_stat": "median"}, [0, 1, 2],
                {("max",): -1.0}, synthetic=True, with_tables=False, with_logs=False, with_eval=False)  # fmt: skip
    group = verdicts.data_groups(read_study_folder(tmp_path / "idr_statistic"))[0]
    assert verdicts.interactions(group) == [] and tables.interaction_table(group) is None


@pytest.mark.parametrize(
    ("effects", "kind", "start"),
    [
        ({(0,): -10.0, (1,): -10.0}, "supports", "Supported"),
        ({(0,): 10.0, (1,): -10.0}, "contradicts", "Contradicted"),
        ({(0,): -10.0, (1,): 0.0}, "partly", "Partly supported"),
    ],
)
def test_paper_choice_verdict(tmp_path, effects, kind, start):
    write_study(tmp_path, "lstm_layers", {"lstm_layers": [2, 0, 1]}, {"lstm_layers": 2}, [0, 1, 2], effects,
                synthetic=True, noise=0.3, with_tables=False, with_logs=False, with_eval=False)  # fmt: skip
    study = read_study_folder(tmp_path / "lstm_layers")
    box = verdicts.study_verdict(study, verdicts.data_groups(study)[0])
    assert box.kind == kind and box.answer.startswith(start), box.answer
    assert any("Synthetic data" in c for c in box.caveats)
    for line in box.lines:  # every printed difference carries its interval
        for diff in re.findall(r"(NM|BG|CL) ([+−]?\d+\.\d)( \[)?", line):
            assert diff[2] == " [", line


def test_one_seed_gives_no_difference_and_no_verdict(tmp_path):
    write_study(tmp_path, "idr_statistic", {"idr_stat": ["median", "max"]}, {"idr_stat": "median"}, [0],
                {("max",): -10.0}, synthetic=True, with_tables=False, with_logs=False, with_eval=False)  # fmt: skip
    study = read_study_folder(tmp_path / "idr_statistic")
    box = verdicts.study_verdict(study, verdicts.data_groups(study)[0])
    assert box.kind == "missing" and "no intervals" in box.answer
    assert all("n/a (1 paired seed)" in line and "[" not in line for line in box.lines)


def test_published_numbers_match_the_spec():
    if not SPEC.is_file():
        pytest.skip(f"spec not found at {SPEC}")
    text = SPEC.read_text(encoding="utf-8")
    section = text.split("## Published reference numbers", 1)[1].split("\n## ", 1)[0]
    rows = [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("|") and not line.startswith("|---")
    ][1:]  # the first row is the header
    expected = [(r[0], float(r[1]), float(r[2]), float(r[3]), r[4]) for r in rows]
    assert [(p.model, p.nm, p.bg, p.cl, p.source) for p in PUBLISHED] == expected


def _identity_cue(tmp_path):
    """A two-axis study like the shipped identity_cue (2 × 3 cells): 7 contrasts × NM/BG/CL = 21 comparisons."""
    write_study(tmp_path, "identity_cue", {"temporal": [False, True], "identity_cue": [0.0, 0.5, 1.0]},
                {"temporal": False, "identity_cue": 0.5}, [0, 1, 2, 3],
                {(True, 0.0): 1.2, (False, 1.0): 0.3, (True, 1.0): 0.4, (False, 0.0): -3.0}, synthetic=True,
                noise=15.0, with_tables=False, with_logs=False, with_eval=False)  # fmt: skip
    study = read_study_folder(tmp_path / "identity_cue")
    return study, verdicts.data_groups(study)[0]


def test_a_study_is_one_family_adjusted_with_holm(tmp_path):
    from gstsn.results import multiplicity

    study, group = _identity_cue(tmp_path)
    fam = verdicts.family(group, verdicts.MAIN_DISTANCE)
    assert len(verdicts.family_pairs(group)) == 7 and len(fam) == 21
    comps = list(fam.values())
    assert {c.m for c in comps} == {21}
    assert [c.p_holm for c in comps] == pytest.approx(list(multiplicity.holm([c.p for c in comps])))
    assert verdicts.family_size(group, "flat") == 21  # the other distance: its own family of the same size
    # the verdicts use the adjusted p: some raw intervals exclude 0 but are not distinguishable after the adjustment
    lost = [c for c in comps if c.raw_verdict in (stats.BETTER, stats.WORSE) and c.verdict == stats.UNCLEAR]
    assert lost and all(c.p < 0.05 <= c.p_holm for c in lost)
    assert all(c.seeds_needed is None or c.seeds_needed > c.diff.n for c in comps if c.verdict == stats.UNCLEAR)
    assert all(c.seeds_needed is None for c in comps if c.verdict != stats.UNCLEAR)
    box = verdicts.study_verdict(study, group)
    assert "Adjusted for multiplicity" in box.method and "21 comparisons" in box.method and "Holm" in box.method
    assert f"{len(lost)} differences whose raw 95 % intervals exclude 0 are not distinguishable" in box.answer
    counts = {w: sum(c.verdict == w for c in comps) for w in (stats.BETTER, stats.WORSE, stats.UNCLEAR)}
    assert f"{counts[stats.BETTER]} better, {counts[stats.WORSE]} worse, {counts[stats.UNCLEAR]} not" in box.answer
    c = lost[0]
    line = next(x for x in box.lines if x.startswith(f"{c.cell} vs {c.reference}:"))
    cond = c.metric.rsplit(".", 1)[1]
    expected = (f"{cond} {stats.format_difference(c.diff)} not distinguishable (p {stats.format_p(c.p)}, Holm p "
                f"{stats.format_p(c.p_holm)}; {stats.format_seeds_needed(c.seeds_needed)})")  # fmt: skip
    assert expected in line and "seeds for 80 % power" in expected


def test_the_paper_choice_is_judged_on_adjusted_p(tmp_path):
    # the choice (lstm_layers = 2) against 0 and 1 layers: 6 comparisons, the same family as the contrasts
    write_study(tmp_path, "lstm_layers", {"lstm_layers": [2, 0, 1]}, {"lstm_layers": 2}, [0, 1, 2], {(0,): -10.0},
                synthetic=True, noise=0.3, with_tables=False, with_logs=False, with_eval=False)  # fmt: skip
    study = read_study_folder(tmp_path / "lstm_layers")
    group = verdicts.data_groups(study)[0]
    assert group.choice == {"lstm_layers": 2} and verdicts.family_size(group, verdicts.MAIN_DISTANCE) == 6
    comp = verdicts.compare_cells(group, "lstm_layers=2", "lstm_layers=0", verdicts.MAIN_DISTANCE, "NM")
    back = verdicts.compare_cells(group, "lstm_layers=0", "lstm_layers=2", verdicts.MAIN_DISTANCE, "NM")
    assert comp.diff.mean == pytest.approx(-back.diff.mean) and (comp.p, comp.p_holm) == (back.p, back.p_holm)
    assert comp.verdict == stats.BETTER and back.verdict == stats.WORSE
    box = verdicts.study_verdict(study, group)
    assert box.kind == "partly" and "(Holm p < 0.001)" in box.answer and "6 comparisons" in box.method
    with pytest.raises(KeyError, match="not one of the comparisons"):
        verdicts.compare_cells(group, "lstm_layers=0", "lstm_layers=1", verdicts.MAIN_DISTANCE, "NM")
