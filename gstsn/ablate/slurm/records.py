"""Job records (one line of ``SLURM_DIR/jobs.jsonl`` per submitted job), the outcome each job records itself
(``SLURM_DIR/outcomes/<job id>.json``) and the scheduler's view of the jobs."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gstsn.ablate.slurm.options import SlurmError
from gstsn.atomic import atomic_write_text
from gstsn.locks import exclusive_lock

JOB_RECORDS = "jobs.jsonl"
OUTCOMES_DIR = "outcomes"  # SLURM_DIR/outcomes/<job id>.json: how each job ended, written by the job (JSON)
OUTCOME_FORMAT = 1
JOB_ID = re.compile(r"[0-9]+(_[0-9]+)?")
#: Slurm job states (``squeue``/``sacct`` %T) in which a job will still run, runs now, or has ended
QUEUED_STATES = {
    "PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SUSPENDED", "STOPPED",
}  # fmt: skip
RUNNING_STATES = {"RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT"}


@dataclass
class JobRecord:
    run_id: str
    job_id: str
    stdout: str
    stderr: str
    result: str  # submitit's result pickle: recorded, never read (see job_outcome)
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


def append_records(folder: Path, records: Sequence[JobRecord]) -> None:
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


def outcome_path(folder: Path, job_id: str) -> Path | None:
    """Where the job ``job_id`` records its outcome (``SLURM_DIR/outcomes/<job id>.json``); None for a job id that is
    not Slurm's (digits, ``_``, digits), which could name a path outside the folder."""
    if not JOB_ID.fullmatch(job_id):
        return None
    return Path(folder) / OUTCOMES_DIR / f"{job_id}.json"


def write_outcome(folder: Path, job_id: str, run_id: str, outcome: str, detail: str = "") -> Path | None:
    """Record how job ``job_id`` ended (``success`` or ``error`` with the error's one-line description), written by the
    job itself, atomically (JSON: nothing in it is ever executed by the reader)."""
    path = outcome_path(folder, job_id)
    if path is None:
        return None
    entry = {
        "format": OUTCOME_FORMAT,
        "job_id": job_id,
        "run_id": run_id,
        "outcome": outcome,
        "detail": detail,
        "ended": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    atomic_write_text(path, json.dumps(entry) + "\n")
    return path


def job_outcome(rec: JobRecord, folder: Path) -> tuple[str, str] | None:
    """The outcome the job recorded (:func:`write_outcome`): ``("success", "")`` or ``("error", one line)``; None when
    it recorded none (it has not finished, was killed, or was submitted by an older gstsn).

    Only this JSON file is read. submitit's result pickle of the job is never loaded: unpickling runs whatever code
    the file names, and the folder is shared (anyone who can write there would run code as the caller)."""
    path = outcome_path(folder, rec.job_id)
    if path is None or not path.is_file():
        return None
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return "error", f"unreadable outcome file {path} ({type(exc).__name__}: {exc})"
    if (
        not isinstance(entry, dict)
        or entry.get("outcome") not in ("success", "error")
        or not isinstance(entry.get("detail", ""), str)
        or entry.get("job_id") != rec.job_id
    ):
        return "error", f"outcome file {path} is not an outcome of job {rec.job_id}"
    return entry["outcome"], entry.get("detail", "")
