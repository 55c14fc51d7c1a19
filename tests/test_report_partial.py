"""Empty or partial results render pages that say what is missing, never a traceback."""

from __future__ import annotations

import json
import shutil

import pytest
from helpers.results_store import write_study, write_timing

from gstsn.report.load import ResultsDirError, load_results
from gstsn.report.render import render_report


def _read(out, name):
    return (out / name).read_text(encoding="utf-8")


def test_empty_results_dir(tmp_path):
    (tmp_path / "results").mkdir()
    result = render_report(tmp_path / "results", tmp_path / "out")
    assert [p.name for p in result.pages] == ["index.html", "timing.html"]
    index = _read(tmp_path / "out", "index.html")
    assert "What is missing or incomplete" in index and "no study folder under" in index
    assert "no timing/ folder" in index and "No study results yet." in index
    assert "no timing/ folder in the results" in _read(tmp_path / "out", "timing.html")


def test_missing_results_dir_raises_a_clear_error(tmp_path):
    with pytest.raises(ResultsDirError, match="does not exist"):
        render_report(tmp_path / "nope", tmp_path / "out")


def test_study_with_only_a_definition(tmp_path):
    results = tmp_path / "results"
    study = write_study(results, "lstm_layers", {"lstm_layers": [2, 0]}, {"lstm_layers": 2}, [0, 1], {},
                        synthetic=True)  # fmt: skip
    (study / "runs.jsonl").unlink()
    (study / "tables.csv").unlink()
    render_report(results, tmp_path / "out")
    html = _read(tmp_path / "out", "study-lstm_layers.html")
    assert "runs.jsonl is missing" in html and "tables.csv is missing" in html
    assert "4 expected run(s)" in html and "lstm_layers=0, seed 1" in html
    assert "No finished run yet" in html
    assert "run folder(s) have no row in runs.jsonl" not in html  # nothing to compare against without runs.jsonl


def test_partial_study_corrupt_line_missing_logs_unfinished_run(tmp_path):
    results = tmp_path / "results"
    study = write_study(results, "idr_statistic", {"idr_stat": ["median", "max"]}, {"idr_stat": "median"}, [0, 1, 2],
                        {("max",): -5.0}, synthetic=True, with_tables=False, with_eval=False)  # fmt: skip
    lines = (study / "runs.jsonl").read_text().splitlines()
    last = json.loads(lines[-1])
    lines[-1] = lines[-1][: len(lines[-1]) // 2]  # a torn append
    (study / "runs.jsonl").write_text("\n".join(lines) + "\n")
    first = json.loads(lines[0])
    shutil.rmtree(study / "runs" / first["run_id"])  # its logs are gone
    result = render_report(results, tmp_path / "out")
    html = _read(tmp_path / "out", "study-idr_statistic.html")
    assert "runs.jsonl line 6 is not valid JSON" in html
    assert "train_log.csv is missing for 1 of 5 run(s)" in html
    assert (
        f"1 run folder(s) have no row in runs.jsonl yet (unfinished or interrupted runs, not shown): {last['run_id']}"
        in html
    )
    assert "1 expected run(s)" in html and "idr_stat=max, seed 2" in html
    assert any("runs.jsonl line 6" in p for p in result.problems)
    assert "Rank-1 summary" in html  # the finished runs are still reported


def test_one_seed_study_shows_values_but_no_differences(tmp_path):
    results = tmp_path / "results"
    write_study(results, "gaitset_vs_gstsn", {"temporal": [False, True]}, {"temporal": False}, [0], {(True,): 3.0},
                synthetic=False, with_tables=False, with_logs=False)  # fmt: skip
    render_report(results, tmp_path / "out")
    html = _read(tmp_path / "out", "study-gaitset_vs_gstsn.html")
    assert "n/a (1 paired seed)" in html and "no intervals, so no verdict" in html
    assert "Not shown: Fewer than 2 paired seeds" in html  # no delta heatmap without intervals
    assert "published, not run here" in html  # real data, even with one seed


def test_timing_with_only_timing_csv_and_an_unknown_verdict_shape(tmp_path):
    results = tmp_path / "results"
    tdir = write_timing(results)
    for name in ("top_ops.csv", "benchmark.json"):
        (tdir / name).unlink()
    shutil.rmtree(tdir / "traces")
    (tdir / "verdict.json").write_text(json.dumps({"result": {"verdict": "GSTSN is slower per step"}, "n": 3}))
    render_report(results, tmp_path / "out")
    html = _read(tmp_path / "out", "timing.html")
    assert "top_ops.csv is missing" in html and "traces/ holds no profiler trace" in html
    assert "result: GSTSN is slower per step" in html
    assert "GSTSN ÷ GaitSet time, per phase (from timing.csv)" in html  # the fallback ratio table
    assert "not recorded (benchmark.json commit_info absent)" in html


def test_malformed_files_become_sentences(tmp_path):
    results = tmp_path / "results"
    study = write_study(results, "input_type", {"input_type": ["set", "sequence"]}, {"input_type": "set"}, [0, 1], {},
                        synthetic=True, with_logs=False, with_eval=False)  # fmt: skip
    (study / "study.json").write_text("[1, 2]")
    (study / "tables.csv").write_text("run_id,distance\nx,flat\n")
    (results / "notes").mkdir()
    (results / "bad name!").mkdir()
    (results / "bad name!" / "runs.jsonl").write_text("")
    store = load_results(results)
    assert [s.name for s in store.studies] == ["input_type"]
    assert any("folder notes/ has neither study.json nor runs.jsonl" in p for p in store.problems)
    assert any("'bad name!' is not a plain name" in p for p in store.problems)
    render_report(results, tmp_path / "out")
    html = _read(tmp_path / "out", "study-input_type.html")
    assert "study.json holds a list, expected a JSON object" in html
    assert (
        "lacks column(s) [&#39;condition&#39;, &#39;probe_view&#39;, &#39;gallery_view&#39;, &#39;value&#39;]" in html
    )
