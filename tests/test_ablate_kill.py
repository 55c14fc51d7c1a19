"""Faults injected into the real runner (trainer + evaluator, smoke profile, tiny synthetic data), in the default
suite: SIGKILL mid-study and at random moments, SIGTERM to the ``--jobs 2`` runner, two runners on one results folder.
After each, the store equals an uninterrupted one-process run's: no row lost, none duplicated, the same numbers, the
killed run resumed from its checkpoint."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from study_files import layers_study, models_study

from gstsn.data import open_dataset

DATA = "synth:subjects=6,frames_min=8,frames_max=12"
# two studies sharing their GSTSN-2-layers cell; the GEI reference row in one of them
STUDY_LAYERS = layers_study("kill test: layers")
STUDY_MODELS = models_study("kill test: models")
ITERATIONS = 20
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
VOLATILE = {"train_time_s", "eval_time_s", "date", "sec_per_iter", "resumed_from", "commit", "dirty", "threads"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill")
    (root / "ablations").mkdir()
    (root / "ablations" / "layers.toml").write_text(STUDY_LAYERS)
    (root / "ablations" / "models.toml").write_text(STUDY_MODELS)
    open_dataset(DATA, root / "cache")  # generated once, before the runners start
    return root


@pytest.fixture(scope="module")
def clean(setup):
    """An uninterrupted run of both studies (one process, one thread): the numbers to reproduce."""
    subprocess.run(command(setup, "clean"), check=True, capture_output=True, env=ENV, timeout=300)
    return setup


def command(root: Path, name: str, jobs: int = 1) -> list[str]:
    return [
        sys.executable, "-m", "gstsn.ablate", "run",
        "--studies-dir", str(root / "ablations"),
        "--results", str(root / name / "results"),
        "--work", str(root / name / "work"),
        "--cache-root", str(root / "cache"),
        "--profile", "smoke", "--data", DATA,
        "--set", f"iterations={ITERATIONS}", "--set", "checkpoint_every=4",
        "--jobs", str(jobs), "--threads", "1", "--device", "cpu", "--no-progress",
    ]  # fmt: skip


def rows(root: Path, name: str, study: str) -> list[dict]:
    path = root / name / "results" / study / "runs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def stable(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in VOLATILE}


def losses(path: Path) -> list[tuple[str, ...]]:
    with path.open(newline="") as fh:
        return [(r["iteration"], r["loss"], r["dist_ap"], r["dist_an"], r["nonzero_frac"]) for r in csv.DictReader(fh)]


def assert_same_rows(root: Path, name: str) -> None:
    """Every study of run folder ``name`` has exactly the clean run's rows (once each) with the same numbers."""
    for study, n in (("layers", 2), ("models", 3)):
        clean, other = rows(root, "clean", study), rows(root, name, study)
        ids = [r["run_id"] for r in other]
        assert len(ids) == n and len(set(ids)) == n, f"{study}: rows lost or duplicated: {ids}"
        assert sorted(ids) == sorted(r["run_id"] for r in clean)
        by_id = {r["run_id"]: r for r in clean}
        for r in other:
            assert stable(r) == stable(by_id[r["run_id"]]), f"{study} run {r['run_id']} differs from the clean run"
        for folder in ("clean", name):
            tables = (root / folder / "results" / study / "tables.csv").read_text().splitlines()
            assert len(tables) == 1 + n * 2 * 3 * 121 and len(set(tables)) == len(tables)


def test_sigkill_mid_study_then_restart_matches_an_uninterrupted_run(clean):
    root = clean
    env = ENV

    proc = subprocess.Popen(
        command(root, "killed"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True
    )
    work = root / "killed" / "work"
    deadline = time.monotonic() + 240
    killed_in = None
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            done = rows(root, "killed", "layers") + rows(root, "killed", "models")
            if done and work.is_dir():
                for run_dir in work.iterdir():
                    its = [int(c.name[5:12]) for c in (run_dir / "checkpoints").glob("ckpt-*.pt")]
                    if its and max(its) < ITERATIONS:  # mid-training: a checkpoint, not the final one
                        killed_in = run_dir.name
                        break
            if killed_in:
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.02)
    finally:
        if proc.poll() is None and not killed_in:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert killed_in, f"the runner finished or stalled before a run was half-way: {proc.stderr.read()[-2000:]}"
    assert proc.returncode == -signal.SIGKILL
    partial = {s: len(rows(root, "killed", s)) for s in ("layers", "models")}
    assert 0 < sum(partial.values()) < 5

    subprocess.run(command(root, "killed"), check=True, capture_output=True, env=env, timeout=300)

    assert_same_rows(root, "killed")
    shared = {r["run_id"] for r in rows(root, "killed", "layers")} & {
        r["run_id"] for r in rows(root, "killed", "models")
    }
    assert len(shared) == 1
    resumed_row = next(r for s in ("layers", "models") for r in rows(root, "killed", s) if r["run_id"] == killed_in)
    assert resumed_row["resumed_from"] is not None and resumed_row["resumed_from"] >= 4
    for name in ("clean", "killed"):
        assert any(
            (root / name / "results" / s / "runs" / killed_in / "train_log.csv").is_file() for s in ("layers", "models")
        )
    clean_log = root / "clean" / "work" / killed_in / "train_log.csv"
    assert losses(work / killed_in / "train_log.csv") == losses(clean_log)


def wait_for_mid_training_checkpoint(root: Path, name: str, proc: subprocess.Popen) -> str | None:
    """The id of a run with a checkpoint before its last iteration, once one exists (None if the runner ended)."""
    work = root / name / "work"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if work.is_dir():
            for run_dir in work.iterdir():
                its = [int(c.name[5:12]) for c in (run_dir / "checkpoints").glob("ckpt-*.pt")]
                if its and max(its) < ITERATIONS:
                    return run_dir.name
        time.sleep(0.02)
    return None


def test_sigterm_to_the_parallel_runner_checkpoints_then_a_rerun_completes_the_same_rows(clean):
    """``--jobs 2`` (the main job's CPU default): SIGTERM to the runner's pid alone is forwarded to its workers, the
    runs in progress checkpoint, the runner exits 143 with the store consistent; the re-run (again ``--jobs 2``)
    completes it with exactly the one-process run's rows, so the parallel path gives the same numbers."""
    root = clean
    proc = subprocess.Popen(
        command(root, "term", jobs=2), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV
    )
    try:
        run_id = wait_for_mid_training_checkpoint(root, "term", proc)
        assert run_id, f"no run was half-way: {proc.communicate()[1][-2000:]}"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err[-2000:]
    assert "stopping on SIGTERM" in err and "stopped by SIGTERM" in err and "Traceback" not in err
    for study in ("layers", "models"):  # whatever is stored is complete and correct
        by_id = {r["run_id"]: r for r in rows(root, "clean", study)}
        for r in rows(root, "term", study):
            assert stable(r) == stable(by_id[r["run_id"]])
    subprocess.run(command(root, "term", jobs=2), check=True, capture_output=True, env=ENV, timeout=300)
    assert_same_rows(root, "term")


def test_sigkill_at_random_points_loses_and_duplicates_nothing(clean):
    """SIGKILL the runner (and its process group) at K random moments, restarting it each time, then let it finish:
    the store equals the uninterrupted run's."""
    import random

    root, rng = clean, random.Random(13)
    kills = 0
    for _ in range(3):
        proc = subprocess.Popen(
            command(root, "random"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV,
            start_new_session=True,
        )  # fmt: skip
        time.sleep(rng.uniform(2.0, 10.0))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
    assert kills >= 2, "the runner finished before it could be killed"
    subprocess.run(command(root, "random"), check=True, capture_output=True, env=ENV, timeout=300)
    assert_same_rows(root, "random")


def test_two_runners_on_one_results_folder_do_no_work_twice(clean):
    """Two ``gstsn ablations run`` started together on one results and work folder: both succeed, the store equals
    the one-process run's, and every run was trained by one process, once, without a resume (its log has each
    iteration once, in order, and the clean run's losses)."""
    root = clean
    procs = [
        subprocess.Popen(command(root, "twice"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-1500:] for _, e in outs]
    assert_same_rows(root, "twice")
    for study in ("layers", "models"):
        assert all(r.get("resumed_from") is None for r in rows(root, "twice", study))
    for run_dir in (root / "twice" / "work").iterdir():
        log = run_dir / "train_log.csv"
        if log.is_file():
            assert [int(r[0]) for r in losses(log)] == list(range(1, ITERATIONS + 1))
            assert losses(log) == losses(root / "clean" / "work" / run_dir.name / "train_log.csv")


def test_each_run_stores_retrieval_tables_and_who_matched(clean):
    """Every finished run carries rank-5 / mAP / mINP / cross-view keys (both distances) and, beside its row, its
    retrieval.csv and matches.npz (GEI runs too), loadable without pickle."""
    import numpy as np
    import pandas as pd

    for study in ("layers", "models"):
        for row in rows(clean, "clean", study):
            for metric in ("rank5", "map", "minp", "cv_rank1", "cv_map"):
                for distance in ("per_part", "flat"):
                    assert f"{metric}.{distance}.CL" in row, (study, metric, distance)
            assert row["rank5.per_part.NM"] >= row["rank1.per_part.NM"] - 1e-9
            folder = clean / "clean" / "results" / study / "runs" / row["run_id"]
            table = pd.read_csv(folder / "retrieval.csv", dtype={"probe_view": str, "gallery_view": str})
            assert set(table.protocol) == {"standard", "cross_view"} and set(table.distance) == {"per_part", "flat"}
            assert len(table) == 2 * (3 * 3 * 121 + 2 * 3 * 11)
            with np.load(folder / "matches.npz", allow_pickle=False) as m:
                assert m["top_index"].shape[1:] == (11, 5) and m["xy"].shape == (len(m["row_view"]), 2)
                assert m["thumbs"].dtype == np.uint8 and len(m["thumbs"]) == len(m["thumb_row"]) > 0
                assert str(m["distance"]) == "per_part"
