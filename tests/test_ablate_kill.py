"""Faults injected into the real runner (trainer + evaluator, smoke profile, tiny synthetic data), in the default
suite: SIGKILL mid-study and at random points, SIGTERM to the ``--jobs 2`` runner, two runners on one results folder.
After each, the store equals an uninterrupted one-process run's: no row lost, none duplicated, the same numbers, the
killed run resumed from its checkpoint.

Every fault is placed by the runner's progress (a stored row, a checkpoint file, a line of a run's train log), looked
at every few ms (``waiting.wait_until``), never by a length of time, and the test checks that it hit a run in the
middle of its training: the verdict is the same on a quiet fast machine, a loaded one and on one core.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import random
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.studies import layers_study, models_study
from helpers.waiting import checkpoint_iterations, last_logged_iteration, wait_until

from gstsn.data import open_dataset
from gstsn.results.row import VOLATILE_KEYS

DATA = "synth:subjects=6,frames_min=8,frames_max=12"
# two studies sharing their GSTSN-2-layers cell; the GEI reference row in one of them
STUDY_LAYERS = layers_study("kill test: layers")
STUDY_MODELS = models_study("kill test: models")
STUDIES = ("layers", "models")
ITERATIONS = 20
CHECKPOINT_EVERY = 4
#: iterations that a planned kill leaves before its run's training ends: the look every few ms has all of them to see
#: the point and kill the runner before the run finishes
WINDOW = 6
KILLS = 3
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
VOLATILE = VOLATILE_KEYS


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
        "--set", f"iterations={ITERATIONS}", "--set", f"checkpoint_every={CHECKPOINT_EVERY}",
        "--jobs", str(jobs), "--threads", "1", "--device", "cpu", "--no-progress",
    ]  # fmt: skip


def rows(root: Path, name: str, study: str) -> list[dict]:
    path = root / name / "results" / study / "runs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def stored_ids(root: Path, name: str) -> set[str]:
    return {r["run_id"] for s in STUDIES for r in rows(root, name, s)}


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
    proc = subprocess.Popen(
        command(root, "killed"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV, start_new_session=True
    )
    try:
        killed_in = wait_for_mid_training_checkpoint(root, "killed", proc, stored=1)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    work = root / "killed" / "work"
    assert killed_in not in stored_ids(root, "killed") and last_logged_iteration(work / killed_in) < ITERATIONS
    partial = {s: len(rows(root, "killed", s)) for s in STUDIES}
    assert 0 < sum(partial.values()) < 5

    subprocess.run(command(root, "killed"), check=True, capture_output=True, env=ENV, timeout=300)

    assert_same_rows(root, "killed")
    shared = {r["run_id"] for r in rows(root, "killed", "layers")} & {
        r["run_id"] for r in rows(root, "killed", "models")
    }
    assert len(shared) == 1
    resumed_row = next(r for s in STUDIES for r in rows(root, "killed", s) if r["run_id"] == killed_in)
    assert resumed_row["resumed_from"] is not None and resumed_row["resumed_from"] >= 4
    for name in ("clean", "killed"):
        assert any((root / name / "results" / s / "runs" / killed_in / "train_log.csv").is_file() for s in STUDIES)
    clean_log = root / "clean" / "work" / killed_in / "train_log.csv"
    assert losses(work / killed_in / "train_log.csv") == losses(clean_log)


def wait_for_mid_training_checkpoint(root: Path, name: str, proc: subprocess.Popen, stored: int = 0) -> str:
    """The id of a run in run folder ``name`` whose newest checkpoint is at most iteration ``ITERATIONS - WINDOW``,
    once one exists and ``stored`` rows are in the store; fails naming what it waited for if the runner ends first.
    A run has such a newest checkpoint from iteration 4 to 15 of its 20: a look every few ms sees it, and a signal
    sent at once lands in the middle of the run's training."""
    work = root / name / "work"

    def mid_training() -> str | None:
        if sum(len(rows(root, name, s)) for s in STUDIES) < stored or not work.is_dir():
            return None
        for run_dir in sorted(work.iterdir()):
            its = checkpoint_iterations(run_dir)
            if its and its[-1] <= ITERATIONS - WINDOW:
                return run_dir.name
        return None

    what = f"a run in {name}/work with a checkpoint at most at iteration {ITERATIONS - WINDOW} of {ITERATIONS}"
    return wait_until(mid_training, what + (f", {stored} row(s) stored" if stored else ""), proc)


def test_sigterm_to_the_parallel_runner_checkpoints_then_a_rerun_completes_the_same_rows(clean):
    """``--jobs 2`` (the main job's CPU default): SIGTERM to the runner's pid alone is forwarded to its workers, the
    runs in progress checkpoint, the runner exits 143 with the store consistent; the re-run (again ``--jobs 2``)
    completes it with exactly the one-process run's rows, so the parallel path gives the same numbers."""
    root = clean
    proc = subprocess.Popen(
        command(root, "term", jobs=2), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV
    )
    try:
        wait_for_mid_training_checkpoint(root, "term", proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err[-2000:]
    assert "stopping on SIGTERM" in err and "stopped by SIGTERM" in err and "Traceback" not in err
    for study in STUDIES:  # whatever is stored is complete and correct
        by_id = {r["run_id"]: r for r in rows(root, "clean", study)}
        for r in rows(root, "term", study):
            assert stable(r) == stable(by_id[r["run_id"]])
    subprocess.run(command(root, "term", jobs=2), check=True, capture_output=True, env=ENV, timeout=300)
    assert_same_rows(root, "term")


@dataclass(frozen=True)
class KillPoint:
    """A point of a run's training at which to kill the runner: its train log's last row (``kind`` "log") or its
    newest checkpoint (``kind`` "checkpoint") reaching ``iteration``."""

    kind: str
    iteration: int

    @classmethod
    def draw(cls, rng: random.Random) -> KillPoint:
        if rng.random() < 0.5:
            return cls("log", rng.randint(1, ITERATIONS - WINDOW))
        return cls("checkpoint", rng.choice(range(CHECKPOINT_EVERY, ITERATIONS - WINDOW + 1, CHECKPOINT_EVERY)))

    def due_at(self, logged: int) -> int | None:
        """The iteration at which this point falls in a run that has logged ``logged`` iterations so far: beyond them
        (only progress made by the new runner counts: a resumed run's log is first cut back to its checkpoint), on a
        checkpoint for that kind; None when that leaves fewer than ``WINDOW`` iterations to the run's end."""
        due = max(self.iteration, logged + 1)
        if self.kind == "checkpoint":
            due = -(-due // CHECKPOINT_EVERY) * CHECKPOINT_EVERY
        return due if due <= ITERATIONS - WINDOW else None

    def due_in(self, work: Path, runs: list[str]) -> dict[str, int]:
        """Run id -> the iteration at which this point falls, for each of ``runs`` (in work folder ``work``) that it
        can fall in."""
        due = {rid: self.due_at(last_logged_iteration(work / rid)) for rid in runs}
        return {rid: at for rid, at in due.items() if at is not None}

    def reached(self, work: Path, due: dict[str, int]) -> str | None:
        """The run of ``due`` whose training has reached this point, if one has."""
        return next((rid for rid, at in due.items() if self.progress(work / rid) >= at), None)

    def progress(self, run_dir: Path) -> int:
        if self.kind == "log":
            return last_logged_iteration(run_dir)
        return max(checkpoint_iterations(run_dir), default=0)


def test_sigkill_at_random_points_loses_and_duplicates_nothing(clean):
    """SIGKILL the runner (and its process group) at KILLS points of its training progress drawn from a seeded
    generator, restarting it after each, then let it finish. Each kill must hit a run mid-training (no row stored for
    it, its log short of the last iteration); the store must equal the uninterrupted run's, every killed run resumed
    from the newest checkpoint it had (from scratch without one) and logged the clean run's losses."""
    root, rng = clean, random.Random(13)
    work = root / "random" / "work"
    trained = sorted(d.name for d in (root / "clean" / "work").iterdir() if last_logged_iteration(d) == ITERATIONS)
    resumes: dict[str, int | None] = {}  # killed run -> the checkpoint it resumes from
    for n in range(1, KILLS + 1):
        point, stored = KillPoint.draw(rng), stored_ids(root, "random")
        # a run killed before stays first among the runs to do: the point falls in it, or in the next run started
        due = point.due_in(work, [rid for rid in trained if rid not in stored])
        assert due, f"kill {n} ({point}): no unfinished run has {WINDOW} iterations left after it"
        proc = subprocess.Popen(
            command(root, "random"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV,
            start_new_session=True,
        )  # fmt: skip
        try:
            what = f"kill {n}: a run reaching its {point.kind} of iteration {due}"
            target = wait_until(functools.partial(point.reached, work, due), what, proc)
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
        assert proc.returncode == -signal.SIGKILL
        reached = last_logged_iteration(work / target)
        assert target not in stored_ids(root, "random") and due[target] <= reached < ITERATIONS, (
            f"kill {n} ({point}) missed run {target} in training: it had logged iteration {reached} of {ITERATIONS}"
        )
        resumes[target] = max(checkpoint_iterations(work / target), default=None)
        print(f"kill {n} at {point}: run {target} after iteration {reached}, checkpoint {resumes[target]}")

    subprocess.run(command(root, "random"), check=True, capture_output=True, env=ENV, timeout=300)
    assert_same_rows(root, "random")
    for rid, checkpoint in resumes.items():
        row = next(r for s in STUDIES for r in rows(root, "random", s) if r["run_id"] == rid)
        assert row["resumed_from"] == checkpoint, (rid, row["resumed_from"], checkpoint)
        assert losses(work / rid / "train_log.csv") == losses(root / "clean" / "work" / rid / "train_log.csv")


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
