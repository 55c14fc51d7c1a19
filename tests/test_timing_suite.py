"""The timing suite end to end at tiny size: `bench/run_timing.py --profile tiny` writes every output with the
schema's columns. Checks files and columns, never times (a slow machine must not fail this test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from gstsn.timing.results import TIMING_COLUMNS
from gstsn.timing.trace import TOP_OPS_COLUMNS
from gstsn.timing.tta import NOT_MEASURED_NO_RESULTS
from gstsn.timing.workloads import evaluation_unavailable

REPO = Path(__file__).resolve().parents[1]

pytest.importorskip(
    "pytest_benchmark",
    reason="pytest-benchmark is not installed: the timing suite needs the `bench` extra (pip install -e .[bench])",
)


@pytest.fixture(scope="module")
def suite_out(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("timing")
    (out / "stale.txt").write_text("kept")  # not a suite file: must survive the clean-up
    (out / "raw").mkdir()
    (out / "raw" / "paired_stale.json").write_text("{}")  # a previous run's file: must be removed
    # Under `pytest -n` this process is an xdist worker and its environment says so; the script must not let the
    # suite inherit that (pytest-benchmark would disable itself and write no JSON), so it is passed on unchanged.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(REPO / "bench" / "run_timing.py"), "--profile", "tiny", "--devices", "cpu"]
    cmd += ["--threads", "1", "--out", str(out), "--results", str(out / "no-ablation-results")]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    return out, proc


def test_suite_runs_and_prints_the_verdict(suite_out):
    out, proc = suite_out
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Reading 1, per iteration" in proc.stdout and "Reading 2, time to accuracy" in proc.stdout
    assert (out / "summary.txt").read_text().strip() in proc.stdout
    assert (out / "stale.txt").exists() and not (out / "raw" / "paired_stale.json").exists()


def test_timing_csv_has_the_schema_columns_and_every_phase(suite_out):
    out, _ = suite_out
    t = pd.read_csv(out / "timing.csv")
    assert tuple(t.columns[: len(TIMING_COLUMNS)]) == TIMING_COLUMNS
    phases = {"inference", "train_step", "data_loading"} | (set() if evaluation_unavailable() else {"evaluation"})
    assert set(t["phase"]) == phases
    assert set(t.loc[t["phase"] != "data_loading", "model"]) == {"gaitset", "gstsn"}
    assert set(t.loc[t["phase"] == "data_loading", "input_type"]) == {"set", "sequence"}
    assert (t["median_s"] > 0).all() and (t["ci_low_s"] <= t["median_s"]).all()
    assert (t["median_s"] <= t["ci_high_s"]).all()
    models = t[t["phase"].isin(["inference", "train_step"])]
    assert (models["flops"] > 0).all() and (models["frac_of_peak"] > 0).all()
    train = t[t["phase"] == "train_step"].set_index("model")
    assert train.loc["gstsn", "flops"] > train.loc["gaitset", "flops"]  # the temporal branch adds work
    assert set(t["device"]) == {"cpu"} and set(t["dtype"]) == {"fp32"}


def test_benchmark_json_records_machine_info_and_raw_rounds(suite_out):
    out, _ = suite_out
    bench = json.loads((out / "benchmark.json").read_text())
    assert bench["machine_info"]["torch"] and bench["machine_info"]["torch_threads"] == 1
    assert bench["gstsn_timing"]["profile"] == "tiny"
    assert all(b["stats"]["data"] and b["extra_info"]["case_id"] for b in bench["benchmarks"])


def test_top_ops_and_traces_per_variant(suite_out):
    out, _ = suite_out
    ops = pd.read_csv(out / "top_ops.csv")
    assert tuple(ops.columns[: len(TOP_OPS_COLUMNS)]) == TOP_OPS_COLUMNS
    assert set(ops["model_variant"]) == {"gaitset-cpu-fp32", "gstsn-median-L2-cpu-fp32"}
    assert "lstm" in set(ops.loc[ops["model_variant"].str.startswith("gstsn"), "category"])
    for label in ("gaitset-cpu-fp32", "gstsn-median-L2-cpu-fp32"):
        assert list((out / "traces" / label).glob(f"{label}.*.pt.trace.json.gz"))


def test_verdict_json_states_both_readings(suite_out):
    out, _ = suite_out
    v = json.loads((out / "verdict.json").read_text())
    assert {"per_iteration", "time_to_accuracy", "device", "per_phase", "step_breakdown"} <= set(v)
    assert v["per_iteration"]["cpu/fp32"]["status"] in ("holds", "does not hold", "inconclusive")
    assert v["time_to_accuracy"]["status"] == NOT_MEASURED_NO_RESULTS
    evaluation = [e for e in v["per_phase"] if e["phase"] == "evaluation"]
    reason = evaluation_unavailable()
    assert evaluation[0]["status"] == ("measured" if reason is None else f"not measured: {reason}")
    assert v["step_breakdown"]["gstsn-median-L2-cpu-fp32"]["extra_over_gaitset_ms"]
