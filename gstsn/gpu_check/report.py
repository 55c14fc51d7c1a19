"""The GPU check's output folder: its file names, and the JSON report and log written as the run goes.

At most 8 files, flat (docs/gpu.md): the report (:data:`REPORT_FILE`), the tables (:data:`SUMMARY_FILE`), the log
(:data:`LOG_FILE`), the cuda tests' JUnit XML (:data:`TESTS_XML_FILE`), the trainer's two logs and the compact
checkpoint's two files.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from gstsn.atomic import atomic_write_text
from gstsn.results.files import EVAL_LOG_FILE, TRAIN_LOG_FILE
from gstsn.train.compact import MOMENTS_FILE, STATE_FILE

REPORT_FILE = "gpu_check.json"
SUMMARY_FILE = "summary.txt"
LOG_FILE = "log.txt"
TESTS_XML_FILE = "cuda_tests.xml"
OUTPUT_FILES: tuple[str, ...] = (
    REPORT_FILE,
    SUMMARY_FILE,
    LOG_FILE,
    TESTS_XML_FILE,
    TRAIN_LOG_FILE,
    EVAL_LOG_FILE,
    STATE_FILE,
    MOMENTS_FILE,
)


class Report:
    """The JSON report and the log, written as the run goes so that a killed run leaves what it measured."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.data: dict[str, Any] = {"schema": 1, "kind": "gstsn gpu_check"}
        self._log = (out / LOG_FILE).open("a", encoding="utf-8")
        self._lock = threading.Lock()
        self.t0 = time.monotonic()

    def log(self, msg: str) -> None:
        line = f"[{time.monotonic() - self.t0:7.1f}s] {msg}"
        with self._lock:
            print(line, flush=True)
            self._log.write(line + "\n")
            self._log.flush()

    def raw(self, text: str) -> None:
        """``text`` (a subprocess's output, a traceback) into the log as it is, not printed."""
        with self._lock:
            self._log.write(text if text.endswith("\n") else text + "\n")
            self._log.flush()

    def save(self) -> None:
        with self._lock:
            atomic_write_text(self.out / REPORT_FILE, json.dumps(self.data, indent=2, default=json_default) + "\n")

    def write_summary(self, text: str) -> None:
        (self.out / SUMMARY_FILE).write_text(text + "\n", encoding="utf-8")


def json_default(obj: Any) -> Any:
    """A NumPy number as the Python number, anything else JSON cannot write as its text: a report never fails."""
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    return str(obj)


def earlier_report(folder: Path | None) -> dict[str, Any]:
    """The report a resumed call finds beside its checkpoint (its matrix picks the training mode); {} when none."""
    path = folder / REPORT_FILE if folder is not None else None
    if path is None or not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


__all__ = [
    "LOG_FILE",
    "OUTPUT_FILES",
    "REPORT_FILE",
    "SUMMARY_FILE",
    "TESTS_XML_FILE",
    "Report",
    "earlier_report",
    "json_default",
]
