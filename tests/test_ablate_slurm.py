"""The Slurm launcher's pieces without a cluster: options → sbatch parameters, the job's requeue on a stop signal,
SIGUSR2 → the trainer's stop request, job ids, and ``status`` from the store, the job records and (faked) scheduler
states. The real one-node cluster is in test_ablate_slurm_cluster.py."""

from __future__ import annotations

import json
import os
import pickle
import signal
import sys
from pathlib import Path

import pytest
from helpers.studies import layers_study

from gstsn.ablate import slurm
from gstsn.ablate.plan import plan_studies
from gstsn.ablate.runner import run_plan
from gstsn.ablate.slurm import (
    JobRecord,
    RunTask,
    SlurmError,
    SlurmOptions,
    format_status,
    job_id_from_env,
    parse_sbatch_flags,
    run_statuses,
    write_outcome,
)
from gstsn.ablate.store import ResultsStore, WorkDir
from gstsn.cli import main
from gstsn.signals import TrainingInterrupted, stop_on_signals, stop_requested

STUDY = layers_study("slurm unit", seeds=(0, 1))


@pytest.fixture
def studies(tmp_path):
    (tmp_path / "ablations").mkdir()
    (tmp_path / "ablations" / "layers.toml").write_text(STUDY)
    return tmp_path


def plan_of(studies):
    return plan_studies([studies / "ablations" / "layers.toml"], profile="smoke")


def test_sbatch_flags_and_executor_parameters():
    assert parse_sbatch_flags(["--qos=low --account gait", "--exclusive", "--mail-type=END"]) == {
        "qos": "low",
        "account": "gait",
        "exclusive": True,
        "mail_type": "END",
    }
    with pytest.raises(SlurmError, match="expected long sbatch options"):
        parse_sbatch_flags(["-p gpu"])
    opts = SlurmOptions(
        Path("/s"), partition="gpu", gpus_per_job=2, cpus_per_job=8, mem_gb=32, time_min=240, sbatch=("--qos=low",)
    )
    assert opts.executor_parameters() == {
        "name": "gstsn",
        "timeout_min": 240,
        "cpus_per_task": 8,
        "nodes": 1,
        "tasks_per_node": 1,
        "slurm_array_parallelism": 256,
        "slurm_partition": "gpu",
        "gpus_per_node": 2,
        "mem_gb": 32,
        "slurm_additional_parameters": {"qos": "low"},
    }


def test_submitit_writes_those_parameters_as_sbatch_lines(tmp_path, monkeypatch):
    import submitit

    bin_dir = tmp_path / "bin"  # submitit's Slurm executor only checks that srun is on PATH
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\n")
    (bin_dir / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    opts = SlurmOptions(tmp_path, partition="gpu", gpus_per_job=2, cpus_per_job=8, mem_gb=32, sbatch=("--qos=low",))
    ex = submitit.AutoExecutor(folder=str(tmp_path / "%j"), cluster="slurm")
    ex.update_parameters(**opts.executor_parameters())
    text = ex._executor._make_submission_file_text("true", "uid")
    for line in (
        "#SBATCH --partition=gpu",
        "#SBATCH --gpus-per-node=2",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=32GB",
        "#SBATCH --time=60",
        "#SBATCH --qos=low",
        "#SBATCH --signal=USR2@90",
        "#SBATCH --job-name=gstsn",
    ):
        assert line in text, line


def test_job_id_from_env():
    assert job_id_from_env({"SLURM_JOB_ID": "42"}) == "42"
    assert job_id_from_env({"SLURM_JOB_ID": "43", "SLURM_ARRAY_JOB_ID": "40", "SLURM_ARRAY_TASK_ID": "3"}) == "40_3"
    assert job_id_from_env({}) is None


def _task(studies, max_requeues=2) -> RunTask:
    plan = plan_of(studies)
    rid, spec = next(iter(plan.runs.items()))
    return RunTask(rid, spec, plan.users[rid], "r", "w", "c", max_requeues=max_requeues)


def test_an_interrupted_job_requeues_itself_then_exits_143(studies, monkeypatch):
    calls = []
    monkeypatch.setattr(slurm.job.subprocess, "run", lambda cmd, **kw: calls.append(cmd) or _Done())
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "70")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    with pytest.raises(SystemExit) as info:
        slurm.job._requeue_and_exit(_task(studies), TrainingInterrupted(signal.SIGTERM, 40, Path("ckpt-0000040.pt")))
    assert info.value.code == 143 and calls == [["scontrol", "requeue", "70_1"]]

    monkeypatch.setenv("SLURM_RESTART_COUNT", "2")  # the most --max-requeues 2 allows: fail, naming the checkpoint
    with pytest.raises(RuntimeError, match="checkpoint ckpt-0000040.pt after 2 requeue"):
        slurm.job._requeue_and_exit(_task(studies), TrainingInterrupted(signal.SIGTERM, 40, Path("ckpt-0000040.pt")))
    assert len(calls) == 1


class _Done:
    returncode, stdout, stderr = 0, "", ""


def test_sigusr2_becomes_the_trainers_stop_request_during_training_else_goes_to_submitit():
    seen = []
    old_usr2 = signal.signal(signal.SIGUSR2, lambda s, f: seen.append(s))  # stands for submitit's handler
    try:
        with slurm.job._preempt_signal_to_trainer():
            os.kill(os.getpid(), signal.SIGUSR2)  # outside training: submitit's handler
            assert seen == [signal.SIGUSR2]
            with stop_on_signals():  # what Trainer.run activates
                os.kill(os.getpid(), signal.SIGUSR2)
                assert stop_requested() == signal.SIGTERM  # the trainer checkpoints and stops after its step
            assert seen == [signal.SIGUSR2]
        assert signal.getsignal(signal.SIGUSR2) is not slurm.job._preempt_signal_to_trainer
    finally:
        signal.signal(signal.SIGUSR2, old_usr2)


def test_status_from_store_records_and_scheduler(studies, monkeypatch):
    plan = plan_of(studies)
    store, work = ResultsStore(studies / "results"), WorkDir(studies / "work")
    folder = studies / "work" / "slurm"
    ids = list(plan.runs)  # 4 runs: 2 cells x 2 seeds
    fake_row = lambda spec, run_dir, **kw: {"row": {"run_id": spec.run_id}, "tables": []}  # noqa: E731
    run_plan(plan_studies([studies / "ablations" / "layers.toml"], profile="smoke", seeds=[0]), store, work,
             executor=fake_row, progress=False, prepare=False)  # fmt: skip
    done = store.done_ids("layers")
    rest = [rid for rid in ids if rid not in done]
    assert len(done) == 2 and len(rest) == 2
    failed_log = folder / "9_1" / "9_1_0_log.err"
    failed_log.parent.mkdir(parents=True)
    failed_log.write_text("Traceback ...\nTrainingError: CUDA is not available\n")
    write_outcome(folder, "9_1", rest[1], "error", "TrainingError: CUDA is not available")  # what the job writes
    records = [
        JobRecord(rest[0], "9_0", "o", "e0", str(folder / "nothing.pkl"), "t", ["layers"]),
        JobRecord(rest[1], "9_1", "o", str(failed_log), str(failed_log.with_name("9_1_0_result.pkl")), "t", ["layers"]),
    ]
    slurm.records.append_records(folder, records)
    monkeypatch.setattr(slurm.records, "scheduler_states", lambda jids: {"9_0": "RUNNING", "9_1": "FAILED"})
    text = format_status(plan, run_statuses(plan, store, work, folder))
    row = next(line for line in text.splitlines() if line.startswith("layers"))
    assert row.split()[1:] == ["0", "1", "2", "1"]  # pending, running, done, failed
    assert f"[{rest[1]}]: job 9_1: TrainingError: CUDA is not available; log {failed_log}" in text
    assert f"[{rest[0]}]: job 9_0 RUNNING" in text

    monkeypatch.setattr(slurm.records, "scheduler_states", lambda jids: {"9_0": "PENDING"})
    statuses = run_statuses(plan, store, work, folder)
    assert statuses[rest[0]][0].state == "pending"
    assert statuses[rest[1]][0].state == "failed"  # gone from the queue with an error result

    monkeypatch.setattr(slurm.records, "scheduler_states", lambda jids: {})  # killed (no result), no longer known
    status = run_statuses(plan, store, work, folder)[rest[0]][0]
    assert status.state == "failed" and "no outcome recorded" in status.detail and "log e0" in status.detail


def test_status_command_without_slurm_counts_the_store(studies, capsys):
    base = ["--studies-dir", str(studies / "ablations"), "--results", str(studies / "r"), "--work", str(studies / "w")]
    assert main(["ablations", "status", *base, "--profile", "smoke"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[2].split() == ["layers", "4", "0", "0", "0"]


def test_slurm_launcher_without_slurm_is_a_clear_error(studies, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    argv = ["ablations", "run", "--studies-dir", str(studies / "ablations"), "--results", str(studies / "r"),
            "--work", str(studies / "w"), "--profile", "smoke", "--launcher", "slurm", "--device", "cpu"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "gstsn ablations run: error: cannot submit to Slurm here" in err and "srun" in err
    assert main([*argv, "--sbatch", "qos=low"]) == 2
    assert "--sbatch 'qos=low': expected long sbatch options" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------------------------------
# Job outcomes: JSON written by the job; submitit's result pickle is never loaded


class _Planted:
    """A "result pickle" someone put in the shared Slurm folder: loading it runs a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _submitted(studies, job_ids=("9_0", "9_1")):
    """The plan, store, work folder and Slurm folder after a submission of the first runs as ``job_ids``."""
    plan = plan_of(studies)
    store, work = ResultsStore(studies / "results"), WorkDir(studies / "work")
    folder = studies / "work" / "slurm"
    ids = list(plan.runs)
    recs = []
    for rid, jid in zip(ids, job_ids, strict=False):
        job_dir = folder / jid
        job_dir.mkdir(parents=True)
        logs = [str(job_dir / f"{jid}_0_log.{ext}") for ext in ("out", "err")]
        recs.append(JobRecord(rid, jid, *logs, str(job_dir / f"{jid}_0_result.pkl"), "t", ["layers"]))
    slurm.records.append_records(folder, recs)
    return plan, store, work, folder, recs


@pytest.mark.parametrize("submitit_installed", [True, False])
def test_status_never_unpickles_a_result_file(studies, monkeypatch, capsys, submitit_installed):
    plan, store, work, folder, recs = _submitted(studies)
    marker = studies / "pwned"
    for rec in recs:
        Path(rec.result).write_bytes(pickle.dumps(_Planted(marker)))
    write_outcome(folder, "9_1", recs[1].run_id, "error", "TrainingDiverged: loss is NaN at iteration 12")
    monkeypatch.setattr(slurm.records, "scheduler_states", lambda jids: {})  # both jobs left the queue
    if not submitit_installed:  # `import submitit` fails: status must not need it
        for name in [m for m in sys.modules if m == "submitit" or m.startswith("submitit.")]:
            monkeypatch.delitem(sys.modules, name)
        monkeypatch.setitem(sys.modules, "submitit", None)

    base = ["--studies-dir", str(studies / "ablations"), "--results", str(studies / "results"),
            "--work", str(studies / "work"), "--profile", "smoke"]  # fmt: skip
    assert main(["ablations", "status", *base]) == 0
    out = capsys.readouterr().out
    assert not marker.exists(), "status loaded a result pickle"
    assert f"[{recs[0].run_id}]: job 9_0 no longer known to Slurm, no outcome recorded (no checkpoint)" in out
    assert f"[{recs[1].run_id}]: job 9_1: TrainingDiverged: loss is NaN at iteration 12; log {recs[1].stderr}" in out
    assert out.splitlines()[2].split() == ["layers", "2", "0", "0", "2"]


def test_an_unreadable_or_foreign_outcome_file_is_named_not_trusted(studies, monkeypatch):
    plan, store, work, folder, recs = _submitted(studies)
    (folder / "outcomes").mkdir(exist_ok=True)
    (folder / "outcomes" / "9_0.json").write_text("{torn")
    (folder / "outcomes" / "9_1.json").write_text(json.dumps({"job_id": "8_1", "outcome": "success", "detail": ""}))
    monkeypatch.setattr(slurm.records, "scheduler_states", lambda jids: {})
    statuses = run_statuses(plan, store, work, folder)
    first, second = statuses[recs[0].run_id][0], statuses[recs[1].run_id][0]
    assert first.state == "failed" and f"unreadable outcome file {folder / 'outcomes' / '9_0.json'}" in first.detail
    assert second.state == "failed" and "is not an outcome of job 9_1" in second.detail
    assert slurm.records.outcome_path(folder, "../../etc/passwd") is None  # a record's job id never names a path


def test_a_job_records_its_outcome_as_json(studies, monkeypatch):
    import torch

    from gstsn.ablate import execute

    folder = studies / "slurm"
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "70")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    monkeypatch.setattr(execute, "prepare_data", lambda *a, **kw: None)
    fake_row = lambda spec, run_dir, **kw: {"row": {"run_id": spec.run_id}, "tables": []}  # noqa: E731
    monkeypatch.setattr(execute, "execute_run", fake_row)
    task = _task(studies)
    task.results, task.work, task.slurm_dir = str(studies / "r"), str(studies / "w"), str(folder)
    task.threads = torch.get_num_threads()  # leave this process's torch threads as they are
    assert slurm.RunJob()(task)["run_id"] == task.run_id
    assert json.loads((folder / "outcomes" / "70_1.json").read_text())["outcome"] == "success"
    assert task.run_id in ResultsStore(studies / "r").done_ids("layers")

    def fails(spec, run_dir, **kw):
        raise RuntimeError("CUDA is not available\non this node")

    monkeypatch.setattr(execute, "execute_run", fails)
    task.work = str(studies / "w2")  # no stored result there: the run executes (and fails)
    with pytest.raises(RuntimeError):
        slurm.RunJob()(task)
    entry = json.loads((folder / "outcomes" / "70_1.json").read_text())
    assert entry["outcome"] == "error" and entry["detail"] == "RuntimeError: CUDA is not available on this node"
    rec = JobRecord(task.run_id, "70_1", "o", "e", "r.pkl", "t")
    assert slurm.job_outcome(rec, folder) == ("error", "RuntimeError: CUDA is not available on this node")


# ----------------------------------------------------------------------------------------------------------------------
# Bad options and a failing sbatch: one message, exit 2, nothing submitted


def _fake_slurm(tmp_path, sbatch: str | None) -> tuple[Path, Path]:
    """A bin folder with srun (submitit only checks it is there) and, unless None, an sbatch with body ``sbatch``;
    every sbatch call is logged to the returned file."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "sbatch-calls"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "srun").write_text("#!/bin/sh\n")
    if sbatch is not None:
        (bin_dir / "sbatch").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n{sbatch}\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    return bin_dir, calls


def _run_argv(studies, *extra):
    return ["ablations", "run", "--studies-dir", str(studies / "ablations"), "--results", str(studies / "r"),
            "--work", str(studies / "w"), "--profile", "smoke", "--launcher", "slurm", "--device", "cpu",
            *extra]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (['--sbatch=--qos="x'], "--sbatch '--qos=\"x': No closing quotation; expected sbatch flags as a shell"),
        (["--poll", "-1"], "--poll -1.0: expected a positive number of seconds"),
        (["--poll", "nan"], "--poll nan: expected a positive number of seconds"),
        (["--mem-gb", "nan"], "--mem-gb nan: expected a positive number of GB"),
        (["--mem-gb", "inf"], "--mem-gb inf: expected a positive number of GB"),
        (["--mem-gb", "0"], "--mem-gb 0.0: expected a positive number of GB"),
    ],
)
def test_bad_slurm_options_are_refused_before_anything_is_submitted(studies, tmp_path, monkeypatch, capsys, extra,
                                                                    message):  # fmt: skip
    bin_dir, calls = _fake_slurm(tmp_path, 'echo "Submitted batch job 4242"')
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    assert main(_run_argv(studies, *extra)) == 2
    err = capsys.readouterr().err
    assert f"gstsn ablations run: error: {message}" in err and "Traceback" not in err
    assert not calls.exists() and not (studies / "w" / "slurm" / "jobs.jsonl").exists()


def test_sbatch_missing_or_failing_is_one_message(studies, tmp_path, monkeypatch, capsys):
    bin_dir, calls = _fake_slurm(tmp_path, None)
    monkeypatch.setenv("PATH", str(bin_dir))  # srun only: no sbatch anywhere
    assert main(_run_argv(studies)) == 2
    err = capsys.readouterr().err
    assert "gstsn ablations run: error: sbatch is not on PATH" in err and "Traceback" not in err

    bin_dir, calls = _fake_slurm(tmp_path, 'echo "sbatch: error: Invalid qos specification" >&2\nexit 1')
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    assert main(_run_argv(studies, "--sbatch=--qos=nope")) == 2
    err = capsys.readouterr().err
    assert calls.exists()  # sbatch was asked, and refused
    assert (
        "gstsn ablations run: error: sbatch refused the jobs (exit status 1): sbatch: error: Invalid qos "
        "specification; nothing was submitted"
    ) in err
    assert err.count("Invalid qos specification") == 1 and "Traceback" not in err
    assert not (studies / "w" / "slurm" / "jobs.jsonl").exists()


def test_status_slurm_dir_must_be_an_existing_folder(studies, tmp_path, capsys):
    base = ["ablations", "status", "--studies-dir", str(studies / "ablations"), "--results", str(studies / "r"),
            "--work", str(studies / "w"), "--profile", "smoke"]  # fmt: skip
    a_file = tmp_path / "jobs.txt"
    a_file.write_text("")
    assert main([*base, "--slurm-dir", str(a_file)]) == 2
    err = capsys.readouterr().err
    assert f"gstsn ablations status: error: --slurm-dir {a_file} is a file; expected the folder" in err
    assert main([*base, "--slurm-dir", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert f"gstsn ablations status: error: --slurm-dir {tmp_path / 'nowhere'} does not exist" in err
    assert main(_run_argv(studies, "--slurm-dir", str(a_file))) == 2
    assert f"--slurm-dir {a_file} is a file; expected the folder" in capsys.readouterr().err
