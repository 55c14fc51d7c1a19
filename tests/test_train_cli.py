"""gstsn train / eval: help explains every option, bad options fail naming them, results carry provenance."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers.cli import run_cli
from helpers.toy_data import make_toy_cache

from gstsn.train.commands import FIELD_HELP


def option(name: str) -> str:
    return "--data" if name == "source" else "--" + name.replace("_", "-")


def test_train_help_lists_every_config_field(capsys):
    code, out, _ = run_cli(["train", "--help"], capsys)
    assert code == 0
    for name in FIELD_HELP:
        assert option(name) in out, name
    for extra in ("--profile", "--out", "--resume", "--device", "--time-limit", "--no-temporal", "--no-eval"):
        assert extra in out
    assert "[smoke=4,8,16, quick=16,32,64, ablation=8,16,32, cpu-real=16,32,64, paper=32,64,128]" in " ".join(
        out.split()
    )


def test_eval_help(capsys):
    code, out, _ = run_cli(["eval", "--help"], capsys)
    assert code == 0
    for opt in ("CHECKPOINT", "--data", "--split", "--distance", "--max-test-frames", "--device", "--out"):
        assert opt in out


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["train", "--bogus", "1"], "--bogus"),
        (["train", "--input-type", "clip"], "--input-type"),
        (["train", "--channels", "a,b"], "--channels"),
        (["train", "--lr", "-1"], "TrainConfig.lr = -1.0"),
        (["train", "--profile", "smoke", "--hpm-bins", "1,3"], "ModelConfig.hpm_bins"),
        (["train", "--profile", "huge"], "--profile"),
        (["train", "--device", "tpu"], "--device"),
        (["eval"], "CHECKPOINT"),
        (["eval", "x", "--distance", "cosine"], "--distance"),
        (["train", "--time-limit", "nan"], "--time-limit: nan is invalid; expected a finite number of seconds > 0"),
        (["train", "--time-limit", "-5"], "--time-limit: -5 is invalid"),
        (["train", "--device", "cuda:9"], "--device: 'cuda:9' is not available: torch sees"),
        (["train", "--device", "gpu"], "--device: 'gpu' is invalid; expected auto, cpu, cuda or cuda:K"),
        (["eval", "x", "--device", "cuda:9"], "--device: 'cuda:9' is not available"),
        (["ablations", "run", "--jobs", "0"], "--jobs: 0 is invalid; expected an integer ≥ 1"),
        (["ablations", "run", "--threads", "-2"], "--threads: -2 is invalid"),
        (["ablations", "run", "--device", "cuda:9"], "--device: 'cuda:9' is not available"),
        (["data", "import", "a", "b", "--workers", "0"], "--workers: 0 is invalid; expected an integer ≥ 1"),
        (["data", "import", "a", "b", "--workers", "-2"], "--workers: -2 is invalid"),
    ],
)
def test_bad_options_fail_naming_them(argv, named, capsys):
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert named in err


@pytest.mark.parametrize(
    "argv", [["ablations", "run", "--help"], ["ablations", "summary", "--help"], ["train", "--help"]]
)
def test_help_texts_show_percent_signs_once(argv, capsys):
    code, out, _ = run_cli(argv, capsys)
    assert code == 0 and "%%" not in out


def test_eval_of_a_missing_checkpoint_is_a_clear_error(tmp_path, capsys):
    code, _, err = run_cli(["eval", str(tmp_path / "nope.pt")], capsys)
    assert code == 2 and "nope.pt does not exist" in err


def test_smoke_train_then_eval_writes_results_with_provenance(tmp_path, capsys):
    cache = make_toy_cache(tmp_path / "cache")
    run_dir = tmp_path / "run"
    argv = ["train", "--profile", "smoke", "--data", str(cache.path), "--height", "32", "--width", "22",
            "--downsample", "2", "--iterations", "4", "--checkpoint-every", "2", "--out", str(run_dir),
            "--no-progress", "--device", "cpu", "--no-temporal", "--seed", "3"]  # fmt: skip
    code, out, err = run_cli(argv, capsys)
    assert code == 0, err
    assert "rank-1" in out
    res = json.loads((run_dir / "results.json").read_text())
    assert res["status"] == "completed" and res["iteration"] == 4 and res["model"] == "gaitset"
    prov = res["provenance"]
    for key in ("git_commit", "git_dirty", "torch_version", "device", "data_fingerprint", "config_hash", "seed"):
        assert key in prov
    assert prov["data_fingerprint"] == cache.fingerprint and prov["seed"] == 3 and prov["device"] == "cpu"
    assert res["fields"]["temporal"] is False and res["fields"]["iterations"] == 4
    assert set(res["evaluation"]["rank1_excl_identical"]) == {"NM", "BG", "CL"}
    rows = pd.read_csv(run_dir / "results.csv")
    assert {"run_id", "model", "iteration"} <= set(rows.columns) and (rows["run_id"] == prov["config_hash"]).all()
    log = pd.read_csv(run_dir / "eval_log.csv")
    assert set(log["probe_set"]) == {"NM", "BG", "CL"} and (log["iteration"] == 4).all()
    assert "mAP" in out and "cross-view gallery" in out
    retr = res["evaluation"]["retrieval"]
    assert set(retr["standard_protocol_excl_identical"]) == {"rank1", "rank5", "map", "minp"}
    assert set(retr["cross_view_gallery"]) == {"cv_rank1", "cv_map"} and retr["distance"] == "per_part"
    assert {"rank1", "rank5", "map", "minp", "cv_rank1", "cv_map"} <= set(rows["metric"])
    assert set(rows["distance"]) == {"per_part"} and (run_dir / "matches.npz").is_file()

    code, out, err = run_cli(["eval", str(run_dir), "--distance", "flat", "--max-test-frames", "all"], capsys)
    assert code == 0, err
    ev = json.loads((run_dir / "eval-0000004-flat" / "results.json").read_text())
    assert ev["evaluation"]["distance"] == "flat" and ev["fields"]["max_test_frames"] is None
    assert ev["iteration"] == 4 and ev["trained_on_fingerprint"] == cache.fingerprint
    ev_rows = pd.read_csv(run_dir / "eval-0000004-flat" / "results.csv")
    assert {"rank5", "map", "minp", "cv_rank1", "cv_map"} <= set(ev_rows["metric"]) and set(ev_rows.distance) == {
        "flat"
    }
    assert ev["evaluation"]["retrieval"]["distance"] == "flat"

    code, _, err = run_cli(argv, capsys)  # same --out without --resume: refused, not overwritten
    assert code == 2 and "already holds checkpoints" in err


def _smoke_argv(cache_dir, out, *extra):
    return ["train", "--profile", "smoke", "--data", str(cache_dir), "--height", "32", "--width", "22",
            "--downsample", "2", "--no-temporal", "--iterations", "3", "--out", str(out), "--no-progress",
            "--device", "cpu", "--no-eval", *extra]  # fmt: skip


def test_time_limit_then_resume(tmp_path, capsys):
    cache = make_toy_cache(tmp_path / "cache")
    code, out, err = run_cli(_smoke_argv(cache.path, tmp_path / "run", "--time-limit", "1e-9"), capsys)
    assert code == 0, err
    assert "time limit reached at iteration 1" in out
    assert json.loads((tmp_path / "run" / "results.json").read_text())["status"] == "time_limit"
    code, out, err = run_cli(_smoke_argv(cache.path, tmp_path / "run", "--resume"), capsys)
    assert code == 0, err
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    assert res["status"] == "completed" and res["iteration"] == 3 and res["training"]["resumed_from"] == 1
    assert "evaluation" not in res


def test_torchrun_two_processes(tmp_path):
    """The CLI under torchrun (env:// rendezvous, gloo on the CPU): rank 0 writes the results of the 2-rank run."""
    import os
    import subprocess
    import sys

    cache = make_toy_cache(tmp_path / "cache")
    argv = _smoke_argv(cache.path, tmp_path / "run")
    # torchrun's own module, from this interpreter: no dependence on a `torchrun` script being on PATH
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "gstsn", *argv]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    assert res["training"]["world_size"] == 2 and res["iteration"] == 3


def test_a_garbage_checkpoint_is_named_without_advice_to_load_it_unsafely(tmp_path, capsys):
    (tmp_path / "garbage.pt").write_bytes(bytes(range(256)) * 4)
    code, _, err = run_cli(["eval", str(tmp_path / "garbage.pt")], capsys)
    assert code == 2 and "garbage.pt is damaged or not a gstsn checkpoint" in err
    assert "weights_only=False" not in err and "weights_only` set to `False`" not in err


@pytest.mark.parametrize("option", ["--results", "--work", "--cache-root"])
def test_a_store_folder_naming_a_file_is_a_clear_error(tmp_path, capsys, option):
    (tmp_path / "afile").write_text("x")
    code, _, err = run_cli(["ablations", "dry-run", option, str(tmp_path / "afile")], capsys)
    assert code == 2 and f"{option} {tmp_path / 'afile'} is a file; expected a folder" in err


def test_eval_refuses_test_subjects_the_checkpoint_was_trained_on(tmp_path, capsys):
    """``gstsn eval RUN --data OTHER``: where OTHER's test subjects include the checkpoint's training subjects, rank-1
    would measure memory; refused unless --allow-train-subjects names the choice, and then recorded."""
    from gstsn.data.splits import load_split

    train_cache = make_toy_cache(tmp_path / "cache8", n_subjects=8)
    code, _, err = run_cli(_smoke_argv(train_cache.path, tmp_path / "run"), capsys)
    assert code == 0, err
    trained = load_split("LT", sorted(set(train_cache.index["subject"]))).train
    other = make_toy_cache(tmp_path / "cache4", n_subjects=4)
    tested = load_split("LT", sorted(set(other.index["subject"]))).test
    leaked = sorted(set(trained) & set(tested))
    assert leaked, "the test needs data whose test subjects were training subjects"
    code, _, err = run_cli(["eval", str(tmp_path / "run"), "--data", str(other.path)], capsys)
    assert code == 2 and f"{len(leaked)} of the {len(tested)} test subjects were training subjects" in err
    assert ", ".join(leaked) in err and "--allow-train-subjects" in err
    assert not list((tmp_path / "run").glob("eval-*"))

    argv = ["eval", str(tmp_path / "run"), "--data", str(other.path), "--allow-train-subjects"]
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    (ev,) = [json.loads(p.read_text()) for p in (tmp_path / "run").glob("eval-*/results.json")]
    assert ev["trained_on"]["test_subjects_seen_in_training"] == leaked and not ev["trained_on"]["same_data"]

    code, _, err = run_cli(["eval", str(tmp_path / "run"), "--out", str(tmp_path / "same")], capsys)
    assert code == 0, err  # the training data itself, its own split: no overlap
    assert json.loads((tmp_path / "same" / "results.json").read_text())["trained_on"]["same_data"]


# ------------------------------------------------------------------------------------------------ faults (issue 25)
def test_a_full_disk_at_a_checkpoint_is_one_line_and_resume_continues(tmp_path, capsys, monkeypatch, full_disk_file):
    """The checkpoint of iteration 4 does not fit on the disk: one line naming it, the free space and the checkpoint
    kept, exit 1, no temp file left; once there is space, --resume continues from iteration 2."""
    import contextlib

    from gstsn.train import checkpoint

    real = checkpoint.atomic_open

    @contextlib.contextmanager
    def small_disk(path, mode="w"):
        with real(path, mode) as fh:
            yield full_disk_file(fh, 1000) if path.name == "ckpt-0000004.pt" else fh

    cache = make_toy_cache(tmp_path / "cache")
    run = tmp_path / "run"
    argv = _smoke_argv(cache.path, run, "--iterations", "4", "--checkpoint-every", "2")
    monkeypatch.setattr(checkpoint, "atomic_open", small_disk)
    code, _, err = run_cli(argv, capsys)
    assert code == 1, err
    assert err.startswith(
        f"gstsn train: error: no space left on device writing {run / 'checkpoints' / 'ckpt-0000004.pt'} ("
    )
    assert " free of " in err and "the checkpoints already written are intact (newest ckpt-0000002.pt)" in err
    assert "--resume" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["ckpt-0000002.pt"]

    monkeypatch.undo()
    code, _, err = run_cli([*argv, "--resume"], capsys)
    assert code == 0, err
    res = json.loads((run / "results.json").read_text())
    assert res["status"] == "completed" and res["iteration"] == 4 and res["training"]["resumed_from"] == 2


def test_a_full_disk_writing_the_train_log_names_the_run_folder(tmp_path, capsys, monkeypatch):
    import errno

    from gstsn.train import logs

    def no_space(self, row):
        self._failed = True
        raise OSError(errno.ENOSPC, "No space left on device")

    cache = make_toy_cache(tmp_path / "cache")
    monkeypatch.setattr(logs.CsvLog, "write", no_space)
    code, _, err = run_cli(_smoke_argv(cache.path, tmp_path / "run"), capsys)
    assert code == 1 and "Traceback" not in err
    assert err.startswith(f"gstsn train: error: no space left on device writing {tmp_path / 'run'} (")
    assert "no checkpoint of this run had been written yet" in err


def test_a_truncated_newest_checkpoint_is_set_aside_and_the_run_resumes_from_the_one_before(tmp_path, capsys, caplog):
    from gstsn.train.checkpoint import list_checkpoints

    cache = make_toy_cache(tmp_path / "cache")
    run = tmp_path / "run"
    argv = _smoke_argv(cache.path, run, "--iterations", "4", "--checkpoint-every", "2")
    assert run_cli(argv, capsys)[0] == 0
    newest = run / "checkpoints" / "ckpt-0000004.pt"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    code, _, err = run_cli([*argv, "--resume", "--iterations", "5"], capsys)
    assert code == 0, err
    [warning] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "damaged" in r.getMessage()]
    assert warning.startswith(f"checkpoint {newest} is damaged or not a gstsn checkpoint")
    assert warning.endswith(
        f"renamed to ckpt-0000004.pt.damaged; resuming from the newest intact checkpoint "
        f"{run / 'checkpoints' / 'ckpt-0000002.pt'} (iteration 2) instead"
    )
    res = json.loads((run / "results.json").read_text())
    assert res["training"]["resumed_from"] == 2 and res["iteration"] == 5
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "ckpt-0000004.pt", "ckpt-0000004.pt.damaged", "ckpt-0000005.pt"
    ]  # fmt: skip

    for _, path in list_checkpoints(run / "checkpoints"):
        path.write_bytes(b"truncated")
    code, _, err = run_cli([*argv, "--resume"], capsys)
    assert code == 2 and "no intact checkpoint in" in err and "ckpt-0000005.pt is damaged" in err


def test_a_hand_edited_config_json_is_refused_on_resume_naming_the_field(tmp_path, capsys):
    cache = make_toy_cache(tmp_path / "cache")
    run = tmp_path / "run"
    argv = _smoke_argv(cache.path, run, "--iterations", "2")
    assert run_cli(argv, capsys)[0] == 0
    written = json.loads((run / "config.json").read_text())
    lr = written["config"]["train"]["lr"]
    written["config"]["train"]["lr"] = 0.5
    edited = json.dumps(written, indent=2)
    (run / "config.json").write_text(edited)
    code, _, err = run_cli([*argv, "--resume", "--iterations", "3"], capsys)
    assert code == 2
    assert f"{run / 'config.json'} was edited by hand" in err
    assert f"lr: {lr!r} in ckpt-0000002.pt vs 0.5 in the file" in err and "--iterations" in err
    assert (run / "config.json").read_text() == edited, "the edit is not overwritten"
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["ckpt-0000002.pt"]

    (run / "config.json").write_text("{not json")
    code, _, err = run_cli([*argv, "--resume", "--iterations", "3"], capsys)
    assert code == 2 and "config.json cannot be read as the run's config (JSONDecodeError" in err


def test_eval_output_that_is_a_file_is_refused_before_the_evaluation(tmp_path, capsys, monkeypatch):
    from gstsn.train import eval_command

    cache = make_toy_cache(tmp_path / "cache")
    run = tmp_path / "run"
    assert run_cli(_smoke_argv(cache.path, run), capsys)[0] == 0

    def never(*args, **kwargs):
        raise AssertionError("the evaluation ran")

    monkeypatch.setattr(eval_command, "evaluate_checkpoint", never)
    (tmp_path / "afile").write_text("x")
    code, _, err = run_cli(["eval", str(run), "--out", str(tmp_path / "afile")], capsys)
    assert code == 2 and f"argument --out: {tmp_path / 'afile'} is a file; expected a folder" in err
    code, _, err = run_cli(["eval", str(run), "--out", str(tmp_path / "afile" / "sub")], capsys)
    assert code == 2 and f"{tmp_path / 'afile'} is a file, so the folder {tmp_path / 'afile' / 'sub'} cannot" in err
    (run / "eval-0000003-per_part").write_text("x")  # the default output folder
    code, _, err = run_cli(["eval", str(run)], capsys)
    assert code == 2 and f"gstsn eval: error: output folder: {run / 'eval-0000003-per_part'} is a file" in err
