"""What a Slurm job runs (:class:`RunJob`): prepare the data, train and evaluate one run under its lock, commit its
rows, record its outcome (``SLURM_DIR/outcomes/<job id>.json``, read by ``status``); on a stop signal with a
checkpoint, requeue itself without an outcome (see the package doc)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gstsn.ablate.runner import commit_result
from gstsn.ablate.slurm import records
from gstsn.ablate.slurm.options import SlurmError
from gstsn.ablate.spec import RunSpec, StudyRun
from gstsn.ablate.store import ResultsStore, RunBusy, WorkDir
from gstsn.results.files import LOCK_FILE
from gstsn.signals import TrainingInterrupted


@dataclass
class RunTask:
    """One Slurm job's work: a run and the studies that lack its row. Paths are absolute (the job's cwd may differ)."""

    run_id: str
    spec: RunSpec
    users: list[StudyRun]
    results: str
    work: str
    cache_root: str
    device: str = "auto"
    threads: int | None = None
    max_requeues: int = 5
    slurm_dir: str = ""  # where the job records its outcome (records.write_outcome); "" records none


def submitit_module():
    try:
        import submitit
    except ImportError:
        raise SlurmError(
            "the Slurm launcher needs submitit: pip install 'gstsn[slurm]' (or pip install submitit)"
        ) from None
    return submitit


def _checkpointable_base() -> type:
    try:
        from submitit.helpers import Checkpointable
    except ImportError:  # the class must be importable without submitit (the local runner never needs it)
        return object
    return Checkpointable


class RunJob(_checkpointable_base()):
    """The function submitit runs in each job: ``RunJob()(task)`` (see the module doc). Checkpointable: submitit's
    SIGUSR2 handler (time limit near, outside training) requeues the job with the same task, which resumes from the
    run's newest checkpoint on the shared disk."""

    def __call__(self, task: RunTask) -> dict[str, Any]:
        try:
            out = self._run(task)
        except Exception as exc:  # not SystemExit: a requeued job has not ended
            _record_outcome(task, "error", error_line(exc))
            raise
        _record_outcome(task, "success")
        return out

    def _run(self, task: RunTask) -> dict[str, Any]:
        import torch

        from gstsn.ablate.execute import execute_run, prepare_data

        threads = task.threads or int(os.environ.get("SLURM_CPUS_PER_TASK", "1"))
        torch.set_num_threads(max(1, threads))
        store, work = ResultsStore(task.results), WorkDir(task.work)
        _log(f"run {task.run_id} ({describe(task.users[0])}) on {os.uname().nodename}, {threads} thread(s)")
        prepare_data([task.spec.config.data.source], task.cache_root, progress=False, log=_log)

        def execute(run_dir: Path) -> dict[str, Any]:
            return execute_run(task.spec, run_dir, device=task.device, cache_root=task.cache_root, progress=False)

        with _preempt_signal_to_trainer():
            try:
                result = _run_once_waiting(work, task.run_id, execute)
            except TrainingInterrupted as exc:  # the trainer stopped on a signal, with a checkpoint
                _requeue_and_exit(task, exc)
        commit_result(store, work, task.users, result)
        _log(f"committed run {task.run_id} to {', '.join(sr.study for sr in task.users)} in {store.root}")
        return {"run_id": task.run_id, "row": result["row"]}


def error_line(exc: BaseException, limit: int = 500) -> str:
    """``Type: message`` on one line (at most ``limit`` characters), as ``status`` shows a failed job."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _record_outcome(task: RunTask, outcome: str, detail: str = "") -> None:
    """Write this job's outcome for ``status`` (:func:`records.write_outcome`); a failure to write is logged, never
    raised over the job's own result or error."""
    jid = job_id_from_env()
    if not task.slurm_dir or jid is None:
        return
    try:
        path = records.write_outcome(Path(task.slurm_dir), jid, task.run_id, outcome, detail)
    except OSError as exc:
        _log(f"could not record the outcome of job {jid} ({outcome}): {exc}")
        return
    if path is not None:
        _log(f"job {jid}: {outcome}, recorded in {path}")


def _log(msg: str) -> None:
    print(f"[gstsn {dt.datetime.now().isoformat(timespec='seconds')}] {msg}", file=sys.stderr, flush=True)


def describe(sr: StudyRun) -> str:
    return f"{sr.study}: {sr.cell.label}, seed {sr.spec.seed}"


def _run_once_waiting(work: WorkDir, run_id: str, execute: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """``work.run_once``; when another process holds the run (a local runner, a job of an older submission), wait
    for it and then take its result (or train what it left)."""
    while True:
        try:
            return work.run_once(run_id, execute)
        except RunBusy:
            _log(f"run {run_id} is being trained by another process ({work.run_dir(run_id) / LOCK_FILE}); waiting")
            with work.lock(run_id, blocking=True):
                pass


@contextmanager
def _preempt_signal_to_trainer() -> Iterator[None]:
    """While this block runs, SIGUSR2 (submitit's ``--signal=USR2@delay`` before the time limit) goes to the trainer's
    SIGTERM handler when the trainer holds SIGTERM (checkpoint at the end of the step), else to submitit's handler."""
    usr2 = getattr(signal, "SIGUSR2", None)
    if usr2 is None or not _in_main_thread():
        yield
        return
    outside_training = signal.getsignal(signal.SIGTERM)
    previous = signal.getsignal(usr2)

    def on_usr2(signum: int, frame: Any) -> None:
        term = signal.getsignal(signal.SIGTERM)
        if callable(term) and term is not outside_training:
            _log("SIGUSR2 (time limit near): the trainer checkpoints at the end of this step")
            term(signal.SIGTERM, frame)
        elif callable(previous):
            previous(signum, frame)

    signal.signal(usr2, on_usr2)
    try:
        yield
    finally:
        signal.signal(usr2, previous)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def job_id_from_env(env: dict[str, str] | os._Environ | None = None) -> str | None:
    """This job's id as ``scontrol``/``squeue`` name it: ``ARRAY_TASK`` for an array element, else ``SLURM_JOB_ID``."""
    env = os.environ if env is None else env
    array_id, task_id = env.get("SLURM_ARRAY_JOB_ID"), env.get("SLURM_ARRAY_TASK_ID")
    if array_id and task_id:
        return f"{array_id}_{task_id}"
    return env.get("SLURM_JOB_ID")


def _requeue_and_exit(task: RunTask, exc: TrainingInterrupted) -> None:
    """The trainer stopped on a signal with a checkpoint: requeue this job (the requeued job resumes from the
    checkpoint) and exit without a result; past ``max_requeues`` the job fails instead, naming the checkpoint."""
    signum = exc.signum
    where = f"iteration {exc.iteration}, checkpoint {exc.checkpoint}"
    restarts = int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)
    jid = job_id_from_env()
    if jid is None:
        raise exc  # not in a Slurm job: nothing to requeue
    if restarts >= task.max_requeues:
        raise RuntimeError(
            f"run {task.run_id} was interrupted (signal {signum}) at {where} after {restarts} requeue(s), the most "
            f"--max-requeues allows; run `gstsn ablations run` again to resume it from that checkpoint"
        ) from exc
    _log(f"run {task.run_id} interrupted by signal {signum} at {where}; requeueing job {jid} (restart {restarts + 1})")
    proc = subprocess.run(["scontrol", "requeue", jid], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:  # e.g. Slurm is preempting it with PreemptMode=REQUEUE and requeues it itself
        _log(f"scontrol requeue {jid} failed: {(proc.stderr or proc.stdout).strip()}")
    raise SystemExit(exc.exit_code)  # not an Exception: submitit writes no result, the requeued job starts over
