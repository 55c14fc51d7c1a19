"""The budget and time-to-target readings on the pages (``gstsn.report.budget_view``): a figure and a table of
GSTSN − GaitSet against iterations and a time-to-target table on the study page of a study with paired curves,
nothing new on a page without curves, the time-to-target table on the timing page; and the committed real CASIA-B
reference store's gaitset_vs_gstsn page."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from helpers.paired_runs import time_to_target_runs
from helpers.results_store import write_study, write_timing

from gstsn.cli import main
from gstsn.report.budget_view import time_to_target_table
from gstsn.report.render import render_report
from gstsn.results.time_to_target import times_to_target

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "reference" / "casia-b-cpu"
BUDGET = "<h3>Does the verdict depend on the budget?</h3>"
TIME = '<h3>"20 % less time" as time to target</h3>'
FIGURE = 'aria-label="GSTSN minus GaitSet rank-1 against training iterations, paired by seed, 95 % band"'


def _text(page: str) -> str:
    """The page's text, tags and figures removed, whitespace folded."""
    page = re.sub(r"<svg\b.*?</svg>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def test_the_table_names_unreached_and_contended_runs():
    rows, curves = time_to_target_runs({"b1": 0.4, "a0": 0.02})
    (tt,) = times_to_target(rows, curves)
    table = time_to_target_table(tt, curves, "a setting")
    texts = [[c.text for c in row] for row in table.rows]
    assert texts[0] == ["NM: target 58.9", "0", "20.0", "12.0", "0.60"]
    assert texts[1] == ["1", "22.0", "26.4 †", "1.20"]
    assert texts[2] == ["2", "24.0", "not reached", "—"]
    mean = table.rows[3]
    assert mean[0].text == "mean [95 % CI]" and mean[2].sub == "2 of 3 seeds; seed 2 not reached, left out"
    assert mean[3].sub == "geometric mean of 2 seeds"
    notes = " ".join(table.notes)
    assert "Not reached within the run (left out of the mean and the ratio): NM: GSTSN seed 2 (run b2)." in notes
    assert "† measured under contention" in notes and "GSTSN seed 1 (40%)" in notes
    assert "Contention not recorded for GaitSet seed 1, GaitSet seed 2, GSTSN seed 0, GSTSN seed 2." in notes
    assert "95 % of GaitSet's final rank-1" in notes and "evaluations every 100 iterations" in notes
    quiet = time_to_target_table(times_to_target(*time_to_target_runs())[0], curves, "a setting")
    assert any(n.startswith("Contention not recorded: these runs' rows predate cpu_others_share") for n in quiet.notes)


def test_study_page_with_paired_curves_shows_both_readings_and_a_page_without_none(tmp_path):
    results = tmp_path / "results"
    study = write_study(results, "gaitset_vs_gstsn", {"temporal": [False, True]}, {"temporal": False}, [0, 1, 2],
                        {(True,): 1.5}, synthetic=False, with_tables=False, with_logs=False)  # fmt: skip
    runs = [json.loads(x) for x in (study / "runs.jsonl").read_text().splitlines()]
    for row in runs:
        row["cpu_others_share"] = 0.45 if (row["method"], row["seed"]) == ("gstsn", 1) else 0.01
    (study / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    write_study(results, "input_type", {"input_type": ["set", "sequence"], "temporal": [False, True]},
                {"input_type": "set", "temporal": False}, [0, 1], {}, synthetic=True, with_tables=False,
                with_logs=False, with_eval=False)  # fmt: skip
    write_timing(results)
    render_report(results, tmp_path / "out")
    page = (tmp_path / "out" / "study-gaitset_vs_gstsn.html").read_text(encoding="utf-8")
    assert page.index("<h3>Paired comparisons</h3>") < page.index(BUDGET) < page.index(FIGURE)
    assert page.index("<h3>Training</h3>") < page.index(TIME)
    text = _text(page)
    assert "GSTSN − GaitSet rank-1 against training iterations: temporal=true − temporal=false" in text
    assert "a band that crosses 0 at every budget means more training does not change the verdict" in text
    assert "iteration seeds NM BG CL 50 3 " in text and "200 3 +1.5 [" in text
    assert (
        "Time to target, real CASIA-B, device cpu, profile smoke, 200 iterations: temporal=true − temporal=false"
        in text
    )
    assert (
        "† measured under contention (other processes took over 10% of the CPUs while the run trained): "
        "GSTSN seed 1 (45%)" in text
    )
    other = (tmp_path / "out" / "study-input_type.html").read_text(encoding="utf-8")
    assert BUDGET not in other and "as time to target" not in other  # no curves: nothing new
    timing = _text((tmp_path / "out" / "timing.html").read_text(encoding="utf-8"))
    assert (
        "Time to target, real CASIA-B, device cpu, profile smoke, 200 iterations: GSTSN median, LSTM×2 − GaitSet"
        in timing
    )


def test_the_committed_reference_stores_page_shows_the_budget_figure_and_time_to_target(tmp_path, capsys):
    assert main(["report", str(COMMITTED), "--out", str(tmp_path / "out")]) == 0
    page = (tmp_path / "out" / "study-gaitset_vs_gstsn.html").read_text(encoding="utf-8")
    assert BUDGET in page and page.count(FIGURE) == 1 and TIME in page
    text = _text(page)
    # 4 seed pairs evaluated at 250, 500, 750 and 800 iterations; the last row is the study's own comparison
    assert "iteration seeds NM BG CL 250 4 −0.2 [−3.0, +2.5]" in text
    assert "800 4 −2.1 [−3.6, −0.5] −0.7 [−3.6, +2.2] −1.1 [−1.8, −0.3]" in text
    assert "Time to target, real CASIA-B, device cpu, profile cpu-real, 800 iterations" in text
    assert "NM: target 53.8 95 % of GaitSet's final 56.6" in text
    assert (
        "Not reached within the run (left out of the mean and the ratio): NM: GSTSN seed 2 (run 87e41afc3024)" in text
    )
    assert "1.27 [0.90, 1.79] geometric mean of 4 seeds" in text  # per iteration, beside time to target
    assert "Contention not recorded" in text
