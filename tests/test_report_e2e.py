"""The main job's real path end to end, in the default suite at smoke size: the real ablation runner (`gstsn ablations
run`, smoke profile, tiny synthetic data, a few iterations, evaluating every few iterations as the headline study
does; one job here, the `--jobs 2` runner is in test_ablate_kill.py), then the real timing suite reading those results
(`bench/run_timing.py --profile tiny`, as `nox -s timing` does), then `gstsn report` on the store they wrote: every
file the report reads comes from the real producers, not from a fabricated store.

The producers run once for the module (about 40 s of CPU time). The tests check files, columns, which phases and
cases were measured, and what the pages show; never the times (a slow machine must not fail them).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from gstsn.cli import main
from gstsn.machine import cpu_has_bf16
from gstsn.results.timing_files import TIMING_COLUMNS, TOP_OPS_COLUMNS

REPO = Path(__file__).resolve().parents[1]
DATA = "synth:subjects=6,frames_min=8,frames_max=12"
STUDY = """
description = "end-to-end report test: GaitSet vs GSTSN on tiny synthetic data"
seeds = [0, 1]
[base]
lstm_layers = 1
eval_every = 4
[axes]
temporal = [false, true]
[baseline]
temporal = false
"""
ITERATIONS = 12
# What the tiny timing profile measures on the CPU, written out here (not taken from gstsn.timing): every phase, both
# models in each model phase, the extra inference shape for the headline pair, both input types for data loading.
EXPECTED_CASES = {
    ("inference", "gaitset-cpu-fp32-8x4"),
    ("inference", "gstsn-median-L2-cpu-fp32-8x4"),
    ("inference", "gaitset-cpu-fp32-4x8"),
    ("inference", "gstsn-median-L2-cpu-fp32-4x8"),
    ("train_step", "gaitset-cpu-fp32-8x4"),
    ("train_step", "gstsn-median-L2-cpu-fp32-8x4"),
    ("evaluation", "gaitset-cpu-fp32-220x7"),
    ("evaluation", "gstsn-median-L2-cpu-fp32-220x7"),
    ("data_loading", "data-set-cpu-fp32-8x4"),
    ("data_loading", "data-sequence-cpu-fp32-8x4"),
}


@dataclass
class Produced:
    root: Path
    results: Path
    ablation: subprocess.CompletedProcess
    timing: subprocess.CompletedProcess

    @property
    def timing_out(self) -> Path:
        return self.results / "timing"


def _tail(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.fixture(scope="module")
def produced(tmp_path_factory) -> Produced:
    # a declared test dependency (the `test` extra): without it the timing suite cannot run, and that is a failure
    assert importlib.util.find_spec("pytest_benchmark") is not None, (
        "pytest-benchmark is not installed; it is part of the `test` extra (pip install -e '.[test]')"
    )
    root = tmp_path_factory.mktemp("e2e")
    (root / "ablations").mkdir()
    (root / "ablations" / "tiny.toml").write_text(STUDY)
    results = root / "results"
    # Under `pytest -n` this process is an xdist worker and its environment says so; run_timing.py must not let the
    # suite inherit that (pytest-benchmark would disable itself and write no JSON), so it is passed on unchanged.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ablate = [
        sys.executable, "-m", "gstsn", "ablations", "run",
        "--studies-dir", str(root / "ablations"), "--results", str(results), "--work", str(root / "work"),
        "--cache-root", str(root / "cache"), "--profile", "smoke", "--data", DATA,
        "--set", f"iterations={ITERATIONS}", "--jobs", "1", "--threads", "1", "--device", "cpu", "--no-progress",
    ]  # fmt: skip
    ablation = subprocess.run(ablate, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    out = results / "timing"
    out.mkdir(parents=True)
    (out / "stale.txt").write_text("kept")  # not a suite file: must survive the clean-up
    (out / "raw").mkdir()
    (out / "raw" / "paired_stale.json").write_text("{}")  # a previous run's file: must be removed
    timing = [
        sys.executable, str(REPO / "bench" / "run_timing.py"), "--profile", "tiny", "--devices", "cpu",
        "--threads", "1", "--out", str(out), "--results", str(results),
    ]  # fmt: skip
    timing_proc = subprocess.run(timing, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    return Produced(root, results, ablation, timing_proc)


@pytest.fixture(scope="module")
def study_rows(produced) -> list[dict]:
    assert produced.ablation.returncode == 0, _tail(produced.ablation)
    return [json.loads(line) for line in (produced.results / "tiny" / "runs.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def timing_ok(produced) -> Path:
    assert produced.timing.returncode == 0, _tail(produced.timing)
    return produced.timing_out


# ---------------------------------------------------------------------------------------------------------- ablation


def test_the_runner_stores_every_row_with_its_curves(produced, study_rows):
    assert "4 runs trained" in produced.ablation.stdout and "0 failed" in produced.ablation.stdout
    assert len(study_rows) == 4 and {r["synthetic"] for r in study_rows} == {True}
    assert {(r["cell"], r["seed"]) for r in study_rows} == {
        (c, s) for c in ("temporal=false", "temporal=true") for s in (0, 1)
    }
    for row in study_rows:
        run_dir = produced.results / "tiny" / "runs" / row["run_id"]
        curve = pd.read_csv(run_dir / "eval_curve.csv")
        assert sorted(set(curve["iteration"])) == [4, 8, 12], row["run_id"]  # eval_every = 4 over 12 iterations
        assert len(pd.read_csv(run_dir / "train_log.csv")) > 0


# ------------------------------------------------------------------------------------------------------ timing suite


def test_suite_runs_every_case_and_prints_the_verdict(produced, timing_ok):
    out, stdout = timing_ok, produced.timing.stdout
    assert "Reading 1, per iteration" in stdout and "Reading 2, time to accuracy" in stdout
    assert (out / "summary.txt").read_text().strip() in stdout
    assert (out / "stale.txt").exists() and not (out / "raw" / "paired_stale.json").exists()
    # nothing skipped but the CPU bf16 cases on a CPU without bf16 (with that reason): a phase that cannot run would be
    # skipped with its reason, and must not vanish unnoticed here
    summary = [line for line in stdout.splitlines() if re.match(r"=+ \d+ passed", line)]
    skipped = [line for line in stdout.splitlines() if line.startswith("SKIPPED")]
    assert summary, stdout[-2000:]
    if cpu_has_bf16():
        assert "skipped" not in summary[-1] and not skipped, summary
    else:
        assert skipped and all("no bf16 in hardware" in line for line in skipped), skipped


def test_timing_csv_has_the_schema_columns_and_every_case(timing_ok):
    t = pd.read_csv(timing_ok / "timing.csv")
    assert tuple(t.columns[: len(TIMING_COLUMNS)]) == TIMING_COLUMNS
    assert set(zip(t["phase"], t["case_id"], strict=True)) == EXPECTED_CASES and len(t) == len(EXPECTED_CASES)
    assert set(t.loc[t["phase"] != "data_loading", "model"]) == {"gaitset", "gstsn"}
    assert set(t.loc[t["phase"] == "data_loading", "input_type"]) == {"set", "sequence"}
    assert (t["median_s"] > 0).all() and (t["ci_low_s"] <= t["median_s"]).all()
    assert (t["median_s"] <= t["ci_high_s"]).all()
    models = t[t["phase"].isin(["inference", "train_step", "evaluation"])]
    assert (models["flops"] > 0).all() and (models["frac_of_peak"] > 0).all()
    train = t[t["phase"] == "train_step"].set_index("model")
    assert train.loc["gstsn", "flops"] > train.loc["gaitset", "flops"]  # the temporal branch adds work
    assert set(t["device"]) == {"cpu"} and set(t["dtype"]) == {"fp32"}


def test_benchmark_json_records_machine_info_and_raw_rounds(timing_ok):
    bench = json.loads((timing_ok / "benchmark.json").read_text())
    assert bench["machine_info"]["torch"] and bench["machine_info"]["torch_threads"] == 1
    assert bench["gstsn_timing"]["profile"] == "tiny"
    assert all(b["stats"]["data"] and b["extra_info"]["case_id"] for b in bench["benchmarks"])
    phases = {b["extra_info"]["phase"] for b in bench["benchmarks"]}
    assert phases == {"inference", "train_step", "evaluation", "data_loading"}


def test_top_ops_and_traces_per_variant(timing_ok):
    ops = pd.read_csv(timing_ok / "top_ops.csv")
    assert tuple(ops.columns[: len(TOP_OPS_COLUMNS)]) == TOP_OPS_COLUMNS
    assert set(ops["model_variant"]) == {"gaitset-cpu-fp32", "gstsn-median-L2-cpu-fp32"}
    assert "lstm" in set(ops.loc[ops["model_variant"].str.startswith("gstsn"), "category"])
    for label in ("gaitset-cpu-fp32", "gstsn-median-L2-cpu-fp32"):
        assert list((timing_ok / "traces" / label).glob(f"{label}.*.pt.trace.json.gz"))


def test_verdict_json_states_both_readings(timing_ok, study_rows):
    v = json.loads((timing_ok / "verdict.json").read_text())
    assert {"per_iteration", "time_to_accuracy", "device", "per_phase", "step_breakdown"} <= set(v)
    assert v["per_iteration"]["cpu/fp32"]["status"] in ("holds", "does not hold", "inconclusive")
    status = {e["phase"]: e["status"] for e in v["per_phase"]}
    assert {status[p] for p in ("inference", "train_step", "evaluation")} == {"measured"}, status
    assert v["step_breakdown"]["gstsn-median-L2-cpu-fp32"]["extra_over_gaitset_ms"]
    # time to accuracy, read from the runner's evaluation curves: one GaitSet/GSTSN pair per seed and condition
    tta = v["time_to_accuracy"]
    assert tta["status"] == "measured" and tta["results_dir"] == str(timing_ok.parent)
    by_seed = {r["seed"]: r["run_id"] for r in study_rows if r["method"] == "gstsn"}
    assert {(p["seed"], p["gstsn_run"], p["condition"]) for p in tta["pairs"]} == {
        (s, rid, c) for s, rid in by_seed.items() for c in ("NM", "BG", "CL")
    }
    assert not [p for p in tta["pairs"] if p["status"].startswith("not measured")], tta["pairs"]


# ------------------------------------------------------------------------------------------------------------ report


def test_report_renders_the_real_outputs(produced, study_rows, timing_ok, capsys):
    reports = produced.root / "reports"
    code = main(["report", str(produced.results), "--out", str(reports)])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert sorted(p.name for p in reports.glob("*.html")) == [
        "index.html",
        "retrieval-tiny.html",
        "study-tiny.html",
        "timing.html",
    ]
    who = (reports / "retrieval-tiny.html").read_text(encoding="utf-8")
    assert "Failure cases" in who and "data:image/png;base64," in who and "false matches attracted" in who
    html = (reports / "study-tiny.html").read_text(encoding="utf-8")
    assert "SYNTHETIC DATA" in html and "published, not run here" not in html
    assert "Rank-1 % per probe view, per-part distance" in html and "GSTSN − GaitSet per probe view" in html
    assert "tables.csv is missing" not in html and "train_log.csv is missing" not in html
    assert len(re.findall(r"<svg\b", html)) >= 1 + 1 + 2 + 1  # points, delta, a heatmap per cell, training curves
    for row in study_rows:  # provenance of the real rows on the page
        assert row["run_id"] in html and row["data_fingerprint"] in html
    assert "temporal=true vs temporal=false" in html
    timing_html = (reports / "timing.html").read_text(encoding="utf-8")
    assert "Per iteration (cpu/fp32): GSTSN&#39;s training step takes" in timing_html
    captions = ["GSTSN (paper setting) ÷ GaitSet time per phase", "Where the training step goes", "Phase: train_step"]
    for caption in [*captions, "Phase: evaluation", "Top operators: gstsn-median-L2-cpu-fp32"]:
        assert caption in timing_html, caption
    assert re.search(
        r'<a href="\.\./results/timing/traces/gstsn-median-L2-cpu-fp32/[^"]+\.pt\.trace\.json\.gz">', timing_html
    )
    assert "note(s) on missing or incomplete inputs" not in out.out, out.out  # every input the pages read is there
