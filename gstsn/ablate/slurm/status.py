"""``gstsn ablations status``: each run's state from the store, the job records and the scheduler."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gstsn.ablate.plan import Plan, RunState, run_states
from gstsn.ablate.slurm import records
from gstsn.ablate.slurm.job import describe
from gstsn.ablate.slurm.records import QUEUED_STATES, RUNNING_STATES, JobRecord, job_outcome, load_records
from gstsn.ablate.spec import StudyRun
from gstsn.ablate.store import ResultsStore, WorkDir


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
    states = run_states(plan, store, work, shard)
    known = load_records(folder)
    sched = records.scheduler_states([known[st.run_id].job_id for st in states if st.run_id in known and st.todo])
    out = {}
    for st in states:
        done_in = {sr.study for sr in plan.users[st.run_id]} - {sr.study for sr in st.studies_missing}
        out[st.run_id] = (_status_of(st, known.get(st.run_id), sched, folder), done_in)
    return out


def _status_of(st: RunState, rec: JobRecord | None, sched: dict[str, str], folder: Path) -> RunStatus:
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
    outcome = job_outcome(rec, folder)  # the job's own JSON; submitit's result pickle is never loaded
    if outcome is not None and outcome[0] == "error":
        return RunStatus(st.run_id, users, "failed", f"job {rec.job_id}: {outcome[1]}; log {rec.stderr}", rec)
    if outcome is not None:  # success but no row: the commit was lost (cannot happen unless the store was edited)
        return RunStatus(st.run_id, users, "failed", f"job {rec.job_id} succeeded but its row is missing", rec)
    how = state or "no longer known to Slurm"
    return RunStatus(
        st.run_id, users, "failed", f"job {rec.job_id} {how}, no outcome recorded ({ckpt}); log {rec.stderr}", rec
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
                failed.append(f"  {describe(sr)} [{sr.run_id}]: {status.detail}")
            elif state == "running":
                running.append(f"  {describe(sr)} [{sr.run_id}]: {status.detail}")
            elif state == "done" and status.detail:
                notes.append(f"  {describe(sr)} [{sr.run_id}]: {status.detail}")
        lines.append(f"{s.name:<22} " + " ".join(f"{counts[k]:>8}" for k in counts))
    if running:
        lines += ["", "running:", *running]
    if failed:
        lines += ["", "failed:", *failed]
    if notes:
        lines += ["", "note:", *notes]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------------------
