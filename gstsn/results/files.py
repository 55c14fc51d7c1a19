"""The file names of a results store and of a run folder: one place, read by every writer and reader.

A store: ``<study>/study.json`` (the study's definition), ``runs.jsonl`` (one row per run; damaged lines move to
``runs.quarantined.jsonl``), ``tables.csv`` (the 11×11 tables), ``runs/<run id>/`` (each run's logs and retrieval
files). A run folder (the trainer's, under the work folder): ``config.json``, ``train_log.csv``, ``eval_log.csv``,
``result.json`` (what the ablation runner commits; ``gstsn train`` writes ``results.json`` and ``results.csv``
instead), ``retrieval.csv`` and ``matches.npz`` (who matched), and the
trainer's ``checkpoints/ckpt-0001000.pt`` (the iteration, zero-padded to 7 digits: :func:`checkpoint_name`, read back
by :func:`checkpoint_iteration`, the one parser of those names).
"""

from __future__ import annotations

import re

# a study's folder in a results store
STUDY_FILE = "study.json"
RUNS_FILE = "runs.jsonl"
QUARANTINE_FILE = "runs.quarantined.jsonl"
TABLES_FILE = "tables.csv"
RUNS_DIR = "runs"
LOCK_FILE = ".lock"  # in a study folder: held while a process rewrites it; in a run folder: while one trains the run

# a run's folder
CONFIG_FILE = "config.json"
TRAIN_LOG_FILE = "train_log.csv"
EVAL_LOG_FILE = "eval_log.csv"  # the trainer's periodic evaluations
EVAL_CURVE_FILE = "eval_curve.csv"  # the same, in the store's curve columns
RESULT_FILE = "result.json"
RETRIEVAL_FILE = "retrieval.csv"
MATCHES_FILE = "matches.npz"
#: per-run files the results store copies beside train_log.csv when a run has them
RUN_FILES = (RETRIEVAL_FILE, MATCHES_FILE)
# what ``gstsn train`` / ``gstsn eval`` write into their run folder (the ablation runner commits result.json instead)
TRAIN_RESULTS_FILE = "results.json"
TRAIN_RESULTS_CSV = "results.csv"
CHECKPOINTS_DIR = "checkpoints"  # the trainer's checkpoints, one file per saved iteration

_CHECKPOINT_NAME = re.compile(r"^ckpt-(\d{7,})\.pt$")


def checkpoint_name(iteration: int) -> str:
    """The file name of the checkpoint of ``iteration``: ``checkpoint_name(1000)`` → ``ckpt-0001000.pt``."""
    return f"ckpt-{iteration:07d}.pt"


def checkpoint_iteration(name: str) -> int | None:
    """The iteration a checkpoint file name holds (``ckpt-0001000.pt`` → 1000); None for any other name (a damaged
    one set aside as ``ckpt-0001000.pt.damaged``, a temp file, another file)."""
    found = _CHECKPOINT_NAME.match(name)
    return int(found.group(1)) if found else None


__all__ = [
    "CHECKPOINTS_DIR",
    "CONFIG_FILE",
    "EVAL_CURVE_FILE",
    "EVAL_LOG_FILE",
    "LOCK_FILE",
    "MATCHES_FILE",
    "QUARANTINE_FILE",
    "RESULT_FILE",
    "RETRIEVAL_FILE",
    "RUNS_DIR",
    "RUNS_FILE",
    "RUN_FILES",
    "STUDY_FILE",
    "TABLES_FILE",
    "TRAIN_LOG_FILE",
    "TRAIN_RESULTS_CSV",
    "TRAIN_RESULTS_FILE",
    "checkpoint_iteration",
    "checkpoint_name",
]
