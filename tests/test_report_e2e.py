"""End to end: the real ablation runner (smoke profile, tiny synthetic data, a few iterations) and the real timing
suite (tiny profile, CPU) write a results store, and ``gstsn report`` renders it: every file the report reads comes
from the real producers, not from the fake store.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gstsn.report.render import render_report

DATA = "synth:subjects=6,frames_min=8,frames_max=12"
STUDY = """
description = "end-to-end report test: GaitSet vs GSTSN on tiny synthetic data"
seeds = [0, 1]
[base]
lstm_layers = 1
[axes]
temporal = [false, true]
[baseline]
temporal = false
"""


@pytest.mark.slow
def test_report_renders_a_real_smoke_run(tmp_path):
    (tmp_path / "ablations").mkdir()
    (tmp_path / "ablations" / "tiny.toml").write_text(STUDY)
    results = tmp_path / "results"
    cmd = [
        sys.executable, "-m", "gstsn.ablate", "run",
        "--studies-dir", str(tmp_path / "ablations"), "--results", str(results), "--work", str(tmp_path / "work"),
        "--cache-root", str(tmp_path / "cache"), "--profile", "smoke", "--data", DATA,
        "--set", "iterations=12", "--jobs", "1", "--threads", "1", "--device", "cpu", "--no-progress",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [json.loads(line) for line in (results / "tiny" / "runs.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and {r["synthetic"] for r in rows} == {True}

    timing = [
        sys.executable, str(Path(__file__).resolve().parents[1] / "bench" / "run_timing.py"), "--profile", "tiny",
        "--out", str(results / "timing"), "--results", str(results), "--devices", "cpu", "--threads", "1",
    ]  # fmt: skip
    proc = subprocess.run(timing, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    result = render_report(results, tmp_path / "reports")
    names = [p.name for p in result.pages]
    assert names == ["index.html", "study-tiny.html", "retrieval-tiny.html", "timing.html"]
    who = (tmp_path / "reports" / "retrieval-tiny.html").read_text(encoding="utf-8")
    assert "Failure cases" in who and "data:image/png;base64," in who and "false matches attracted" in who
    html = (tmp_path / "reports" / "study-tiny.html").read_text(encoding="utf-8")
    assert "SYNTHETIC DATA" in html and "published, not run here" not in html
    assert "Rank-1 % per probe view, per-part distance" in html and "GSTSN − GaitSet per probe view" in html
    assert "tables.csv is missing" not in html and "train_log.csv is missing" not in html
    assert len(re.findall(r"<svg\b", html)) >= 1 + 1 + 2 + 1  # points, delta, a heatmap per cell, training curves
    for row in rows:  # provenance of the real rows on the page
        assert row["run_id"] in html and row["data_fingerprint"] in html
    assert "temporal=true vs temporal=false" in html
    timing_html = (tmp_path / "reports" / "timing.html").read_text(encoding="utf-8")
    assert "Per iteration (cpu/fp32): GSTSN&#39;s training step takes" in timing_html
    captions = ["GSTSN (paper setting) ÷ GaitSet time per phase", "Where the training step goes", "Phase: train_step"]
    for caption in [*captions, "Top operators: gstsn-median-L2-cpu-fp32"]:
        assert caption in timing_html, caption
    assert re.search(
        r'<a href="\.\./results/timing/traces/gstsn-median-L2-cpu-fp32/[^"]+\.pt\.trace\.json\.gz">', timing_html
    )
    assert not any(p.startswith("timing:") for p in result.problems), result.problems
