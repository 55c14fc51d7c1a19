"""Read the results store (``docs/results.md`` v1) into pandas tables, collecting what is missing.

Nothing here raises on missing or malformed result files: each problem becomes a sentence in ``problems`` that the
report prints ("tables.csv is missing: no 11×11 heatmaps"), so a partial store still renders. Only a results
directory that does not exist raises :class:`ResultsDirError`.

Shapes: ``runs`` has one row per finished run (columns = the flat runs.jsonl keys); ``tables`` one row per 11×11 cell
(run_id, distance, condition, probe_view, gallery_view, value); ``train_logs`` / ``eval_curves`` one row per logged
iteration with a ``run_id`` column added.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from gstsn.config import MODEL_NAMES
from gstsn.results.cells import cell_value
from gstsn.results.curves import (
    EVAL_CURVE_COLUMNS,
    EVAL_CURVE_FILE,
    EVAL_LOG_COLUMNS,
    EVAL_LOG_FILE,
    as_eval_curve,
)
from gstsn.results.files import RUNS_DIR, RUNS_FILE, STUDY_FILE, TABLES_FILE, TRAIN_LOG_FILE
from gstsn.results.row import row_keys
from gstsn.results.runs import SAFE_NAME, read_runs
from gstsn.results.stats import hashable, order_cells
from gstsn.results.tables import TABLES_COLUMNS, numeric_values
from gstsn.results.timing_files import (
    BENCHMARK_FILE,
    TIMING_DIR,
    TIMING_FILE,
    TIMING_REQUIRED,
    TOP_OPS_FILE,
    TOP_OPS_REQUIRED,
    TRACES_DIR,
    VERDICT_FILE,
)

MODEL_METHODS = MODEL_NAMES  # methods on the axis grid; others (e.g. "gei") are reference rows

TRAIN_LOG_COLUMNS = ("iteration", "loss", "nonzero_frac")  # required; dist_ap, dist_an, wall_time, lr optional
RUN_REQUIRED = row_keys("run_id", "cell", "seed")


class ResultsDirError(ValueError):
    """The results directory given to the report does not exist or is not a directory."""


@dataclass
class StudyData:
    """One study folder: its definition, finished runs and per-run logs, plus sentences about what is missing."""

    name: str
    path: Path
    definition: dict[str, Any]
    runs: pd.DataFrame
    tables: pd.DataFrame
    train_logs: pd.DataFrame
    eval_curves: pd.DataFrame
    problems: list[str] = field(default_factory=list)
    cells: list[str] = field(default_factory=list)  # display order
    baseline: str | None = None  # cell label of the baseline cell, if it ran
    missing_runs: list[str] = field(default_factory=list)  # "idr_stat=max, seed 2" for expected runs not in runs.jsonl
    run_roots: dict[str, Path] = field(default_factory=dict)  # run id → study folder holding it, where not ``path``

    def run_dir(self, run_id: str) -> Path:
        """The folder of run ``run_id``'s files (``runs/<id>/`` of the study folder that holds its row)."""
        return self.run_roots.get(run_id, self.path) / RUNS_DIR / run_id

    @property
    def axes(self) -> dict[str, list[Any]]:
        axes = self.definition.get("axes")
        return axes if isinstance(axes, dict) else {}


@dataclass
class TimingData:
    """The timing folder: tidy timing table, verdict, profiler top ops, trace files (relative paths) and benchmark."""

    path: Path
    timing: pd.DataFrame
    verdict: dict[str, Any]
    top_ops: pd.DataFrame
    traces: list[Path]
    benchmark: dict[str, Any]
    problems: list[str] = field(default_factory=list)


@dataclass
class LoadedResults:
    """A results folder as the report reads it: its studies, its timing folder, what is missing, merged stores."""

    root: Path
    studies: list[StudyData]
    timing: TimingData | None
    problems: list[str] = field(default_factory=list)
    references: list[ReferenceStore] = field(default_factory=list)  # stores merged in by :func:`merge_reference`


@dataclass(frozen=True)
class ReferenceStore:
    """A committed results store merged into the report (e.g. ``reference/casia-b-cpu``): where, what it holds."""

    root: Path
    studies: tuple[str, ...]
    n_runs: int
    profiles: tuple[str, ...]
    data_sources: tuple[str, ...]


def _read_json(path: Path, problems: list[str], what: str) -> dict[str, Any]:
    if not path.is_file():
        problems.append(f"{path.name} is missing: {what}")
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(f"{path.name} could not be read ({exc}): {what}")
        return {}
    if not isinstance(data, dict):
        problems.append(f"{path.name} holds a {type(data).__name__}, expected a JSON object: {what}")
        return {}
    return data


def _read_csv(path: Path, required: tuple[str, ...], problems: list[str], what: str, quiet: bool = False):
    """A CSV as a DataFrame, or an empty one (and a problem sentence) when it is absent, unreadable or lacks columns."""
    if not path.is_file():
        if not quiet:
            problems.append(f"{path.name} is missing: {what}")
        return pd.DataFrame(columns=list(required))
    try:
        df = pd.read_csv(path, dtype={"probe_view": str, "gallery_view": str, "run_id": str})
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        problems.append(f"{path} could not be read ({type(exc).__name__}: {exc}): {what}")
        return pd.DataFrame(columns=list(required))
    lacking = [c for c in required if c not in df.columns]
    if lacking:
        problems.append(f"{path} lacks column(s) {lacking} (has {list(df.columns)}): {what}")
        return pd.DataFrame(columns=list(required))
    return df


def _read_runs(path: Path, problems: list[str]) -> pd.DataFrame:
    if not path.is_file():
        problems.append("runs.jsonl is missing: no run has finished yet, so there are no numbers to show")
        return pd.DataFrame(columns=list(RUN_REQUIRED))
    runs = read_runs(path)
    problems.extend(runs.problems())
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for row in runs.rows:
        run_id = str(row["run_id"])
        lacking = [k for k in RUN_REQUIRED if k not in row]
        if lacking:
            problems.append(f"runs.jsonl: run {run_id} lacks key(s) {lacking}; skipped")
            continue
        if run_id in seen:
            problems.append(f"runs.jsonl: run {run_id} appears twice; the first row is kept")
            continue
        seen.add(run_id)
        row["run_id"] = run_id
        row["cell"] = str(row["cell"])
        rows.append(row)
    if not rows:
        problems.append("runs.jsonl holds no valid run yet: no numbers to show")
        return pd.DataFrame(columns=list(RUN_REQUIRED))
    df = pd.DataFrame(rows)
    df["seed"] = pd.to_numeric(df["seed"], errors="coerce")
    bad = df["seed"].isna()
    if bad.any():
        problems.append(f"{int(bad.sum())} run(s) have a non-integer seed; skipped: {sorted(df.loc[bad, 'run_id'])}")
        df = df.loc[~bad]
    df["seed"] = df["seed"].astype(int)
    return df


def _find_baseline(runs: pd.DataFrame, definition: dict[str, Any], problems: list[str]) -> str | None:
    if runs.empty:
        return None
    if "is_baseline" in runs.columns:
        cells = sorted(runs.loc[runs["is_baseline"].fillna(False).astype(bool), "cell"].unique())
        if len(cells) == 1:
            return str(cells[0])
        if len(cells) > 1:
            problems.append(f"several cells are marked is_baseline ({cells}); the first is used as the baseline")
            return str(cells[0])
    base = definition.get("baseline")
    if isinstance(base, dict) and base:
        for cell, part in runs.groupby("cell", sort=True):
            first = part.iloc[0]
            if all(f in part.columns and hashable(first[f]) == hashable(v) for f, v in base.items()):
                return str(cell)
        problems.append(f"no finished run matches the baseline {base}: comparisons against the baseline are missing")
    else:
        problems.append("no baseline cell is marked (is_baseline / study.json 'baseline'): no paired comparisons")
    return None


def _missing_runs(runs: pd.DataFrame, definition: dict[str, Any]) -> list[str]:
    """Expected grid runs (axes × seeds of study.json) with no row in runs.jsonl, as readable labels."""
    axes = definition.get("axes")
    seeds = definition.get("seeds")
    if not isinstance(axes, dict) or not axes or not isinstance(seeds, list):
        return []
    if not all(isinstance(v, list) and v for v in axes.values()):
        return []
    have: set[tuple] = set()
    if not runs.empty:
        grid = (
            runs if "method" not in runs.columns else runs[runs["method"].isin(MODEL_METHODS) | runs["method"].isna()]
        )
        for _, row in grid.iterrows():
            have.add((tuple(hashable(row[f]) if f in row.index else None for f in axes), int(row["seed"])))
    missing = []
    for combo in itertools.product(*(axes[f] for f in axes)):
        for seed in seeds:
            if (tuple(hashable(v) for v in combo), seed) not in have:
                label = ", ".join(f"{f}={cell_value(v)}" for f, v in zip(axes, combo, strict=True))
                missing.append(f"{label}, seed {seed}")
    return missing


def _read_per_run(study_dir: Path, runs: pd.DataFrame, name: str, required, problems: list[str], what: str):
    frames, absent = [], []
    if not runs.empty and "method" in runs:
        runs = runs[runs["method"] != "gei"]  # non-learned reference rows have no training logs or curves
    for run_id in sorted(runs["run_id"]) if not runs.empty else []:
        path = study_dir / RUNS_DIR / run_id / name
        if not path.is_file():
            absent.append(run_id)
            continue
        df = _read_csv(path, required, problems, what)
        if not df.empty:
            frames.append(df.assign(run_id=run_id))
    if absent and name == TRAIN_LOG_FILE:
        problems.append(
            f"{name} is missing for {len(absent)} of {len(runs)} run(s) ({', '.join(absent[:5])}"
            f"{', …' if len(absent) > 5 else ''}): {what}"
        )
    if not frames:
        return pd.DataFrame(columns=[*required, "run_id"])
    return pd.concat(frames, ignore_index=True)


def read_study_folder(study_dir: Path) -> StudyData:
    """Read one study folder; never raises for missing or malformed files (see ``StudyData.problems``)."""
    problems: list[str] = []
    definition = _read_json(study_dir / STUDY_FILE, problems, "the study's description, axes and seeds are unknown")
    runs = _read_runs(study_dir / RUNS_FILE, problems)
    axes = definition.get("axes") if isinstance(definition.get("axes"), dict) else {}
    if not runs.empty:
        runs = runs.sort_values(["cell", "seed", "run_id"], kind="stable").reset_index(drop=True)
        if "collapsed" in runs.columns:
            runs["collapsed"] = runs["collapsed"].fillna(False).astype(bool)
    tables = _read_csv(study_dir / TABLES_FILE, TABLES_COLUMNS, problems, "no 11×11 probe×gallery heatmaps")
    if not tables.empty:
        tables["condition"] = tables["condition"].astype(str).str.upper()
        tables = numeric_values(tables, problems)
        tables = tables.sort_values(list(TABLES_COLUMNS[:5]), kind="stable").reset_index(drop=True)
    train_logs = _read_per_run(study_dir, runs, TRAIN_LOG_FILE, TRAIN_LOG_COLUMNS, problems, "no training curves")
    eval_curves = _read_per_run(study_dir, runs, EVAL_CURVE_FILE, EVAL_CURVE_COLUMNS, problems, "")
    legacy = _read_per_run(study_dir, runs, EVAL_LOG_FILE, EVAL_LOG_COLUMNS, problems, "")
    if not legacy.empty:  # the trainer's own log, read in place of eval_curve.csv (gstsn.results.curves)
        legacy = as_eval_curve(legacy)
        legacy = legacy[~legacy["run_id"].isin(set(eval_curves["run_id"]))]
        eval_curves = pd.concat([eval_curves, legacy[[*EVAL_CURVE_COLUMNS, "run_id"]]], ignore_index=True)
    if not eval_curves.empty:
        eval_curves["condition"] = eval_curves["condition"].astype(str).str.upper()
    baseline = _find_baseline(runs, definition, problems)
    missing = _missing_runs(runs, definition)
    if not runs.empty and (study_dir / RUNS_DIR).is_dir():
        unfinished = sorted(
            p.name for p in (study_dir / RUNS_DIR).iterdir() if p.is_dir() and p.name not in set(runs.run_id)
        )
        if unfinished:
            problems.append(
                f"{len(unfinished)} run folder(s) have no row in runs.jsonl yet (unfinished or interrupted "
                f"runs, not shown): {', '.join(unfinished[:5])}{', …' if len(unfinished) > 5 else ''}"
            )
    return StudyData(
        name=study_dir.name,
        path=study_dir,
        definition=definition,
        runs=runs,
        tables=tables,
        train_logs=train_logs,
        eval_curves=eval_curves,
        problems=problems,
        cells=order_cells(runs, axes),
        baseline=baseline,
        missing_runs=missing,
    )


def load_timing(timing_dir: Path) -> TimingData:
    """Read the timing folder; never raises for missing or malformed files (see ``TimingData.problems``)."""
    problems: list[str] = []
    timing = _read_csv(timing_dir / TIMING_FILE, TIMING_REQUIRED, problems, "no timing tables or plots")
    if not timing.empty:
        keys = [
            c
            for c in (
                "phase",
                "device",
                "dtype",
                "model",
                "temporal",
                "idr_stat",
                "lstm_layers",
                "input_type",
                "batch",
                "frames",
            )
            if c in timing.columns
        ]
        timing = timing.sort_values(keys, kind="stable", na_position="first").reset_index(drop=True)
    verdict = _read_json(timing_dir / VERDICT_FILE, problems, "no timing verdict (GSTSN/GaitSet time ratio)")
    top_ops = _read_csv(timing_dir / TOP_OPS_FILE, TOP_OPS_REQUIRED, problems, "no profiler top-ops tables")
    if not top_ops.empty:
        top_ops = top_ops.sort_values(["model_variant", "self_cpu_ms", "op"], ascending=[True, False, True])
    traces_dir = timing_dir / TRACES_DIR
    traces = (
        sorted(p.relative_to(timing_dir) for p in traces_dir.rglob("*.json*") if p.is_file())
        if traces_dir.is_dir()
        else []
    )
    if not traces:
        problems.append(f"{TRACES_DIR}/ holds no profiler trace: no trace links")
    benchmark = _read_json(timing_dir / BENCHMARK_FILE, [], "")
    return TimingData(timing_dir, timing, verdict, top_ops, traces, benchmark, problems)


def study_order(study: StudyData) -> tuple[bool, int, str]:
    """Sort key of a study: the ``order`` of its study file (kept in study.json; studies without one come after those
    with one), then its name."""
    order = study.definition.get("order")
    known = isinstance(order, int) and not isinstance(order, bool)
    return (not known, order if known else 0, study.name)


def load_results(root: Path) -> LoadedResults:
    """Read every study folder and the timing folder under ``root`` (sorted, so the report is deterministic)."""
    root = Path(root)
    if not root.is_dir():
        raise ResultsDirError(
            f"results directory {root} does not exist or is not a directory; expected the folder "
            "the ablation runner and the timing suite write (default ./results)"
        )
    problems: list[str] = []
    studies = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and p.name != TIMING_DIR):
        if not ((sub / STUDY_FILE).is_file() or (sub / RUNS_FILE).is_file()):
            problems.append(
                f"folder {sub.name}/ has neither study.json nor runs.jsonl; it is not a study and is skipped"
            )
            continue
        if not SAFE_NAME.match(sub.name):
            problems.append(f"study folder {sub.name!r} is not a plain name (letters, digits, _ . = + -); skipped")
            continue
        studies.append(read_study_folder(sub))
    studies.sort(key=study_order)
    timing = load_timing(root / TIMING_DIR) if (root / TIMING_DIR).is_dir() else None
    if not studies:
        problems.append(f"no study folder under {root}: run `nox -s ablations` (or `gstsn ablations run`) first")
    if timing is None:
        problems.append(f"no {TIMING_DIR}/ folder under {root}: run `nox -s timing` for the timing page")
    return LoadedResults(root, studies, timing, problems)
