"""The Slurm launcher's command-line options and the ``#SBATCH`` parameters of its jobs."""

from __future__ import annotations

import argparse
import math
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gstsn.ablate.store import StoreError, WorkDir


class SlurmError(StoreError):
    """The Slurm launcher cannot do what was asked (no Slurm here, bad option); the message says what to do."""


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
    words = [w for text in flags for w in _split(text)]
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


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise SlurmError(
            f"--sbatch {text!r}: {exc}; expected sbatch flags as a shell splits them, e.g. "
            "--sbatch='--qos=low --comment=\"two words\"'"
        ) from None


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
    """The options of ``run --launcher slurm``, every one checked before anything is submitted."""
    for name in ("gpus_per_job", "max_requeues"):
        if getattr(args, name) < 0:
            raise SlurmError(f"--{name.replace('_', '-')} {getattr(args, name)}: expected 0 or more")
    for name in ("cpus_per_job", "time_limit"):
        if getattr(args, name) < 1:
            raise SlurmError(f"--{name.replace('_', '-')} {getattr(args, name)}: expected at least 1")
    if args.mem_gb is not None and not (math.isfinite(args.mem_gb) and args.mem_gb > 0):
        raise SlurmError(f"--mem-gb {args.mem_gb}: expected a positive number of GB")
    if not (math.isfinite(args.poll) and args.poll > 0):
        raise SlurmError(f"--poll {args.poll}: expected a positive number of seconds between checks")
    folder = Path(args.slurm_dir) if args.slurm_dir is not None else slurm_dir(work)
    check_slurm_dir(folder, "--slurm-dir" if args.slurm_dir is not None else "the Slurm folder")
    opts = SlurmOptions(
        folder=folder,
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


def check_slurm_dir(folder: Path, option: str, must_exist: bool = False) -> None:
    """``folder`` can hold the jobs' files: a folder, or (unless ``must_exist``: ``status --slurm-dir``, which reads
    the job records of an earlier submission) not there yet."""
    if folder.exists() and not folder.is_dir():
        raise SlurmError(f"{option} {folder} is a file; expected the folder of the Slurm jobs' records and logs")
    if must_exist and not folder.is_dir():
        raise SlurmError(
            f"{option} {folder} does not exist; expected the folder of the Slurm jobs' records and logs "
            f"(the --slurm-dir given to `gstsn ablations run --launcher slurm`, default WORK/slurm)"
        )


def slurm_dir(work: WorkDir) -> Path:
    return work.root / "slurm"


# ----------------------------------------------------------------------------------------------------------------------
# The job
