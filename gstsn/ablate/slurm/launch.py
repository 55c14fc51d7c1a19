"""Submission (one job array per call, submitit's ``map_array``) and waiting until the submitted runs have ended."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from gstsn.ablate.plan import Plan, RunState
from gstsn.ablate.runner import RunReport, sync_store
from gstsn.ablate.slurm import records
from gstsn.ablate.slurm.job import RunJob, RunTask, describe, submitit_module
from gstsn.ablate.slurm.options import SlurmError, SlurmOptions
from gstsn.ablate.slurm.records import QUEUED_STATES, RUNNING_STATES, JobRecord, load_records
from gstsn.ablate.slurm.status import run_statuses
from gstsn.ablate.store import ResultsStore, WorkDir


def submit_runs(todo: Sequence[RunState], plan: Plan, opts: SlurmOptions, task_of: Callable[[RunState], RunTask]):
    """Submit one job per run as one job array (submitit's ``map_array``) and record them; returns the records."""
    submitit = submitit_module()
    if not todo:
        return []
    try:
        executor = submitit.AutoExecutor(folder=str(opts.folder / "%j"), cluster="slurm")
    except Exception as exc:
        raise SlurmError(f"cannot submit to Slurm here ({type(exc).__name__}: {exc}); is srun on PATH?") from None
    executor.update_parameters(**opts.executor_parameters())
    if shutil.which("sbatch") is None:
        raise SlurmError("sbatch is not on PATH: submit from a Slurm login node (where sbatch, squeue and srun run)")
    tasks = [task_of(st) for st in todo]
    said = io.StringIO()  # submitit prints sbatch's stderr when sbatch fails; the error below quotes it once
    try:
        with contextlib.redirect_stderr(said):
            jobs = executor.map_array(RunJob(), tasks)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:  # submitit's errors are RuntimeErrors
        raise SlurmError(_submission_error(exc)) from None
    sys.stderr.write(said.getvalue())
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    new = [
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
    records.append_records(opts.folder, new)
    return new


def _submission_error(exc: BaseException) -> str:
    """What went wrong when submitit ran sbatch: sbatch's exit status and stderr, or its unreadable answer."""
    cause = exc if isinstance(exc, subprocess.CalledProcessError) else exc.__cause__
    if isinstance(cause, subprocess.CalledProcessError):
        said = cause.stderr or cause.output or b""
        said = said.decode(errors="replace") if isinstance(said, bytes) else str(said)
        return (
            f"sbatch refused the jobs (exit status {cause.returncode}): {' '.join(said.split()) or '(no output)'}; "
            "nothing was submitted"
        )
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    if type(exc).__name__ == "FailedSubmissionError":  # sbatch answered, but not "Submitted batch job N"
        return f"sbatch's answer could not be read ({text}); see squeue before submitting again"
    return f"submitting the jobs with sbatch failed ({text})"


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
    known = load_records(opts.folder)
    sched = records.scheduler_states([known[st.run_id].job_id for st in todo if st.run_id in known])
    active = {
        st.run_id: known[st.run_id]
        for st in todo
        if st.run_id in known and sched.get(known[st.run_id].job_id) in QUEUED_STATES | RUNNING_STATES
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
            slurm_dir=str((root / opts.folder).resolve()),
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
                log(f"done {describe(sr)} [{rid}] (job {left[rid].job_id})")
            else:
                report.failed.append((rid, status.detail))
                log(f"FAILED {describe(sr)} [{rid}]: {status.detail}")
            del left[rid]
        if left:
            time.sleep(poll_s)
