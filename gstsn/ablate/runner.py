"""Plan, run, shard, dry-run and merge ablation studies.

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
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gstsn.ablate.cost import estimate_data_seconds, estimate_run_seconds, format_seconds
from gstsn.ablate.store import RUN_FILES, ResultsStore, StoreError, WorkDir
from gstsn.ablate.study import RunSpec, Study, StudyError, StudyNotApplicable, StudyRun, load_study
from gstsn.config import CONDITIONS, STUDY_ORDER
from gstsn.results.curves import EVAL_CURVE_FILE
from gstsn.results.metrics import metric_key
from gstsn.results.tables import parse_value
from gstsn.signals import TrainingInterrupted, signal_name, stop_on_signals, stop_requested

#: study files run in this order (the headline first); others follow alphabetically


class ShardError(ValueError):
    """``--shard`` is not ``i/n`` with ``0 ≤ i < n``."""


def parse_shard(text: str) -> tuple[int, int]:
    """``"1/4"`` → ``(1, 4)``; shards are numbered from 0."""
    idx, sep, total = text.partition("/")
    try:
        i, n = int(idx), int(total)
    except ValueError:
        i, n = -1, 0
    if not sep or n < 1 or not 0 <= i < n:
        raise ShardError(f"--shard {text!r} is invalid; expected i/n with 0 ≤ i < n, e.g. 0/4 ... 3/4")
    return i, n


def in_shard(run_id: str, shard: tuple[int, int] | None) -> bool:
    if shard is None:
        return True
    i, n = shard
    return int(run_id, 16) % n == i


def find_study_files(names: Sequence[str] = (), studies_dir: str | Path | None = None) -> list[Path]:
    """Study files: each name is a path to a TOML file or a study name in ``studies_dir`` (default ``./ablations``,
    else the checkout's ``ablations/``); no names = every ``*.toml`` there, in :data:`STUDY_ORDER`."""
    folder = Path(studies_dir) if studies_dir is not None else _default_studies_dir()
    if names:
        out = []
        for name in names:
            p = Path(name)
            if p.suffix == ".toml" or p.is_file():
                out.append(p)
                continue
            candidate = folder / f"{name}.toml"
            if not candidate.is_file():
                known = sorted(q.stem for q in folder.glob("*.toml")) if folder.is_dir() else []
                raise StudyError(f"unknown study {name!r}: no {candidate}; studies there: {', '.join(known) or 'none'}")
            out.append(candidate)
        return out
    if not folder.is_dir():
        raise StudyError(f"no study folder {folder}; run from the checkout or pass --studies-dir")
    files = list(folder.glob("*.toml"))
    if not files:
        raise StudyError(f"{folder} holds no *.toml study files")
    rank = {n: i for i, n in enumerate(STUDY_ORDER)}
    return sorted(files, key=lambda p: (rank.get(p.stem, len(rank)), p.stem))


def _default_studies_dir() -> Path:
    here = Path("ablations")
    if here.is_dir():
        return here
    checkout = Path(__file__).resolve().parents[2] / "ablations"
    return checkout if checkout.is_dir() else here


# ----------------------------------------------------------------------------------------------------------------------
# Plan


@dataclass
class Plan:
    """Validated studies and their runs; ``runs`` holds each distinct run once, in execution order (seed-major)."""

    studies: list[Study]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (study file, reason)
    runs: dict[str, RunSpec] = field(default_factory=dict)
    users: dict[str, list[StudyRun]] = field(default_factory=dict)  # run id -> the studies' views of it

    @property
    def study_runs(self) -> list[StudyRun]:
        return [sr for s in self.studies for sr in s.runs]


def plan_studies(
    files: Sequence[str | Path],
    *,
    profile: str | None = None,
    data: str | None = None,
    seeds: Sequence[int] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Plan:
    """Load every study (all validated before anything runs) and merge their runs by id.

    A study that varies a synthetic-only field is skipped (listed in ``Plan.skipped``) when the data is not synthetic.
    """
    studies, skipped = [], []
    for f in files:
        try:
            studies.append(load_study(f, profile=profile, data=data, seeds=seeds, overrides=overrides))
        except StudyNotApplicable as exc:
            skipped.append((str(f), str(exc)))
    names = [s.name for s in studies]
    if len(set(names)) != len(names):
        raise StudyError(f"two study files have the same name: {sorted(n for n in names if names.count(n) > 1)}")
    plan = Plan(studies, skipped)
    order: dict[str, tuple[int, int]] = {}
    for s in studies:
        for sr in s.runs:
            plan.users.setdefault(sr.run_id, []).append(sr)
            if sr.run_id not in order:
                order[sr.run_id] = (s.seeds.index(sr.spec.seed), len(order))
                plan.runs[sr.run_id] = sr.spec
    plan.runs = {rid: plan.runs[rid] for rid in sorted(order, key=order.get)}
    return plan


# ----------------------------------------------------------------------------------------------------------------------
# State of each run


@dataclass
class RunState:
    """Where a run stands: which studies still lack its row, whether it finished, its checkpoint, its cost."""

    run_id: str
    spec: RunSpec
    studies_missing: list[StudyRun]
    finished: bool  # result.json exists in the work folder
    checkpoint: int | None
    estimate_s: float

    @property
    def todo(self) -> bool:
        return bool(self.studies_missing)

    @property
    def needs_training(self) -> bool:
        return self.todo and not self.finished

    def status(self) -> str:
        if not self.todo:
            return "done"
        if self.finished:
            return "finished (to copy into the studies)"
        if self.checkpoint is not None:
            return f"resume from iteration {self.checkpoint}"
        return "to do"


def run_states(
    plan: Plan, store: ResultsStore, work: WorkDir, shard: tuple[int, int] | None = None, device_kind: str = "cpu"
) -> list[RunState]:
    done = {s.name: store.done_ids(s.name) for s in plan.studies}
    measured = _measured_costs(store, plan)
    states = []
    for rid, spec in plan.runs.items():
        if not in_shard(rid, shard):
            continue
        missing = [sr for sr in plan.users[rid] if rid not in done[sr.study]]
        finished = work.load_result(rid) is not None
        ckpt = None if finished else work.checkpoint_iteration(rid)
        est = estimate_run_seconds(
            spec, measured, device_kind, done_fraction=(ckpt or 0) / spec.config.train.iterations
        )
        states.append(RunState(rid, spec, missing, finished, ckpt, 0.0 if finished else est))
    return states


def _measured_costs(store: ResultsStore, plan: Plan) -> list[dict[str, Any]]:
    rows = []
    for s in plan.studies:
        rows.extend(store.rows(s.name))
    return rows


# ----------------------------------------------------------------------------------------------------------------------
# Dry run


def dry_run(
    plan: Plan,
    store: ResultsStore,
    work: WorkDir,
    shard: tuple[int, int] | None = None,
    cache_root: Path | None = None,
    device: str = "cpu",
    jobs: int = 1,
) -> str:
    """A table of every run (this shard's): study/cell/seed, id, estimated cost on ``device`` (``cpu``/``cuda``),
    state; then totals, and the wall time with ``jobs`` runs at once (each on a core of its own)."""
    states = run_states(plan, store, work, shard, device)
    lines = []
    for f, reason in plan.skipped:
        lines.append(f"skipped {f}: {reason}")
    by_id = {st.run_id: st for st in states}
    header = f"{'study':<18} {'cell':<40} {'seed':>4}  {'run_id':<12} {'est.':>8}  state"
    lines.append(header)
    lines.append("-" * len(header))
    for s in plan.studies:
        for sr in s.runs:
            st = by_id.get(sr.run_id)
            if st is None:
                continue
            in_study = sr not in st.studies_missing
            state = "done" if in_study else st.status()
            shared = len(plan.users[sr.run_id]) > 1
            note = (
                f" (shared with {', '.join(u.study for u in plan.users[sr.run_id] if u.study != s.name)})"
                if shared
                else ""
            )
            est = "-" if in_study or st.finished else format_seconds(st.estimate_s)
            lines.append(f"{s.name:<18} {sr.cell.label:<40} {sr.spec.seed:>4}  {sr.run_id:<12} {est:>8}  {state}{note}")
    todo = [st for st in states if st.needs_training]
    data_s = estimate_data_seconds([st.spec for st in todo], cache_root)
    n_rows = sum(len(st.studies_missing) for st in states)
    lines.append("-" * len(header))
    total_rows = sum(len(plan.users[st.run_id]) for st in states)
    lines.append(
        f"{len(plan.study_runs)} study runs, {len(plan.runs)} distinct runs"
        + (f" ({len(states)} in shard {shard[0]}/{shard[1]})" if shard else "")
        + f"; {total_rows - n_rows} rows done, {len(todo)} runs to train"
        + f", {sum(1 for st in states if st.todo and st.finished)} finished runs to copy"
    )
    train_s = sum(st.estimate_s for st in todo)
    n_sources = len({st.spec.config.data.source for st in todo})
    wall = data_s / max(1, min(jobs, n_sources)) + train_s / max(1, min(jobs, len(todo)))
    lines.append(
        f"estimated time left: {format_seconds(wall)} with {jobs} job(s) at once "
        f"(one process: training + evaluation {format_seconds(train_s)}, data generation {format_seconds(data_s)}); "
        "each job needs a core of its own, a busy machine takes longer"
    )
    return "\n".join(lines)


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


def study_row(sr: StudyRun, base_row: dict[str, Any]) -> dict[str, Any]:
    """A results row for one study: the study fields first, then the run's row."""
    ident = {
        "run_id": sr.run_id,
        "study": sr.study,
        "cell": sr.cell.label,
        "is_baseline": sr.cell.is_baseline,
        "seed": sr.spec.seed,
        "method": sr.spec.method,
    }
    return {**ident, **{k: v for k, v in base_row.items() if k not in ident}}


def commit_result(store: ResultsStore, work: WorkDir, users: Sequence[StudyRun], result: dict[str, Any]) -> None:
    for sr in users:
        store.commit(sr.study, study_row(sr, result["row"]), result["tables"], work.train_log(sr.run_id))


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
        """The arguments of :func:`gstsn.ablate.execute.attempt_run` for ``st``."""
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
    from gstsn.ablate.execute import attempt_run, torch_threads

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
    from gstsn.ablate.execute import attempt_run, worker_init

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


# ----------------------------------------------------------------------------------------------------------------------
# Merge


def merge_stores(sources: Sequence[str | Path], dest: str | Path, log: Callable[[str], None] = print) -> dict[str, int]:
    """Merge result folders (e.g. one per ``--shard``) into ``dest``: per study, the union of the runs by id.

    The studies' definitions must agree (seeds are united). A run present in several sources keeps the first
    source's row (a warning names runs whose metrics differ). Returns rows added per study.
    """
    out = ResultsStore(dest)
    added: dict[str, int] = {}
    for src in sources:
        src_store = ResultsStore(src)
        if not src_store.root.is_dir():
            raise StoreError(f"merge source {src} is not a folder")
        for study in src_store.studies():
            definition = src_store.definition(study)
            if definition is None:
                raise StoreError(f"{src_store.study_dir(study)} has runs.jsonl but no study.json; cannot merge it")
            out.write_definition(definition)
            have = {str(r["run_id"]): r for r in out.rows(study)}
            tables = _tables_by_run(src_store.study_dir(study) / "tables.csv")
            for row in src_store.rows(study):
                rid = str(row["run_id"])
                if rid in have:
                    if _metrics(have[rid]) != _metrics(row):
                        log(f"warning: {study} run {rid} differs between sources; kept the first one")
                    continue
                log_path = src_store.study_dir(study) / "runs" / rid / "train_log.csv"
                out.commit(study, row, tables.get(rid, []), log_path if log_path.is_file() else None)
                for extra in (EVAL_CURVE_FILE, *RUN_FILES):
                    p = src_store.study_dir(study) / "runs" / rid / extra
                    if p.is_file():
                        (out.study_dir(study) / "runs" / rid).mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(p, out.study_dir(study) / "runs" / rid / extra)
                have[rid] = row
                added[study] = added.get(study, 0) + 1
    return added


def _metrics(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k.startswith("rank1")}


def _tables_by_run(path: Path) -> dict[str, list[list[Any]]]:
    import csv

    out: dict[str, list[list[Any]]] = {}
    if not path.is_file():
        return out
    with path.open(newline="", encoding="utf-8") as fh:
        for lineno, rec in enumerate(csv.DictReader(fh), start=2):
            value = parse_value(rec.get("value"))
            if value is None:
                raise StoreError(f"{path} line {lineno}: value {rec.get('value')!r} is not a number; fix or remove it")
            out.setdefault(rec["run_id"], []).append(
                [rec["distance"], rec["condition"], rec["probe_view"], rec["gallery_view"], value]
            )
    return out


__all__ = [
    "Plan",
    "RunReport",
    "RunState",
    "STUDY_ORDER",
    "ShardError",
    "commit_result",
    "dry_run",
    "find_study_files",
    "in_shard",
    "merge_stores",
    "parse_shard",
    "plan_studies",
    "run_plan",
    "run_states",
    "study_row",
    "sync_store",
]
