"""The timing page's time to accuracy: only measured seed pairs in the table, the rest folded into one line, and the
plot of rank-1 against wall time (GaitSet vs GSTSN, seeds shaded) from the paired runs' evaluation curves."""

from __future__ import annotations

import json
import re
import shutil

from helpers.results_store import write_study, write_timing

from gstsn.report.load import load_results
from gstsn.report.render import render_report
from gstsn.report.timing_view import fold_not_measured, timing_verdict_view
from gstsn.report.tta_curves import paired_curves

FOLDED = (
    "Not measured: 12 seed pairs of gstsn-max-L2, gstsn-median-L0 (seeds 0, 1, 2; NM, BG), and gstsn-mean-L2 (no run "
    "with a curve). Why: the gstsn run has no eval_curve.csv."
)


def _pairs_study(root, name="gaitset_vs_gstsn", synthetic=False, seeds=(0, 1, 2), **kw):
    return write_study(root, name, {"temporal": [False, True]}, {"temporal": False}, list(seeds), {(True,): 1.5},
                       synthetic=synthetic, with_tables=False, with_logs=False, **kw)  # fmt: skip


def test_fold_not_measured():
    pairs = [
        {"gstsn_variant": "gstsn-max-L2", "seed": s, "condition": c, "status": f"not measured: run r{s} (gaitset) "
         "has no eval_curve.csv"} for s in (10, 2) for c in ("CL", "NM")
    ]  # fmt: skip
    assert fold_not_measured(pairs) == (
        "Not measured: 4 seed pairs of gstsn-max-L2 (seeds 2, 10; NM, CL). Why: the gaitset run has no eval_curve.csv."
    )
    assert fold_not_measured([], ["gstsn-mean-L2"]) == "Not measured: gstsn-mean-L2 (no run with a curve)."
    assert fold_not_measured([]) == ""


def test_the_table_lists_only_measured_pairs_and_folds_the_rest(tmp_path):
    verdict = json.loads((write_timing(tmp_path) / "verdict.json").read_text())
    pairs = verdict["time_to_accuracy"]["pairs"]
    assert sum(p["status"].startswith("not measured") for p in pairs) == 12  # the wall the page used to show
    view = timing_verdict_view(verdict)
    table = view.tta_table
    measured, folded = table.rows[:-1], table.rows[-1]
    assert [(r[0].text, r[1].text) for r in measured] == [("gstsn-median-L2", s) for s in ("0", "1", "2")]
    assert all(r[-1].text == "does not hold" for r in measured)
    assert len(folded) == 1 and folded[0].text == FOLDED and folded[0].cls == "missing"
    assert table not in view.tables  # drawn first, with the plot under it
    tta_lines = [x for x in view.lines if x.startswith("Time to accuracy")]
    assert tta_lines == [
        "Time to accuracy (cpu, gstsn-median-L2, NM): does not hold, median time ratio 0.92 over the 3 pair(s) where "
        "GSTSN reached it; 3 seed pair(s)",
        "Time to accuracy (cpu): not measured for gstsn-max-L2, gstsn-median-L0 (no evaluation curves)",
    ]


def test_only_unmeasured_pairs_give_the_folded_line_alone(tmp_path):
    verdict = json.loads((write_timing(tmp_path) / "verdict.json").read_text())
    tta = verdict["time_to_accuracy"]
    tta["pairs"] = [p for p in tta["pairs"] if p["status"].startswith("not measured")]
    rows = timing_verdict_view(verdict).tta_table.rows
    assert len(rows) == 1 and rows[0][0].text == FOLDED


def test_paired_curves_pair_like_time_to_accuracy(tmp_path):
    results = tmp_path / "results"
    _pairs_study(results)  # real CASIA-B, 3 seeds
    _pairs_study(results, "synth_pairs", synthetic=True, seeds=(0, 1))  # another setting: its own figure
    # GSTSN only, on seeds no GaitSet run has: no partner, so not plotted (on seeds 0, 1 they would pair with
    # synth_pairs' GaitSet runs, as gstsn.timing.tta pairs them)
    write_study(results, "idr_statistic", {"idr_stat": ["median", "max"]}, {"idr_stat": "median"}, [5, 6], {},
                synthetic=True, with_tables=False, with_logs=False)  # fmt: skip
    shutil.copytree(results / "gaitset_vs_gstsn", results / "copy_of_it")  # the same runs in a second study
    sets = paired_curves(load_results(results).studies)
    assert [cs.title for cs in sets] == [
        "real CASIA-B, device cpu, profile smoke",
        "synthetic data, device cpu, profile smoke",
    ]
    real, synth = (cs.curves for cs in sets)
    assert real.groupby("variant")["seed"].nunique().to_dict() == {"GaitSet": 3, "GSTSN median, LSTM×2": 3}
    assert synth.groupby("variant")["seed"].nunique().to_dict() == {"GaitSet": 2, "GSTSN median, LSTM×2": 2}
    assert len(real) == 2 * 3 * 3 * 4  # variants × seeds × conditions × evaluations: each run read once
    assert set(real["condition"]) == {"NM", "BG", "CL"} and sets[0].distance == "per_part"


def test_the_timing_page_shows_the_plot_under_the_table(tmp_path):
    results = tmp_path / "results"
    _pairs_study(results)
    write_timing(results)
    render_report(results, tmp_path / "reports")
    html = (tmp_path / "reports" / "timing.html").read_text(encoding="utf-8")
    table = html.index("<caption>Time to accuracy per seed pair</caption>")
    title = html.index("Rank-1 against training wall time: GaitSet vs GSTSN (real CASIA-B, device cpu, profile smoke)")
    assert table < title < html.index("<caption>GSTSN (paper setting) ÷ GaitSet time per phase</caption>")
    assert f'<td class="missing" colspan="9">{FOLDED}</td>' in html
    tta_table = html[table : html.index("</table>", table)]
    assert tta_table.count("<tr>") == 1 + 3 + 1 and "not measured: run" not in tta_table  # header, pairs, folded
    svg = re.search(r'<svg\b[^>]*aria-label="rank-1 against training wall time, GaitSet and GSTSN, seeds shaded".*?'
                    r"</svg>", html, re.S).group(0)  # fmt: skip
    assert svg.count("fill-opacity: 0.2") == 2 * 3  # a seed band per model and probe set
    assert "GaitSet (3 seeds)" in svg and "GSTSN median, LSTM×2 (3 seeds)" in svg and "GaitSet final (target)" in svg
    assert "shaded: the range of the seeds" in html


def test_without_curves_the_page_says_why(tmp_path):
    results = tmp_path / "results"
    _pairs_study(results, with_eval=False)
    write_timing(results)
    render_report(results, tmp_path / "reports")
    html = (tmp_path / "reports" / "timing.html").read_text(encoding="utf-8")
    assert "Not shown: no GaitSet and GSTSN runs with the same seed, device and settings both have evaluation" in html
    assert "seeds shaded" not in html


def test_the_cpu_bf16_over_fp32_pairs_get_their_own_table_after_the_model_pairs(tmp_path):
    verdict = json.loads((write_timing(tmp_path) / "verdict.json").read_text())
    verdict["precision_ratios"] = [
        {"phase": "train_step", "device": "cpu", "variant": "gaitset", "a_dtype": "fp32", "b_dtype": "bf16",
         "status": "measured", "ratio": 0.68, "ci_low": 0.66, "ci_high": 0.7, "n": 8, "fp32_median_s": 0.29,
         "bf16_median_s": 0.2},
        {"phase": "train_step", "device": "cpu", "variant": "gstsn-median-L2", "a_dtype": "fp32", "b_dtype": "bf16",
         "status": "not measured: this CPU has no bf16 in hardware"},
    ]  # fmt: skip
    view = timing_verdict_view(verdict)
    captions = [t.caption for t in view.tables]
    table = view.tables[captions.index("CPU bf16 ÷ fp32 time per phase")]
    assert captions.index("CPU bf16 ÷ fp32 time per phase") == captions.index(
        "GSTSN (paper setting) ÷ GaitSet time per phase") + 1  # fmt: skip
    measured, skipped = ([c.text for c in row] for row in table.rows)
    assert measured == ["train_step", "gaitset", "cpu", "0.68 [0.66, 0.70]", "8", "0.2900", "0.2000", "measured"]
    assert skipped[3] == "—" and skipped[-1] == "not measured: this CPU has no bf16 in hardware"
    assert "precision_ratios" not in [k for k, _ in view.info]  # a known section, not listed as run information
    assert "In this run: the CPU's bf16 flags were not recorded" in table.notes[-1]  # a verdict from before them
    verdict["cpu_bf16"] = {"flags": [], "override": "1", "used": True}  # bf16 forced on a CPU without it
    view = timing_verdict_view(verdict)
    table = next(t for t in view.tables if t.caption == "CPU bf16 ÷ fp32 time per phase")
    assert "GSTSN_CPU_BF16=1 on a CPU with no bf16 in hardware: emulated" in table.notes[-1]
    assert "cpu_bf16" not in [k for k, _ in view.info]  # shown with its table, not again as run information
