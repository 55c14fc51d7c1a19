"""The results store (``docs/results.md`` v1, the ``<study>/`` part) and the shared work folder.

Results store, one folder per study::

    RESULTS/<study>/study.json               resolved definition (written before any run)
    RESULTS/<study>/runs.jsonl               one row per finished run
    RESULTS/<study>/tables.csv               11×11 cells of every run (run_id, distance, condition, probe_view, ...)
    RESULTS/<study>/runs/<run_id>/train_log.csv
    RESULTS/<study>/runs/<run_id>/retrieval.csv, matches.npz   rank-5/mAP/mINP/cross-view tables, who matched

Work folder (``--work``, default ``.cache/gstsn/ablation-runs``), one folder per *run*, shared by every study that
contains the run::

    WORK/<run_id>/checkpoints/ckpt-*.pt      the trainer's checkpoints (resume)
    WORK/<run_id>/train_log.csv, config.json the trainer's log and resolved config
    WORK/<run_id>/result.json                the finished run: its results row (without study fields) and its tables
    WORK/<run_id>/.lock                      held while a process trains the run

Writes are atomic: a file is written to a temp file in the same folder, flushed, fsynced and renamed over the old one.
A study's ``tables.csv`` and ``runs.jsonl`` are rewritten that way under an exclusive lock (``<study>/.lock``),
``runs.jsonl`` last, so a run's row appears complete or not at all, and re-committing a run replaces its rows instead
of duplicating them. A process killed at any point leaves a store that a restart completes.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gstsn.atomic import atomic_copy, atomic_write_text
from gstsn.config import HASHED_WHEN_SET
from gstsn.locks import LockHeld, exclusive_lock
from gstsn.results.curves import eval_curve_text
from gstsn.results.files import (
    CHECKPOINTS_DIR,
    EVAL_CURVE_FILE,
    EVAL_LOG_FILE,
    LOCK_FILE,
    RESULT_FILE,
    RUN_FILES,
    RUNS_DIR,
    STUDY_FILE,
    TABLES_FILE,
    TRAIN_LOG_FILE,
    checkpoint_iteration,
)
from gstsn.results.runs import QUARANTINE_FILE, RUNS_FILE, RunsFile, json_line, quarantine_text, read_runs
from gstsn.results.tables import TABLES_COLUMNS

RESULT_FORMAT = 1
#: per-run evaluation files copied into ``<study>/runs/<run_id>/`` (written by ``gstsn.ablate.execute``)


class StoreError(ValueError):
    """The results store or work folder is inconsistent with the request; the message says what to do."""


#: another process holds the run's lock (it is training the run now); the message names the holder
RunBusy = LockHeld


# ----------------------------------------------------------------------------------------------------------------------
# Results store


class ResultsStore:
    """The results store under ``root`` (see the module doc)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def study_dir(self, study: str) -> Path:
        return self.root / study

    def lock(self, study: str) -> contextlib.AbstractContextManager[None]:
        return exclusive_lock(self.study_dir(study) / LOCK_FILE)

    def definition(self, study: str) -> dict[str, Any] | None:
        path = self.study_dir(study) / STUDY_FILE
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise StoreError(f"{path} is not valid JSON ({exc}); remove it or use another --results folder") from None

    def write_definition(self, definition: dict[str, Any]) -> None:
        """Write ``study.json``; refuse when the folder holds another definition of the study (other axes, another
        baseline or references, or a base config field such as the profile's values or the data), so one folder
        never mixes incomparable runs. Seeds and the values of an axis may grow: the union is kept (the stored
        values first), so every finished run stays and only the new cells train."""
        study = definition["study"]
        with self.lock(study):
            old = self.definition(study)
            if old is not None:
                axes = grown_axes(old.get("axes"), definition.get("axes"))
                differs = [k for k in ("baseline", "references") if k in old and old[k] != definition.get(k)]
                differs += ["axes"] if "axes" in old and axes is None else []
                old_base, new_base = old.get("base", {}), definition.get("base", {})
                # a field added later (HASHED_WHEN_SET) that an older study.json lacks had its default value there
                old_base = {**{k: v for k, v in HASHED_WHEN_SET.items() if k in new_base}, **old_base}
                differs += [f"base.{k}" for k in new_base if k in old_base and old_base[k] != new_base[k]]
                if differs:
                    detail = "; ".join(
                        f"{k}: stored {_lookup(old, k)!r} vs now {_lookup(definition, k)!r}" for k in differs[:3]
                    )
                    raise StoreError(
                        f"{self.study_dir(study)} holds study {study!r} with another definition ({detail}). "
                        "Use another --results folder for another profile or data, or remove that folder."
                    )
                seeds = sorted(set(old.get("seeds", [])) | set(definition["seeds"]))
                definition = {**definition, "seeds": seeds, **({"axes": axes} if axes is not None else {})}
            atomic_write_text(self.study_dir(study) / STUDY_FILE, json.dumps(definition, indent=2) + "\n")

    def runs_file(self, study: str) -> RunsFile:
        """The study's ``runs.jsonl``: its rows and its damaged lines (:func:`gstsn.results.read_runs`)."""
        return read_runs(self.study_dir(study) / RUNS_FILE)

    def rows(self, study: str) -> list[dict[str, Any]]:
        return self.runs_file(study).rows

    def done_ids(self, study: str) -> set[str]:
        return {str(r.get("run_id")) for r in self.rows(study)}

    def studies(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / STUDY_FILE).is_file() or (p / RUNS_FILE).is_file())

    def commit(self, study: str, row: dict[str, Any], tables: list[list[Any]], train_log: Path | None) -> None:
        """Add (or replace) one run of ``study``: its train log (and the evaluation curve, when the trainer's
        ``eval_log.csv`` beside it holds periodic evaluations), its 11×11 cells, then its row (the commit point)."""
        run_id = str(row["run_id"])
        folder = self.study_dir(study)
        with self.lock(study):
            if train_log is not None and train_log.is_file():
                atomic_copy(train_log, folder / RUNS_DIR / run_id / TRAIN_LOG_FILE)
                curve = eval_curve_text(train_log.with_name(EVAL_LOG_FILE))
                if curve is not None:
                    atomic_write_text(folder / RUNS_DIR / run_id / EVAL_CURVE_FILE, curve)
            if train_log is not None:  # the evaluation's per-run files (retrieval tables, who matched) beside it
                for name in RUN_FILES:
                    if train_log.with_name(name).is_file():
                        atomic_copy(train_log.with_name(name), folder / RUNS_DIR / run_id / name)
            self._replace_tables(folder / TABLES_FILE, run_id, tables)
            runs = self.runs_file(study)
            moved = quarantine_text(runs)  # damaged lines are moved, never dropped: quarantine first, then rewrite
            if moved is not None:
                atomic_write_text(folder / QUARANTINE_FILE, moved)
            kept = [r for r in runs.stored_rows if str(r.get("run_id")) != run_id]  # as stored: values not blanked
            text = "".join(json_line(r) + "\n" for r in [*kept, row])
            atomic_write_text(folder / RUNS_FILE, text)

    @staticmethod
    def _replace_tables(path: Path, run_id: str, tables: list[list[Any]]) -> None:
        header = ",".join(TABLES_COLUMNS)
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
        if lines and lines[0] != header:
            raise StoreError(f"{path} has header {lines[0]!r}; expected {header!r}")
        kept = [ln for ln in lines[1:] if ln and not ln.startswith(f"{run_id},")]
        new = [",".join([run_id, *(_csv_value(v) for v in t)]) for t in tables]
        atomic_write_text(path, "\n".join([header, *kept, *new]) + "\n")


def grown_axes(stored: Any, new: Any) -> dict[str, list[Any]] | None:
    """The union of a study's stored and new axes (stored values first, new ones after), or None when they are not
    the same axes in the same order (the cells would change meaning)."""
    if not isinstance(stored, dict) or not isinstance(new, dict) or list(stored) != list(new):
        return None
    if not all(isinstance(v, list) for v in [*stored.values(), *new.values()]):
        return None
    return {name: [*stored[name], *(v for v in new[name] if v not in stored[name])] for name in stored}


def _lookup(definition: dict[str, Any], key: str) -> Any:
    """``definition[key]``, or ``definition["base"][field]`` for ``key = "base.<field>"``."""
    if key.startswith("base."):
        return definition.get("base", {}).get(key[5:])
    return definition.get(key)


def _csv_value(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if any(c in text for c in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


# ----------------------------------------------------------------------------------------------------------------------
# Work folder


class WorkDir:
    """Per-run folders shared by the studies (see the module doc)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def run_dir(self, run_id: str) -> Path:
        return self.root / run_id

    def result_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / RESULT_FILE

    def load_result(self, run_id: str) -> dict[str, Any] | None:
        """The finished run's ``{"row": ..., "tables": ...}``, or None when it has not finished."""
        path = self.result_path(run_id)
        if not path.is_file():
            return None
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return None  # cannot happen with atomic writes; treat as unfinished
        return result if result.get("format") == RESULT_FORMAT else None

    def save_result(self, run_id: str, row: dict[str, Any], tables: list[list[Any]]) -> dict[str, Any]:
        result = {"format": RESULT_FORMAT, "row": row, "tables": tables}
        atomic_write_text(self.result_path(run_id), json.dumps(result) + "\n")
        return result

    def train_log(self, run_id: str) -> Path:
        return self.run_dir(run_id) / TRAIN_LOG_FILE

    def checkpoint_iteration(self, run_id: str) -> int | None:
        """Iteration of the newest checkpoint of an unfinished run (None when there is none)."""
        folder = self.run_dir(run_id) / CHECKPOINTS_DIR
        if not folder.is_dir():
            return None
        its = [it for p in folder.iterdir() if (it := checkpoint_iteration(p.name)) is not None]
        return max(its) if its else None

    def lock(self, run_id: str, blocking: bool = False) -> contextlib.AbstractContextManager[None]:
        return exclusive_lock(self.run_dir(run_id) / LOCK_FILE, blocking=blocking)

    def run_once(self, run_id: str, execute: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
        """The run's result: the stored one, else ``execute(run_dir)`` (``{"row", "tables"}``) saved atomically.

        Runs under the run's lock; raises :class:`RunBusy` at once when another process holds it.
        """
        with self.lock(run_id):
            result = self.load_result(run_id)  # another process may have finished it meanwhile
            if result is None:
                out = execute(self.run_dir(run_id))
                result = self.save_result(run_id, out["row"], out["tables"])
            return result


__all__ = [
    "RESULT_FORMAT",
    "grown_axes",
    "ResultsStore",
    "RunBusy",
    "StoreError",
    "TABLES_COLUMNS",
    "WorkDir",
    "atomic_copy",
    "atomic_write_text",
]
