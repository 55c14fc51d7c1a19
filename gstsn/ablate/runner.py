"""Run ablation studies (the plan, shards and the dry run are :mod:`gstsn.ablate.plan`; merging stores is
:mod:`gstsn.ablate.merge`).

- :func:`plan_studies` loads and validates every study file first (nothing trains before all of them are valid) and
  merges their runs: a run shared by several studies (same resolved config, same id) is trained once and its row is
  written to each of those studies.
- :func:`run_plan` runs what is missing, seed-major (every cell's seed 0, then seed 1, ...) so that a partial run
  already covers every cell; a run already in a study's ``runs.jsonl`` is skipped, a run finished in the work folder
  is only written to the studies that lack it, an interrupted run resumes from its newest checkpoint. ``jobs > 1``
  trains runs in parallel worker processes (one torch thread each by default; the workers die with the runner).
- ``shard=(i, n)``: the runs whose id, read as a hexadecimal number, is ``i`` modulo ``n`` (``0 ≤ i < n``): a
  deterministic split that does not depend on which other studies are selected, so ``--shard i/n`` jobs on several
  machines cover each run exactly once; :func:`merge_stores` joins their result folders.
- :func:`dry_run` lists every run with its estimated cost and its state (done / finished elsewhere / checkpoint at
  iteration k / to do).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gstsn.ablate.plan import Plan, RunState, run_states
from gstsn.ablate.spec import StudyRun
from gstsn.ablate.store import ResultsStore, WorkDir
from gstsn.config import CONDITIONS
from gstsn.results.metrics import metric_key
from gstsn.results.row import study_row
from gstsn.signals import TrainingInterrupted, signal_name, stop_on_signals, stop_requested

# ----------------------------------------------------------------------------------------------------------------------
# Run


Executor = Callable[..., dict[str, Any]]


@dataclass
class RunReport:
    """What :func:`run_plan` did."""

    trained: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)  # finished earlier, rows written now
    skipped: int = 0  # rows already in the store
    failed: list[tuple[str, str]] = field(default_factory=list)  # (run id, message)
    busy: list[str] = field(default_factory=list)  # locked by another process
    interrupted: bool = False  # stopped on SIGTERM / SIGINT (run_plan then raises TrainingInterrupted)
    wall_s: float = 0.0


def commit_result(store: ResultsStore, work: WorkDir, users: Sequence[StudyRun], result: dict[str, Any]) -> None:
    for sr in users:
        row = study_row(
            result["row"],
            run_id=sr.run_id,
            study=sr.study,
            cell=sr.cell.label,
            is_baseline=sr.cell.is_baseline,
            seed=sr.spec.seed,
            method=sr.spec.method,
        )
        store.commit(sr.study, row, result["tables"], work.train_log(sr.run_id))


def sync_store(
    plan: Plan,
    store: ResultsStore,
    work: WorkDir,
    report: RunReport,
    shard: tuple[int, int] | None = None,
    device_kind: str = "cpu",
) -> list[RunState]:
    """Before any run: write every study's definition, count the rows already stored (``report.skipped``) and write
    the rows of runs finished earlier (``report.copied``); returns the runs' states (this shard's). Every launcher
    starts with this."""
    for s in plan.studies:
        store.write_definition(s.definition())
    states = run_states(plan, store, work, shard, device_kind)
    report.skipped = sum(len(plan.users[st.run_id]) - len(st.studies_missing) for st in states)
    for st in states:  # finished before (another study, another invocation): only the rows are missing
        if st.todo and st.finished:
            commit_result(store, work, st.studies_missing, work.load_result(st.run_id))
            report.copied.append(st.run_id)
            st.studies_missing = []
    return states


def run_plan(
    plan: Plan,
    store: ResultsStore,
    work: WorkDir,
    *,
    shard: tuple[int, int] | None = None,
    jobs: int = 1,
    threads: int | None = None,
    device: str = "auto",
    cache_root: str | Path | None = None,
    progress: bool = True,
    executor: Executor | None = None,
    log: Callable[[str], None] | None = None,
    device_kind: str = "cpu",
    prepare: bool = True,
) -> RunReport:
    """Run every missing run of ``plan`` (this shard's) and write the rows into the store; see the module doc.

    ``executor(spec, run_dir, device=, cache_root=, progress=)`` trains and evaluates one run and returns its
    ``{"row", "tables"}`` (default :func:`gstsn.ablate.execute.execute_run`); it is called with the run's lock held.
    ``prepare``: generate / import the runs' datasets first (:func:`gstsn.ablate.execute.prepare_data`). ``threads``:
    torch threads of each run (with ``jobs`` 1, for the duration of the plan, then restored).
    """
    t0 = time.perf_counter()
    report = RunReport()
    states = sync_store(plan, store, work, report, shard, device_kind)
    echo = log or _echo
    todo = [st for st in states if st.needs_training]
    if not todo:
        report.wall_s = time.perf_counter() - t0
        return report
    if executor is None:
        from gstsn.ablate.execute import execute_run as executor
    if prepare:  # every dataset the runs need, generated or imported once, before the first run
        from gstsn.ablate.execute import check_splits, prepare_data

        sources = sorted({st.spec.config.data.source for st in todo})
        prepare_data(sources, cache_root, progress=progress, log=echo, jobs=jobs)
        check_splits([(st.spec.config.data.source, st.spec.config.data.split) for st in todo], cache_root)
    bar = _RunsBar(todo, progress)
    try:
        session = _Session(plan, store, work, executor, device, cache_root, progress, report, bar, echo)
        with stop_on_signals():  # SIGTERM / SIGINT: finish or checkpoint what runs, commit what finished, stop
            if jobs <= 1:
                _run_serial(todo, session, threads)
            else:
                _run_parallel(todo, session, jobs, threads)
            _stop_if_requested(report)
    finally:
        bar.close()
    report.wall_s = time.perf_counter() - t0
    return report


def _stop_if_requested(report: RunReport) -> None:
    """Raise :class:`TrainingInterrupted` when a stop signal came in: every committed row is in the store already, an
    interrupted run has its checkpoint, and a re-run continues."""
    signum = stop_requested()
    if signum is not None:
        report.interrupted = True
        raise TrainingInterrupted(signum)


def _echo(msg: str) -> None:
    from tqdm import tqdm

    tqdm.write(msg, file=sys.stderr)


def _describe(st: RunState, plan: Plan) -> str:
    sr = plan.users[st.run_id][0]
    return f"{sr.study}: {sr.cell.label}, seed {sr.spec.seed} [{st.run_id}]"


@dataclass
class _Session:
    """What every run of one :func:`run_plan` call shares."""

    plan: Plan
    store: ResultsStore
    work: WorkDir
    executor: Executor
    device: str
    cache_root: str | Path | None
    progress: bool
    report: RunReport
    bar: _RunsBar
    echo: Callable[[str], None]

    def attempt_args(self, st: RunState, in_worker: bool) -> dict[str, Any]:
        """The arguments of :func:`gstsn.ablate.worker.attempt_run` for ``st``."""
        progress = self.progress and not in_worker  # a worker's bar would garble the runner's
        return {"spec": st.spec, "work_root": str(self.work.root), "run_id": st.run_id, "executor": self.executor,
                "device": self.device, "cache_root": self.cache_root, "progress": progress}  # fmt: skip

    def settle(self, st: RunState, outcome: dict[str, Any]) -> None:
        """Record one run's outcome: commit its rows, or note it busy, failed or interrupted."""
        what = _describe(st, self.plan)
        if outcome.get("busy"):
            self.report.busy.append(st.run_id)
            self.echo(f"skipped {what}: another process is training it ({outcome['busy']})")
        elif "interrupted" in outcome:
            self.report.interrupted = True
            self.echo(f"stopped {what}: {outcome['interrupted']}")
        elif "error" in outcome:
            self.report.failed.append((st.run_id, outcome["error"]))
            self.echo(f"FAILED {what}: {outcome['error']}")
        else:
            commit_result(self.store, self.work, st.studies_missing, outcome)
            self.report.trained.append(st.run_id)
            self.echo(f"done {what}: {_headline(outcome['row'])}")
        self.bar.finish(st)


def _run_serial(todo: list[RunState], session: _Session, threads: int | None) -> None:
    from gstsn.ablate.worker import attempt_run, torch_threads

    with torch_threads(threads):
        for st in todo:
            _stop_if_requested(session.report)
            session.bar.start(st, _describe(st, session.plan))
            session.settle(st, attempt_run(**session.attempt_args(st, in_worker=False)))


def _headline(row: dict[str, Any]) -> str:
    vals = [f"{c} {row.get(metric_key('rank1', 'per_part', c), math.nan):.1f}" for c in CONDITIONS]
    extra = f", train {row.get('train_time_s', 0):.0f} s" if row.get("method") != "gei" else ""
    return "rank-1 " + " / ".join(vals) + extra


def _run_parallel(todo: list[RunState], session: _Session, jobs: int, threads: int | None) -> None:
    """The same runs in ``jobs`` worker processes (spawned; ``threads`` torch threads each). On a stop signal the
    workers are told, the runs not started are dropped, and the finished ones are committed as they come in."""
    from gstsn.ablate.worker import attempt_run, worker_init

    cpu = os.cpu_count() or 1
    threads = threads or max(1, cpu // jobs)
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(jobs, mp_context=ctx, initializer=worker_init, initargs=(threads, os.getpid())) as pool:
        futures = {pool.submit(attempt_run, **session.attempt_args(st, in_worker=True)): st for st in todo}
        for st in todo[:jobs]:
            session.bar.start(st, _describe(st, session.plan))
        pending, forwarded = set(futures), False
        while pending:
            finished, pending = cf.wait(pending, timeout=0.5, return_when=cf.FIRST_COMPLETED)
            signum = stop_requested()
            if signum is not None and not forwarded:
                forwarded = True
                for fut in pending:
                    fut.cancel()  # not started yet: dropped
                _forward_signal(pool, signum)
                session.echo(f"stopping on {signal_name(signum)}: the runs in progress write a checkpoint")
            for fut in finished:
                if fut.cancelled():
                    continue
                try:
                    outcome = fut.result()
                except Exception as exc:  # the worker died (killed, out of memory): the run resumes next time
                    outcome = {"error": f"{type(exc).__name__}: {exc}"}
                session.settle(futures[fut], outcome)


def _forward_signal(pool: cf.ProcessPoolExecutor, signum: int) -> None:
    """Send ``signum`` to the pool's worker processes (a signal sent to the runner's pid alone reaches only it)."""
    for pid in list(getattr(pool, "_processes", None) or {}):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


class _RunsBar:
    """The bar over runs, weighted by each run's estimated cost so that its ETA accounts for long and short runs."""

    def __init__(self, todo: list[RunState], enabled: bool) -> None:
        self.n_total = len(todo)
        self.n_done = 0
        self.bar = None
        if enabled:
            from tqdm import tqdm

            total = sum(max(st.estimate_s, 1.0) for st in todo)
            self.bar = tqdm(
                total=total,
                position=0,
                leave=True,
                dynamic_ncols=True,
                bar_format="{desc} {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]",
            )
            self._desc()

    def _desc(self) -> None:
        if self.bar is not None:
            self.bar.set_description_str(f"runs {self.n_done}/{self.n_total}", refresh=False)

    def start(self, st: RunState, what: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(what, refresh=True)

    def finish(self, st: RunState) -> None:
        self.n_done += 1
        if self.bar is not None:
            self._desc()
            self.bar.update(max(st.estimate_s, 1.0))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


__all__ = [
    "RunReport",
    "commit_result",
    "run_plan",
    "sync_store",
]
