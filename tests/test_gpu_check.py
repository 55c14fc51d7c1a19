"""``bench/gpu_check.py --dry-run``: the GPU check at tiny size on the CPU, end to end, so that it cannot rot.

Checks that every output file is written with the keys a GPU session reads, that a second call resumes the first
one's training from the compact checkpoint, and the pieces (budget, compact checkpoint, JUnit summary). Never the
times: the dry run gets a budget of BUDGET_S, which only a hung call reaches, so no phase is cut on a slow machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gstsn.timing.budget import Budget

REPO = Path(__file__).resolve().parents[1]
FILES = {
    "gpu_check.json",
    "summary.txt",
    "log.txt",
    "cuda_tests.xml",
    "train_log.csv",
    "eval_log.csv",
    "resume-state.pt",
    "resume-adam-bf16.pt",
}


#: the dry run's time budget (its watchdog ends it there): generous, a dry run takes about a minute on 2 shared cores
BUDGET_S = 1800


def run_check(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("OUT", None)
    cmd = [sys.executable, str(REPO / "bench" / "gpu_check.py"), "--dry-run", "--budget", str(BUDGET_S), *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def first_call(tmp_path_factory):
    root = tmp_path_factory.mktemp("gpu_check")
    proc = run_check(
        "--out", str(root / "out1"), "--work", str(root / "work"), "--tests", "tests/test_gpu_paths.py",
        "--allowance", f"matrix={BUDGET_S - 200}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return root


def test_dry_run_writes_every_file_with_its_keys(first_call):
    out = first_call / "out1"
    assert {p.name for p in out.iterdir()} == FILES  # at most 8 files, flat
    data = json.loads((out / "gpu_check.json").read_text())
    assert data["dry_run"] is True
    assert {"python", "torch", "cuda_runtime", "cudnn", "device", "device_name"} <= set(data["env"])
    assert data["tests"]["exit_code"] == 0 and data["tests"]["tests"] >= 5
    assert {c["outcome"] for c in data["tests"]["cases"]} == {"skipped"}  # the cuda tests, skipped on the CPU
    m = data["matrix"]
    labels = {c["label"] for c in m["cells"]}
    assert labels == {
        "fp32-cl-eager", "fp32-nchw-eager", "fp32-cl-graph", "fp32-cl-eager+bench", "fp32-cl-graph+bench",
        "fp32-cl-compile", "fp32-nchw-compile",
    }  # fmt: skip
    measured = [c for c in m["cells"] if c["status"] == "measured"]
    assert {(c["model"], c["mode"]) for c in measured} >= {("gaitset", "eager"), ("gstsn", "eager")}
    for c in measured:
        assert c["step_ms"] > 0 and len(c["step_ms_rounds"]) == 2 and c["first_step_s"] > 0
    assert all(c["status"].startswith("skipped: a CUDA graph") for c in m["cells"] if c["mode"] == "graph")
    profiled = [c for c in measured if c["model"] == "gaitset" and c["channels_last"] and c["mode"] == "eager"]
    assert profiled[0]["kernel_ms_per_step"] == 0 and profiled[0]["busy_frac"] == 0  # no device kernels on a CPU
    assert {"cpu/fp32-cl-eager", "cpu/fp32-nchw-eager"} <= set(m["per_iteration_verdict"])
    verdict = m["per_iteration_verdict"]["cpu/fp32-cl-eager"]
    assert verdict["status"] in ("holds", "does not hold", "inconclusive") and verdict["ratio"] > 0
    assert m["ratios"]["base"] == "gaitset-fp32-nchw-eager" and "gstsn-fp32-cl-eager" in m["ratios"]["vs_base"]
    ev = data["eval"]
    assert ev["sequences"] == 4 * 110 and ev["best_s"] > 0 and ev["best_eval_batch_frames"] in (64, 256)
    tr = data["train"]
    assert tr["status"] == "completed" and tr["iteration"] == 6 and not tr["resumed"]
    assert tr["profile"] == "smoke" and tr["config"]["temporal"] is False and tr["mode"] == "eager"
    assert [p["iteration"] for p in tr["curve"]] == [3, 6]
    assert {"NM", "BG", "CL", "train_s"} <= set(tr["curve"][-1])
    assert tr["checkpoint"]["under_16_mib"] and set(tr["checkpoint"]["compact_files"]) == {
        "resume-state.pt",
        "resume-adam-bf16.pt",
    }
    assert len(tr["vs_reference"]["at_reference_times"]) == 4
    assert set(data["goals"]) == {"gaitset_bf16_step_le_11ms", "gpu_busy_gt_80pct", "lt_eval_le_0_3s",
                                  "nm_91_4_within_125s"}  # fmt: skip
    assert [p["name"] for p in data["budget"]["phases"]] == ["env", "tests", "matrix", "eval", "train"]
    assert all(p["status"] == "done" for p in data["budget"]["phases"]), data["budget"]["phases"]
    summary = (out / "summary.txt").read_text()
    assert "fp32-cl-eager" in summary and "rank-1 NM/BG/CL" in summary and "LT evaluation" in summary


def test_a_second_call_resumes_the_training(first_call):
    out1, out2 = first_call / "out1", first_call / "out2"
    # a fresh machine: the second call finds only the first call's returned files
    proc = run_check(
        "--out", str(out2), "--work", str(first_call / "work2"), "--phases", "train", "--resume-from", str(out1),
        "--data", str(first_call / "work" / "tiny.npz"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    data = json.loads((out2 / "gpu_check.json").read_text())
    tr = data["train"]
    assert tr["resumed"] and tr["status"] == "completed" and tr["iteration"] == 6  # already at the dry run's end
    assert tr["mode_reason"].endswith("(the matrix of the call this one resumes)")
    first = json.loads((out1 / "gpu_check.json").read_text())["train"]
    assert [p["iteration"] for p in tr["curve"]] == [p["iteration"] for p in first["curve"]]
    assert [p["name"] for p in data["budget"]["phases"]] == ["train"]
    # the same (warm) machine: --resume continues the run folder left in --work
    proc = run_check("--out", str(first_call / "out3"), "--work", str(first_call / "work"), "--phases", "train",
                     "--resume")  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert json.loads((first_call / "out3" / "gpu_check.json").read_text())["train"]["resumed"] is True


def test_budget_phases_share_the_total():
    now = [0.0]
    b = Budget(100, reserve_s=10, clock=lambda: now[0])
    with b.phase("a", 30) as ph:
        assert ph.left() == 30 and ph.fits(30) and not ph.fits(31)
        now[0] = 25
        ph.cut("the rest", 10)
    with b.phase("b") as ph:  # everything available: 100 - 25 - 10
        assert ph.left() == 65
        now[0] = 40
        raise ValueError("boom")
    phases = b.as_dict()["phases"]
    assert phases[0]["status"].startswith("cut") and phases[0]["used_s"] == 25
    assert phases[1]["status"] == "error: ValueError: boom" and phases[1]["used_s"] == 15
    assert b.remaining() == 60 and b.available() == 50
    with pytest.raises(ValueError, match="budget total"):
        Budget(10, reserve_s=10)


def test_compact_checkpoint_round_trip(tmp_path):
    from gstsn.train.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint
    from gstsn.train.compact import read_compact, restore_compact, write_compact

    model = torch.nn.Linear(8, 4)
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(3, 8)).sum().backward()
    opt.step()
    payload = {
        "format": CHECKPOINT_FORMAT, "iteration": 5, "config": {}, "model": model.state_dict(),
        "optimizer": opt.state_dict(), "sampler": {"a": 1}, "np_rng": {}, "torch_rng": torch.get_rng_state(),
    }  # fmt: skip
    ckpt = save_checkpoint(payload, tmp_path / "ckpts")
    sizes = write_compact(ckpt, tmp_path / "compact")
    assert set(sizes) == {"resume-state.pt", "resume-adam-bf16.pt"}
    back = load_checkpoint(restore_compact(tmp_path / "compact", tmp_path / "restored"))
    for k, v in payload["model"].items():
        assert torch.equal(back["model"][k], v)  # weights exact
    for pid, st in payload["optimizer"]["state"].items():
        got = back["optimizer"]["state"][pid]
        assert got["exp_avg"].dtype == torch.float32
        torch.testing.assert_close(got["exp_avg"], st["exp_avg"], rtol=2**-8, atol=0)
        torch.testing.assert_close(got["exp_avg_sq"], st["exp_avg_sq"], rtol=2**-8, atol=0)
    (tmp_path / "compact" / "resume-adam-bf16.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match="cannot be read"):
        read_compact(tmp_path / "compact")


def test_report_json_and_the_curve_from_the_trainers_log(tmp_path):
    """The report writes NumPy numbers as numbers (anything else as its text); the curve is read from the trainer's
    ``eval_log.csv`` by the results layer's reader, one point per evaluation."""
    import numpy as np

    from gstsn.gpu_check.curve import eval_curve
    from gstsn.gpu_check.report import REPORT_FILE, Report

    rep = Report(tmp_path)
    rep.data.update(n=np.int64(3), x=np.float32(0.5), where=tmp_path)
    rep.save()
    data = json.loads((tmp_path / REPORT_FILE).read_text())
    assert (data["n"], data["x"], data["where"]) == (3, 0.5, str(tmp_path))
    assert eval_curve(tmp_path) == []  # no evaluation yet
    rows = ["iteration,wall_time,probe_set,rank1_excl,rank1_incl,distance"]
    rows += [f"{it},{t},{c},{r},0,per_part" for it, t in ((3, 1.5), (6, 2.25)) for c, r in (("NM", 10.5), ("CL", 4.0))]
    (tmp_path / "eval_log.csv").write_text("\n".join(rows) + "\n")
    assert eval_curve(tmp_path) == [
        {"iteration": 3, "train_s": 1.5, "NM": 10.5, "CL": 4.0},
        {"iteration": 6, "train_s": 2.25, "NM": 10.5, "CL": 4.0},
    ]
