"""The plan of an ablation run: study files found and loaded (every one validated before anything trains), their runs
merged (a run several studies share is trained once), the shard a machine takes, the state of each run (done,
finished in the work folder, checkpoint at iteration k, to do) and the dry run's table of them with their cost."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gstsn.ablate.cost import estimate_data_seconds, estimate_run_seconds, format_seconds
from gstsn.ablate.spec import RunSpec, Study, StudyError, StudyNotApplicable, StudyRun
from gstsn.ablate.store import ResultsStore, WorkDir
from gstsn.ablate.study import load_study


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
    else the checkout's ``ablations/``); no names = every ``*.toml`` there, in the files'
    ``order`` (:func:`study_order`)."""
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
    return sorted(files, key=study_order)


def study_order(path: Path) -> tuple[bool, int, str]:
    """Sort key of a study file: its ``order`` (those without one after those with one), then its name. The file is
    only peeked at here; :func:`gstsn.ablate.study.load_study` validates it."""
    try:
        order = tomllib.loads(path.read_text(encoding="utf-8")).get("order")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        order = None
    known = isinstance(order, int) and not isinstance(order, bool)
    return (not known, order if known else 0, path.stem)


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
    defaults: Mapping[str, Mapping[str, Any]] | None = None,
) -> Plan:
    """Load every study (all validated before anything runs) and merge their runs by id. ``defaults``: per study
    name (file stem), field values under the file's ``[base]`` (e.g. the resolved ``--precision``).

    A study that varies a synthetic-only field is skipped (listed in ``Plan.skipped``) when the data is not synthetic.
    """
    studies, skipped = [], []
    for f in files:
        try:
            own = (defaults or {}).get(Path(f).stem)
            studies.append(load_study(f, profile=profile, data=data, seeds=seeds, overrides=overrides, defaults=own))
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


__all__ = [
    "Plan",
    "RunState",
    "ShardError",
    "dry_run",
    "find_study_files",
    "in_shard",
    "parse_shard",
    "plan_studies",
    "run_states",
    "study_order",
]
