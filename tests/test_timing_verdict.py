"""The tidy timing table, time to accuracy from ablation curves, and the verdict built from paired repeats."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gstsn.results.timing_files import TIMING_COLUMNS
from gstsn.timing.results import TimingResultsError, timing_table
from gstsn.timing.tta import NOT_MEASURED_NO_RESULTS, time_to_accuracy
from gstsn.timing.verdict import build_verdict, per_iteration, summary_text


def _bench(variant, model, phase="train_step", data=(0.2, 0.1, 0.3), flops=2_000_000_000, peak=100.0):
    info = {
        "phase": phase,
        "model": model,
        "temporal": model == "gstsn",
        "idr_stat": "median" if model == "gstsn" else None,
        "lstm_layers": 2 if model == "gstsn" else None,
        "input_type": "set",
        "device": "cpu",
        "dtype": "fp32",
        "batch": 32,
        "frames": 16,
        "height": 32,
        "width": 22,
        "flops": flops,
        "peak_gflops_per_s": peak,
        "peak_mem_bytes": 1024,
        "variant": variant,
        "case_id": f"{variant}-cpu-fp32-32x16",
        "profile": "cpu",
        "torch": "2.x",
        "threads": 2,
        "mem_method": "rss",
        "peak_method": "matmul",
    }
    return {"name": f"test_{phase}[{variant}]", "stats": {"data": list(data), "iterations": 1}, "extra_info": info}


def test_timing_table_has_the_schema_columns_first_and_derived_rates():
    frame = timing_table({"benchmarks": [_bench("gaitset", "gaitset"), _bench("gstsn-median-L2", "gstsn")]})
    assert tuple(frame.columns[: len(TIMING_COLUMNS)]) == TIMING_COLUMNS
    row = frame.iloc[0]
    assert row["median_s"] == pytest.approx(0.2) and row["ci_low_s"] <= 0.2 <= row["ci_high_s"]
    assert row["gflops_per_s"] == pytest.approx(10.0) and row["frac_of_peak"] == pytest.approx(0.1)
    assert row["repeats"] == 3 and pd.isna(row["idr_stat"])


def test_timing_table_rejects_a_benchmark_without_row_fields():
    bad = _bench("gaitset", "gaitset")
    del bad["extra_info"]["flops"]
    with pytest.raises(TimingResultsError, match="flops"):
        timing_table({"benchmarks": [bad]})


def _write_run(study, run_id, method, curve, seed=0, device="cpu", legacy=False, **extra):
    row = {"run_id": run_id, "method": method, "seed": seed, "device": device, "profile": "quick", **extra}
    if method == "gstsn":
        row.update({"idr_stat": "median", "lstm_layers": 2, **extra})
    with (study / "runs.jsonl").open("a") as f:
        f.write(json.dumps(row) + "\n")
    run_dir = study / "runs" / run_id
    run_dir.mkdir(parents=True)
    rows = [
        {"iteration": i, "wall_time": t, "distance": "per_part", "condition": "NM", "rank1": r} for i, t, r in curve
    ]
    frame = pd.DataFrame(rows)
    if legacy:
        frame = frame.rename(columns={"condition": "probe_set", "rank1": "rank1_excl"})
        frame.to_csv(run_dir / "eval_log.csv", index=False)
    else:
        frame.to_csv(run_dir / "eval_curve.csv", index=False)


def test_time_to_accuracy_not_measured_without_results(tmp_path):
    assert time_to_accuracy(None)["status"] == NOT_MEASURED_NO_RESULTS
    assert time_to_accuracy(tmp_path / "absent")["status"] == NOT_MEASURED_NO_RESULTS
    assert time_to_accuracy(tmp_path)["status"] == NOT_MEASURED_NO_RESULTS


def test_time_to_accuracy_reads_curves_and_pairs_by_seed(tmp_path):
    study = tmp_path / "gaitset_vs_gstsn"
    study.mkdir()
    # GaitSet ends at 70 % (reached at 300 s); GSTSN seed 0 gets there at 200 s (0.67: holds), seed 1 never does.
    _write_run(study, "g0", "gaitset", [(100, 100, 50.0), (200, 200, 60.0), (300, 300, 70.0)])
    _write_run(study, "s0", "gstsn", [(100, 100, 55.0), (200, 200, 72.0)], legacy=True)
    _write_run(study, "g1", "gaitset", [(100, 100, 50.0), (200, 200, 70.0), (300, 300, 70.0)], seed=1)
    _write_run(study, "s1", "gstsn", [(100, 100, 55.0), (200, 200, 69.0)], seed=1)
    _write_run(study, "s2", "gstsn", [(100, 100, 80.0)], seed=2)  # no GaitSet partner with seed 2
    out = time_to_accuracy(tmp_path, conditions=("NM",))
    assert out["status"] == "measured"
    by_run = {p["gstsn_run"]: p for p in out["pairs"]}
    assert set(by_run) == {"s0", "s1"}
    assert by_run["s0"]["target_rank1"] == 70.0 and by_run["s0"]["t_gaitset_s"] == 300.0
    assert by_run["s0"]["ratio"] == pytest.approx(2 / 3) and by_run["s0"]["status"] == "holds"
    assert by_run["s1"]["t_gaitset_s"] == 200.0 and by_run["s1"]["ratio"] is None
    assert by_run["s1"]["status"].startswith("does not hold")
    summary = out["by_device"]["cpu"]["gstsn-median-L2"]
    assert summary["status"] == "mixed (1 of 2 seeds hold)" and summary["seeds"] == 2


def test_time_to_accuracy_without_curves_says_so(tmp_path):
    study = tmp_path / "s"
    study.mkdir()
    _write_run(study, "g0", "gaitset", [(1, 10, 50.0)])
    _write_run(study, "s0", "gstsn", [(1, 10, 50.0)])
    (study / "runs" / "s0" / "eval_curve.csv").unlink()
    out = time_to_accuracy(tmp_path, conditions=("NM",))
    assert out["pairs"][0]["status"] == "not measured: run s0 (gstsn) has no eval_curve.csv"
    assert out["by_device"]["cpu"]["gstsn-median-L2"]["status"].startswith("not measured")


def test_time_to_accuracy_names_variants_without_curves_once(tmp_path):
    study = tmp_path / "s"
    study.mkdir()
    _write_run(study, "g0", "gaitset", [(100, 100, 50.0), (200, 200, 60.0)])
    _write_run(study, "s0", "gstsn", [(100, 100, 61.0)])  # reaches GaitSet's final 60 % at 100 s of its 200 s
    _write_run(study, "m0", "gstsn", [(1, 10, 50.0)], idr_stat="max")  # a cell that recorded no curve
    (study / "runs" / "m0" / "eval_curve.csv").unlink()
    out = time_to_accuracy(tmp_path, conditions=("NM",))
    assert out["variants_without_curves"] == ["gstsn-max-L2"]
    assert {p["gstsn_run"] for p in out["pairs"]} == {"s0"}
    entry = out["by_device"]["cpu"]["gstsn-median-L2"]
    assert entry["status"] == "holds" and entry["median_ratio"] == pytest.approx(0.5) and entry["reached"] == 1


def _paired(raw, phase, ta, tb, device="cpu", dtype="fp32", skipped=None, same_model=None):
    """A raw paired record: GSTSN against GaitSet in ``dtype`` (no ``kind``: as written before precision pairs), or
    ``same_model`` in bf16 against itself in fp32."""
    a, b = (same_model, same_model) if same_model else ("gaitset", "gstsn-median-L2")
    rec = {"phase": phase, "device": device, "dtype": "bf16" if same_model else dtype, "a": a, "b": b}
    rec.update({"kind": "precision", "a_dtype": "fp32"} if same_model else {})
    rec.update(batch=32, frames=16)
    rec.update({"skipped": skipped} if skipped else {"times_a": ta, "times_b": tb})
    (raw / f"paired_{phase}-{b}-{device}-{rec['dtype']}-vs-{a if not same_model else 'fp32'}.json").write_text(
        json.dumps(rec)
    )


def test_verdict_from_paired_repeats(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    a = list(np.linspace(0.1, 0.2, 8))
    _paired(raw, "train_step", a, [1.3 * t for t in a])
    _paired(raw, "inference", a, [0.5 * t for t in a])
    _paired(raw, "train_step", None, None, device="cuda", skipped="no CUDA device is available")
    timing = pd.DataFrame(
        [{"phase": "data_loading", "device": "cpu", "input_type": "set", "median_s": 0.01}],
    )
    verdict = build_verdict(tmp_path, None, timing, {"benchmarks": []}, {"device": "cpu: test", "profile": "cpu"})
    per_it = verdict["per_iteration"]
    assert per_it["cpu/fp32"]["status"] == "does not hold" and per_it["cpu/fp32"]["ratio"] == pytest.approx(1.3)
    assert per_it["cuda/fp32"]["status"] == "not measured: no CUDA device is available"
    inference = [e for e in verdict["per_phase"] if e["phase"] == "inference"][0]
    assert inference["ratio"] == pytest.approx(0.5)
    loading = [e for e in verdict["per_phase"] if e["phase"] == "data_loading"][0]
    assert loading["status"].startswith("model-independent") and loading["median_s_per_batch"] == {"set": 0.01}
    assert verdict["time_to_accuracy"]["status"] == NOT_MEASURED_NO_RESULTS
    assert verdict["device"] == "cpu: test"
    text = summary_text(verdict)
    assert "1.30 [1.30, 1.30]" in text and "does not hold" in text and NOT_MEASURED_NO_RESULTS in text


def test_verdict_gives_each_models_bf16_over_fp32_ratio_apart_from_the_model_pairs(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    a = list(np.linspace(0.2, 0.3, 8))
    _paired(raw, "train_step", a, [1.2 * t for t in a])
    _paired(raw, "train_step", a, [0.7 * t for t in a], same_model="gaitset")
    _paired(raw, "inference", None, None, skipped="this CPU has no bf16 in hardware", same_model="gstsn-median-L2")
    verdict = build_verdict(tmp_path, None, pd.DataFrame(), {"benchmarks": []}, {"device": "cpu: test"})
    assert [(e["phase"], e["dtype"]) for e in verdict["per_phase"]] == [("train_step", "fp32")]  # models only
    assert verdict["per_iteration"]["cpu/fp32"]["ratio"] == pytest.approx(1.2)  # the precision pair is not reading 1
    inference, step = verdict["precision_ratios"]
    assert (step["variant"], step["status"]) == ("gaitset", "measured")
    assert (step["a_dtype"], step["b_dtype"]) == ("fp32", "bf16")
    assert step["ratio"] == pytest.approx(0.7) and step["fp32_median_s"] == pytest.approx(np.median(a))
    assert inference["status"] == "not measured: this CPU has no bf16 in hardware" and "ratio" not in inference
    text = summary_text(verdict)
    assert "bf16 / fp32 time ratio" in text and "train_step   cpu gaitset: 0.70 [0.70, 0.70]" in text
    assert "cpu: inference/gstsn-median-L2: not measured: this CPU has no bf16 in hardware" in text
    assert "(this CPU has" not in text and "(CPU bf16" not in text  # no bf16 record, no word on it
    verdict["cpu_bf16"] = {"flags": [], "override": "1", "used": True}
    assert "(CPU bf16 forced by GSTSN_CPU_BF16=1 on a CPU with no bf16 in hardware: emulated" in summary_text(verdict)


def test_per_iteration_inconclusive_when_the_interval_straddles_the_threshold():
    entry = {"phase": "train_step", "device": "cpu", "dtype": "fp32", "status": "measured"}
    out = per_iteration([{**entry, "ratio": 0.8, "ci_low": 0.7, "ci_high": 0.95}])
    assert out["cpu/fp32"]["status"] == "inconclusive"
