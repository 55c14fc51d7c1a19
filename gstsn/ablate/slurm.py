"""``gstsn ablations run --launcher slurm``: every pending run is one Slurm job (one job array per submission),
submitted with submitit; and the state of a sweep (``gstsn ablations status``) from the store and the scheduler.

What a job does (:class:`RunJob`, run by submitit on a compute node):

1. prepare its data source (generated / imported once, under the cache's per-source lock);
2. train and evaluate the run in the shared work folder under the run's lock (:meth:`WorkDir.run_once`), resuming
   from the newest checkpoint — the same unit of work as the local runner's;
3. commit its rows into the shared results store (under the study's lock, see ``store.py``).

Preemption and time limits. Slurm sends SIGTERM when it preempts a job (and at the time limit); submitit asks
Slurm for SIGUSR2 ``signal_delay_s`` before the time limit (``#SBATCH --signal=USR2@90``). While the trainer runs, a
SIGTERM is the trainer's own: it finishes the step, writes a checkpoint and raises
``gstsn.signals.TrainingInterrupted``; a SIGUSR2 is passed on to that same handler. The job then requeues itself
(``scontrol requeue``, as submitit does) and exits without a result, so the requeued job runs the same submission
again and resumes from that checkpoint. Outside training (data, evaluation) submitit's own handlers apply: SIGTERM is
logged and ignored, SIGUSR2 requeues the job through :meth:`RunJob.checkpoint` (the same task: it resumes from disk).
``--max-requeues`` bounds the requeues of one job (``SLURM_RESTART_COUNT``).

Job records: every submitted job is a line of ``SLURM_DIR/jobs.jsonl`` (run id, job id, its log files), so that
``status`` can name a failed job's log and a second ``run --launcher slurm`` does not submit a run that is still
queued or running.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gstsn.ablate.plan import Plan, RunState
from gstsn.ablate.runner import RunReport, commit_result, sync_store
from gstsn.ablate.spec import RunSpec, StudyRun
from gstsn.ablate.store import ResultsStore, RunBusy, StoreError, WorkDir
from gstsn.locks import exclusive_lock
from gstsn.signals import TrainingInterrupted

JOB_RECORDS = "jobs.jsonl"
#: Slurm job states (``squeue``/``sacct`` %T) in which a job will still run, runs now, or has ended
QUEUED_STATES = {
    "PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SUSPENDED", "STOPPED",
}  # fmt: skip
RUNNING_STATES = {"RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT"}


class SlurmError(StoreError):
    """The Slurm launcher cannot do what was asked (no Slurm here, bad option); the message says what to do."""


# ----------------------------------------------------------------------------------------------------------------------
# Options


@dataclass(frozen=True)
class SlurmOptions:
    """Resources of every job of a submission (``#SBATCH`` lines) and where its files go."""

    folder: Path  # submitit's pickles and the jobs' logs (SLURM_DIR/<job id>/), and jobs.jsonl
    partition: str | None = None
    gpus_per_job: int = 0
    cpus_per_job: int = 1
    mem_gb: float | None = None
    time_min: int = 60
    sbatch: tuple[str, ...] = ()  # extra sbatch flags, e.g. ("--qos=low", "--account=gait")
    max_requeues: int = 5
    array_parallelism: int = 256
    job_name: str = "gstsn"

    def executor_parameters(self) -> dict[str, Any]:
        """submitit's ``update_parameters`` keywords."""
        params: dict[str, Any] = {
            "name": self.job_name,
            "timeout_min": self.time_min,
            "cpus_per_task": self.cpus_per_job,
            "nodes": 1,
            "tasks_per_node": 1,
            "slurm_array_parallelism": self.array_parallelism,
        }
        if self.partition:
            params["slurm_partition"] = self.partition
        if self.gpus_per_job:
            params["gpus_per_node"] = self.gpus_per_job
        if self.mem_gb is not None:
            params["mem_gb"] = self.mem_gb
        extra = parse_sbatch_flags(self.sbatch)
        if extra:
            params["slurm_additional_parameters"] = extra
        return params


def parse_sbatch_flags(flags: Sequence[str]) -> dict[str, Any]:
    """``["--qos=low --account gait", "--exclusive"]`` → ``{"qos": "low", "account": "gait", "exclusive": True}``
    (submitit's ``additional_parameters``: one ``#SBATCH --key=value`` line each)."""
    words = [w for text in flags for w in shlex.split(text)]
    out: dict[str, Any] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if not word.startswith("--") or len(word) < 3:
            raise SlurmError(f"--sbatch {word!r}: expected long sbatch options such as --qos=low or --account gait")
        key, eq, value = word[2:].partition("=")
        if not eq and i + 1 < len(words) and not words[i + 1].startswith("-"):
            value, i = words[i + 1], i + 1
        elif not eq:
            value = True
        out[key.replace("-", "_")] = value
        i += 1
    return out


def add_slurm_options(p: argparse.ArgumentParser) -> None:
    """The ``--launcher`` option and the Slurm launcher's options of ``gstsn ablations run``."""
    g = p.add_argument_group("launcher", "where the runs train: this machine (default) or Slurm jobs")
    g.add_argument(
        "--launcher", choices=("local", "slurm"), default="local",
        help="local: train here, --jobs at once (default); slurm: one Slurm job per pending run, see docs/cluster.md",
    )  # fmt: skip
    g.add_argument("--partition", default=None, help="slurm: partition of the jobs (default: the cluster's)")
    g.add_argument("--gpus-per-job", type=int, default=0, metavar="N", help="slurm: GPUs per job (default 0)")
    g.add_argument("--cpus-per-job", type=int, default=1, metavar="N", help="slurm: CPUs per job = torch threads (1)")
    g.add_argument("--mem-gb", type=float, default=None, metavar="GB", help="slurm: memory per job (default: Slurm's)")
    g.add_argument(
        "--time-limit", type=int, default=60, metavar="MIN",
        help="slurm: time limit per job in minutes (60); a job that reaches it is checkpointed and requeued",
    )  # fmt: skip
    g.add_argument(
        "--sbatch", action="append", default=[], metavar="FLAGS",
        help="slurm: extra sbatch flags, e.g. --sbatch='--qos=low --account=gait' (with '=': the value starts with --)",
    )  # fmt: skip
    g.add_argument(
        "--slurm-dir", type=Path, default=None,
        help="slurm: job logs, submitit's files and the job records, on a shared filesystem (default: WORK/slurm)",
    )  # fmt: skip
    g.add_argument("--max-requeues", type=int, default=5, metavar="N", help="slurm: requeues per job at most (5)")
    g.add_argument("--no-wait", action="store_true", help="slurm: submit and return (then: gstsn ablations status)")
    g.add_argument("--poll", type=float, default=15.0, metavar="S", help="slurm: seconds between checks while waiting")


def options_from_args(args: argparse.Namespace, work: WorkDir) -> SlurmOptions:
    for name in ("gpus_per_job", "max_requeues"):
        if getattr(args, name) < 0:
            raise SlurmError(f"--{name.replace('_', '-')} {getattr(args, name)}: expected 0 or more")
    for name in ("cpus_per_job", "time_limit"):
        if getattr(args, name) < 1:
            raise SlurmError(f"--{name.replace('_', '-')} {getattr(args, name)}: expected at least 1")
    if args.mem_gb is not None and args.mem_gb <= 0:
        raise SlurmError(f"--mem-gb {args.mem_gb}: expected a positive number of GB")
    opts = SlurmOptions(
        folder=Path(args.slurm_dir) if args.slurm_dir is not None else slurm_dir(work),
        partition=args.partition,
        gpus_per_job=args.gpus_per_job,
        cpus_per_job=args.cpus_per_job,
        mem_gb=args.mem_gb,
        time_min=args.time_limit,
        sbatch=tuple(args.sbatch),
        max_requeues=args.max_requeues,
    )
    opts.executor_parameters()  # --sbatch errors now, before anything is submitted
    return opts


def slurm_dir(work: WorkDir) -> Path:
    return work.root / "slurm"


# ----------------------------------------------------------------------------------------------------------------------
# The job


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


def _submitit():
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
        import torch

        from gstsn.ablate.execute import execute_run, prepare_data

        threads = task.threads or int(os.environ.get("SLURM_CPUS_PER_TASK", "1"))
        torch.set_num_threads(max(1, threads))
        store, work = ResultsStore(task.results), WorkDir(task.work)
        _log(f"run {task.run_id} ({_what(task.users[0])}) on {os.uname().nodename}, {threads} thread(s)")
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


def _log(msg: str) -> None:
    print(f"[gstsn {dt.datetime.now().isoformat(timespec='seconds')}] {msg}", file=sys.stderr, flush=True)


def _what(sr: StudyRun) -> str:
    return f"{sr.study}: {sr.cell.label}, seed {sr.spec.seed}"


def _run_once_waiting(work: WorkDir, run_id: str, execute: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """``work.run_once``; when another process holds the run (a local runner, a job of an older submission), wait
    for it and then take its result (or train what it left)."""
    while True:
        try:
            return work.run_once(run_id, execute)
        except RunBusy:
            _log(f"run {run_id} is being trained by another process ({work.run_dir(run_id) / '.lock'}); waiting")
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


# ----------------------------------------------------------------------------------------------------------------------
# Job records and the scheduler's view


@dataclass
class JobRecord:
    run_id: str
    job_id: str
    stdout: str
    stderr: str
    result: str  # submitit's result pickle
    submitted: str
    studies: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JobRecord:
        rec = cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})
        if not all(isinstance(getattr(rec, k), str) for k in ("run_id", "job_id", "stderr", "result")):
            raise TypeError("not a job record")
        return rec


def load_records(folder: Path) -> dict[str, JobRecord]:
    """The newest job record of each run id (a run submitted again has several). A line that is not a record (a
    submitter killed while appending) is named on stderr and not used."""
    path = folder / JOB_RECORDS
    out: dict[str, JobRecord] = {}
    if not path.is_file():
        return out
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            rec = JobRecord.from_dict(json.loads(line))
        except (json.JSONDecodeError, TypeError, KeyError, AttributeError):
            print(f"warning: {path} line {lineno} is not a job record; ignored: {line[:80]!r}", file=sys.stderr)
            continue
        out[rec.run_id] = rec
    return out


def _append_records(folder: Path, records: Sequence[JobRecord]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(folder / ".jobs.lock"), (folder / JOB_RECORDS).open("a", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec.__dict__) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def scheduler_states(job_ids: Sequence[str]) -> dict[str, str]:
    """Slurm's state (``PENDING``, ``RUNNING``, ``COMPLETED``, ``FAILED``, ...) of the jobs it still knows: ``squeue``
    (every state, one line per array element), then ``sacct`` for the others where accounting is on."""
    if not job_ids:
        return {}
    want = set(job_ids)
    states: dict[str, str] = {}
    proc = _try(["squeue", "-h", "-r", "-t", "all", "-o", "%i|%T"])
    if proc is None:
        raise SlurmError("squeue did not answer: is this a Slurm login node (SLURM_CONF, munge)?")
    for line in proc.splitlines():
        jid, _, state = line.strip().partition("|")
        if jid in want:
            states[jid] = state.strip()
    missing = sorted(want - set(states))
    if missing:
        out = _try(["sacct", "-n", "-P", "-X", "-o", "JobID,State", "-j", ",".join(missing)])
        for line in (out or "").splitlines():
            jid, _, state = line.strip().partition("|")
            if jid in want and jid not in states:
                states[jid] = state.split()[0] if state else "UNKNOWN"  # "CANCELLED by 0" -> CANCELLED
    return states


def _try(cmd: list[str]) -> str | None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def job_outcome(rec: JobRecord) -> tuple[str, str] | None:
    """submitit's result of a finished job: ``("success", "")`` or ``("error", last line of the traceback)``; None
    when the job wrote none (it has not finished, or was killed)."""
    path = Path(rec.result)
    if not path.is_file():
        return None
    from submitit.core.utils import pickle_load

    try:
        kind, value = pickle_load(path)
    except Exception as exc:  # a torn or foreign file
        return "error", f"unreadable result {path}: {type(exc).__name__}: {exc}"
    if kind == "success":
        return "success", ""
    lines = [ln for ln in str(value).strip().splitlines() if ln.strip()]
    return "error", lines[-1] if lines else "error"


# ----------------------------------------------------------------------------------------------------------------------
# Status


@dataclass
class RunStatus:
    run_id: str
    users: list[StudyRun]
    state: str  # pending | running | done | failed
    detail: str = ""
    job: JobRecord | None = None


def run_statuses(
    plan: Plan, store: ResultsStore, work: WorkDir, folder: Path, shard: tuple[int, int] | None = None
) -> dict[str, tuple[RunStatus, set[str]]]:
    """Each run's status and the studies that hold its row: ``{run_id: (status, studies done)}``."""
    from gstsn.ablate.plan import run_states

    states = run_states(plan, store, work, shard)
    records = load_records(folder)
    sched = scheduler_states([records[st.run_id].job_id for st in states if st.run_id in records and st.todo])
    out = {}
    for st in states:
        done_in = {sr.study for sr in plan.users[st.run_id]} - {sr.study for sr in st.studies_missing}
        out[st.run_id] = (_status_of(st, records.get(st.run_id), sched), done_in)
    return out


def _status_of(st: RunState, rec: JobRecord | None, sched: dict[str, str]) -> RunStatus:
    users = list(st.studies_missing)
    if not st.todo:
        return RunStatus(st.run_id, users, "done")
    if st.finished:
        return RunStatus(st.run_id, users, "done", "finished, rows not yet in the store (run again to copy them)", rec)
    ckpt = f"checkpoint at iteration {st.checkpoint}" if st.checkpoint is not None else "no checkpoint"
    if rec is None:
        return RunStatus(st.run_id, users, "pending", f"not submitted, {ckpt}")
    state = sched.get(rec.job_id)
    if state in QUEUED_STATES:
        return RunStatus(st.run_id, users, "pending", f"job {rec.job_id} {state}, {ckpt}", rec)
    if state in RUNNING_STATES:
        return RunStatus(st.run_id, users, "running", f"job {rec.job_id} {state}, {ckpt}", rec)
    outcome = job_outcome(rec)
    if outcome is not None and outcome[0] == "error":
        return RunStatus(st.run_id, users, "failed", f"job {rec.job_id}: {outcome[1]}; log {rec.stderr}", rec)
    if outcome is not None:  # success but no row: the commit was lost (cannot happen unless the store was edited)
        return RunStatus(st.run_id, users, "failed", f"job {rec.job_id} succeeded but its row is missing", rec)
    how = state or "no longer known to Slurm"
    return RunStatus(
        st.run_id, users, "failed", f"job {rec.job_id} {how} without a result ({ckpt}); log {rec.stderr}", rec
    )


def format_status(plan: Plan, statuses: dict[str, tuple[RunStatus, set[str]]]) -> str:
    """Per study: the number of its runs pending, running, done and failed; then each failed run with its log."""
    header = f"{'study':<22} {'pending':>8} {'running':>8} {'done':>8} {'failed':>8}"
    lines = [header, "-" * len(header)]
    failed, running, notes = [], [], []
    for s in plan.studies:
        counts = dict.fromkeys(("pending", "running", "done", "failed"), 0)
        for sr in s.runs:
            if sr.run_id not in statuses:
                continue  # another shard's
            status, done_in = statuses[sr.run_id]
            state = "done" if s.name in done_in else status.state
            counts[state] += 1
            if state == "failed":
                failed.append(f"  {_what(sr)} [{sr.run_id}]: {status.detail}")
            elif state == "running":
                running.append(f"  {_what(sr)} [{sr.run_id}]: {status.detail}")
            elif state == "done" and status.detail:
                notes.append(f"  {_what(sr)} [{sr.run_id}]: {status.detail}")
        lines.append(f"{s.name:<22} " + " ".join(f"{counts[k]:>8}" for k in counts))
    if running:
        lines += ["", "running:", *running]
    if failed:
        lines += ["", "failed:", *failed]
    if notes:
        lines += ["", "note:", *notes]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------------------
# Submission


def submit_runs(todo: Sequence[RunState], plan: Plan, opts: SlurmOptions, task_of: Callable[[RunState], RunTask]):
    """Submit one job per run as one job array (submitit's ``map_array``) and record them; returns the records."""
    submitit = _submitit()
    if not todo:
        return []
    try:
        executor = submitit.AutoExecutor(folder=str(opts.folder / "%j"), cluster="slurm")
    except Exception as exc:
        raise SlurmError(f"cannot submit to Slurm here ({type(exc).__name__}: {exc}); is srun on PATH?") from None
    executor.update_parameters(**opts.executor_parameters())
    tasks = [task_of(st) for st in todo]
    try:
        jobs = executor.map_array(RunJob(), tasks)
    except subprocess.CalledProcessError as exc:
        out = (exc.output or b"").decode() if isinstance(exc.output, bytes) else str(exc.output or "")
        raise SlurmError(f"sbatch refused the jobs: {out.strip() or exc}") from None
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    records = [
        JobRecord(
            run_id=st.run_id,
            job_id=str(job.job_id),
            stdout=str(job.paths.stdout),
            stderr=str(job.paths.stderr),
            result=str(job.paths.result_pickle),
            submitted=now,
            studies=[sr.study for sr in st.studies_missing],
        )
        for st, job in zip(todo, jobs, strict=True)
    ]
    _append_records(opts.folder, records)
    return records


def run_slurm(
    plan: Plan,
    store: ResultsStore,
    work: WorkDir,
    opts: SlurmOptions,
    *,
    shard: tuple[int, int] | None = None,
    device: str = "auto",
    cache_root: Path,
    threads: int | None = None,
    wait: bool = True,
    poll_s: float = 15.0,
    log: Callable[[str], None] = print,
) -> RunReport:
    """Submit every pending run of ``plan`` (this shard's) that is not already queued or running as a Slurm job; with
    ``wait``, wait until none of them is queued or running. Rows are committed by the jobs themselves."""
    t0 = time.perf_counter()
    report = RunReport()
    states = sync_store(plan, store, work, report, shard)
    todo = [st for st in states if st.needs_training]
    records = load_records(opts.folder)
    sched = scheduler_states([records[st.run_id].job_id for st in todo if st.run_id in records])
    active = {
        st.run_id: records[st.run_id]
        for st in todo
        if st.run_id in records and sched.get(records[st.run_id].job_id) in QUEUED_STATES | RUNNING_STATES
    }
    for rid, rec in active.items():
        log(f"run {rid} is already {sched[rec.job_id].lower()} as job {rec.job_id}; not submitted again")
    submit = [st for st in todo if st.run_id not in active]
    root = Path.cwd()

    def task_of(st: RunState) -> RunTask:
        return RunTask(
            run_id=st.run_id,
            spec=st.spec,
            users=list(st.studies_missing),
            results=str((root / store.root).resolve()),
            work=str((root / work.root).resolve()),
            cache_root=str((root / cache_root).resolve()),
            device=device,
            threads=threads,
            max_requeues=opts.max_requeues,
        )

    new = submit_runs(submit, plan, opts, task_of)
    if new:
        ids = sorted({r.job_id.split("_")[0] for r in new})
        log(f"submitted {len(new)} run(s) as Slurm job array {', '.join(ids)}; logs in {opts.folder}")
    watched = {**active, **{r.run_id: r for r in new}}
    if wait and watched:
        _wait(plan, store, work, opts.folder, watched, report, poll_s, log, shard)
    report.wall_s = time.perf_counter() - t0
    return report


def _wait(plan, store, work, folder, watched: dict[str, JobRecord], report, poll_s, log, shard) -> None:
    """Poll the store and the scheduler until no watched run is pending or running; fill ``report``."""
    left = dict(watched)
    while left:
        statuses = run_statuses(plan, store, work, folder, shard)
        for rid in list(left):
            status, _ = statuses[rid]
            if status.state in ("pending", "running"):
                continue
            sr = plan.users[rid][0]
            if status.state == "done":
                report.trained.append(rid)
                log(f"done {_what(sr)} [{rid}] (job {left[rid].job_id})")
            else:
                report.failed.append((rid, status.detail))
                log(f"FAILED {_what(sr)} [{rid}]: {status.detail}")
            del left[rid]
        if left:
            time.sleep(poll_s)


__all__ = [
    "JobRecord",
    "RunJob",
    "RunTask",
    "SlurmError",
    "SlurmOptions",
    "add_slurm_options",
    "format_status",
    "job_id_from_env",
    "load_records",
    "options_from_args",
    "parse_sbatch_flags",
    "run_slurm",
    "run_statuses",
    "scheduler_states",
    "submit_runs",
]
