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
queued or running. Each job records how it ended in ``SLURM_DIR/outcomes/<job id>.json`` (success, or the error's
one line), which ``status`` reads for a job Slurm no longer lists; submitit's result pickles are never loaded here
(unpickling a file in a shared folder would run whatever code it names).

Modules: :mod:`.options` (the command-line options and the ``#SBATCH`` parameters), :mod:`.job` (what runs in a
job), :mod:`.records` (``jobs.jsonl``, the jobs' outcomes and the scheduler's states), :mod:`.status` (``gstsn
ablations status``), :mod:`.launch` (submission and waiting).
"""

from gstsn.ablate.slurm.job import RunJob, RunTask, job_id_from_env
from gstsn.ablate.slurm.launch import run_slurm, submit_runs
from gstsn.ablate.slurm.options import (
    SlurmError,
    SlurmOptions,
    add_slurm_options,
    check_slurm_dir,
    options_from_args,
    parse_sbatch_flags,
    slurm_dir,
)
from gstsn.ablate.slurm.records import JobRecord, job_outcome, load_records, scheduler_states, write_outcome
from gstsn.ablate.slurm.status import RunStatus, format_status, run_statuses

__all__ = [
    "JobRecord",
    "RunJob",
    "RunStatus",
    "RunTask",
    "SlurmError",
    "SlurmOptions",
    "add_slurm_options",
    "check_slurm_dir",
    "format_status",
    "job_id_from_env",
    "job_outcome",
    "load_records",
    "options_from_args",
    "parse_sbatch_flags",
    "run_slurm",
    "run_statuses",
    "scheduler_states",
    "slurm_dir",
    "submit_runs",
    "write_outcome",
]
