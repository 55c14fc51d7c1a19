"""Merge result folders (``--shard i/n`` jobs on several machines, or Slurm shards) into one store: each run once, its
row, 11×11 tables and per-run files."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gstsn.ablate.store import ResultsStore, StoreError
from gstsn.results.files import EVAL_CURVE_FILE, RUN_FILES, RUNS_DIR, TABLES_FILE, TRAIN_LOG_FILE
from gstsn.results.tables import parse_value


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
            have = {str(r["run_id"]): r for r in out.runs_file(study).stored_rows}
            tables = _tables_by_run(src_store.study_dir(study) / TABLES_FILE)
            for row in src_store.runs_file(study).stored_rows:  # as stored: an impossible value stays named
                rid = str(row["run_id"])
                if rid in have:
                    if _metrics(have[rid]) != _metrics(row):
                        log(f"warning: {study} run {rid} differs between sources; kept the first one")
                    continue
                log_path = src_store.study_dir(study) / RUNS_DIR / rid / TRAIN_LOG_FILE
                out.commit(study, row, tables.get(rid, []), log_path if log_path.is_file() else None)
                for extra in (EVAL_CURVE_FILE, *RUN_FILES):
                    p = src_store.study_dir(study) / RUNS_DIR / rid / extra
                    if p.is_file():
                        (out.study_dir(study) / RUNS_DIR / rid).mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(p, out.study_dir(study) / RUNS_DIR / rid / extra)
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
    "merge_stores",
]
