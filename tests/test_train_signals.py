"""``gstsn train`` stopped by SIGTERM / SIGINT: the step finishes, a checkpoint is written, one line is printed, the
exit status is 143 / 130, and ``--resume`` continues to the same numbers as an uninterrupted run. One process trains in
a run folder at a time."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.toy_data import make_toy_cache
from helpers.waiting import last_logged_iteration, wait_until

from gstsn.config import resolve_profile
from gstsn.signals import TrainingInterrupted, exit_code, request_stop, stop_on_signals, stop_requested
from gstsn.train.setup import RUN_LOCK
from gstsn.train.trainer import Trainer, TrainingError

ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def train_cmd(cache: Path, out: Path, iterations: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "gstsn", "train", "--profile", "smoke", "--data", str(cache),
        "--height", "32", "--width", "22", "--downsample", "2", "--iterations", str(iterations),
        "--checkpoint-every", "100000", "--log-every", "1", "--out", str(out), "--device", "cpu", "--no-progress",
        "--no-eval", *extra,
    ]  # fmt: skip


def logged(path: Path) -> list[tuple[str, ...]]:
    with path.open(newline="") as fh:
        return [(r["iteration"], r["loss"], r["dist_ap"], r["dist_an"]) for r in csv.DictReader(fh)]


def wait_for_rows(out: Path, proc: subprocess.Popen, n: int) -> None:
    wait_until(lambda: last_logged_iteration(out) >= n, f"{out}/train_log.csv to log iteration {n}", proc)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return make_toy_cache(tmp_path_factory.mktemp("sig") / "cache").path


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_checkpoints_and_resume_reproduces_the_uninterrupted_run(cache, tmp_path, sig):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        train_cmd(cache, out, 100000), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    )
    wait_for_rows(out, proc, 3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == exit_code(sig) == 128 + sig
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and f"stopped by {signal.Signals(sig).name} at iteration" in lines[0], err
    stopped_at = int(lines[0].split("at iteration ")[1].split(";")[0])
    assert (out / "checkpoints" / f"ckpt-{stopped_at:07d}.pt").is_file()
    saved = json.loads((out / "results.json").read_text())
    assert saved["status"] == "interrupted" and saved["iteration"] == stopped_at
    assert [int(r[0]) for r in logged(out / "train_log.csv")] == list(range(1, stopped_at + 1))
    if sig != signal.SIGTERM:
        return  # the resume after a stop is the same for both signals: shown once, for SIGTERM

    total = stopped_at + 3
    subprocess.run(train_cmd(cache, out, total, "--resume"), check=True, capture_output=True, env=ENV, timeout=120)
    clean = tmp_path / "clean"
    subprocess.run(train_cmd(cache, clean, total), check=True, capture_output=True, env=ENV, timeout=120)
    assert logged(out / "train_log.csv") == logged(clean / "train_log.csv")


def small_trainer(cache: Path, out: Path) -> Trainer:
    from gstsn.data.cache import SilhouetteCache

    cfg = resolve_profile("smoke", height=32, width=22, downsample=2, iterations=2, source=str(cache))
    ds = SilhouetteCache.open(cache)
    subjects = sorted(set(ds.index["subject"]))
    return Trainer(cfg, out, dataset=ds, train_subjects=subjects, device="cpu", progress=False)


def test_a_second_trainer_on_the_same_folder_fails_at_once_naming_the_holder(cache, tmp_path):
    first = small_trainer(cache, tmp_path / "run")
    try:
        with pytest.raises(TrainingError, match=rf"in use by another training process \(pid {os.getpid()} on "):
            small_trainer(cache, tmp_path / "run")
    finally:
        first.close()
    small_trainer(cache, tmp_path / "run").run()  # released: a new trainer takes the folder
    assert (tmp_path / "run" / RUN_LOCK).is_file()


def test_a_second_gstsn_train_on_the_same_out_exits_2_naming_the_holder(cache, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(train_cmd(cache, out, 100000), stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        wait_for_rows(out, proc, 1)
        second = subprocess.run(train_cmd(cache, out, 5), capture_output=True, text=True, env=ENV, timeout=120)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
    assert second.returncode == 2
    assert f"in use by another training process (pid {proc.pid} on " in second.stderr
    assert "Traceback" not in second.stderr


def test_out_naming_a_file_is_a_clear_error(cache, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(TrainingError, match="--out .*file is a file; expected a run folder"):
        small_trainer(cache, tmp_path / "file")


def test_nested_activations_share_one_request_and_restore_the_handlers():
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals():
        assert stop_requested() is None
        with stop_on_signals():
            os.kill(os.getpid(), signal.SIGTERM)  # recorded, not fatal
            wait_until(stop_requested, "the SIGTERM handler to record the stop request")
        assert stop_requested() == signal.SIGTERM
        request_stop(signal.SIGINT)  # the first request wins
        assert stop_requested() == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before
    with stop_on_signals():
        assert stop_requested() is None  # a new outermost activation starts clean


def test_training_interrupted_is_no_ordinary_error_and_pickles():
    import pickle

    exc = TrainingInterrupted(signal.SIGTERM, 7, Path("ckpt-0000007.pt"))
    assert not isinstance(exc, Exception) and exc.exit_code == 143
    back = pickle.loads(pickle.dumps(exc))
    assert (back.signum, back.iteration, back.checkpoint, str(back)) == (15, 7, Path("ckpt-0000007.pt"), str(exc))
