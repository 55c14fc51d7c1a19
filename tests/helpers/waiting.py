"""Waiting in a test for a condition, never for a length of time: a test must give the same verdict on a quiet fast
machine, a loaded one and on one core.

:func:`wait_until` polls a condition every few milliseconds (so a fast program cannot run past a progress point
between two looks) and fails naming what it waited for when the program it watches exits first, or when a bound of
minutes passes: the bound only stops a hung program, it never stands in for the condition. The progress readers
(:func:`last_logged_iteration`, :func:`checkpoint_iterations`) are what the fault-injection tests wait on.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from gstsn.results.files import TRAIN_LOG_FILE
from gstsn.train.checkpoint import list_checkpoints

T = TypeVar("T")

#: seconds between two looks at a condition: a few ms, well under one smoke-profile training iteration
POLL_S = 0.002
#: the bound on any wait: only a hung program reaches it (10 minutes; a slow machine takes seconds)
PATIENCE_S = 600.0


def wait_until(condition: Callable[[], T], what: str, *procs: subprocess.Popen, patience_s: float = PATIENCE_S) -> T:
    """Look at ``condition()`` every :data:`POLL_S` seconds until it returns a true value, and return that value.

    ``what`` completes "waiting for ...". Fails with an :class:`AssertionError` naming it when one of ``procs`` (the
    programs expected to bring the condition about) exits before it holds (with the tail of that program's stderr when
    it is a pipe), or when ``patience_s`` seconds pass.
    """
    bound = time.monotonic() + patience_s
    while True:
        ended = next((p for p in procs if p.poll() is not None), None)  # looked at before the condition: no race
        value = condition()
        if value:
            return value
        if ended is not None:
            raise AssertionError(f"{_program(ended)} exited with status {ended.returncode} before {what}{_tail(ended)}")
        if time.monotonic() > bound:
            raise AssertionError(f"gave up after {patience_s:.0f} s waiting for {what} (a hung program?)")
        time.sleep(POLL_S)


def _program(proc: subprocess.Popen) -> str:
    args = proc.args if isinstance(proc.args, list | tuple) else [proc.args]
    return " ".join(str(a) for a in args[:4]) + (" ..." if len(args) > 4 else "")


def _tail(proc: subprocess.Popen) -> str:
    if proc.stderr is None or proc.stderr.closed:
        return ""
    err = proc.stderr.read()
    err = err.decode(errors="replace") if isinstance(err, bytes) else err
    return f"; its stderr ends:\n{err[-2000:]}" if err.strip() else ""


def last_logged_iteration(run_dir: Path) -> int:
    """The last iteration in a run folder's ``train_log.csv`` (0 while it has none). A row still being written (no
    newline yet) is not counted; on a resume the log is rewritten with the rows up to the checkpoint, so the value
    can fall back once, never beyond what the earlier process logged."""
    try:
        text = (run_dir / TRAIN_LOG_FILE).read_text()
    except FileNotFoundError:
        return 0
    rows = text.split("\n")[1:-1]  # the header, and whatever follows the last newline, are no rows
    return int(rows[-1].split(",", 1)[0]) if rows else 0


def checkpoint_iterations(run_dir: Path) -> list[int]:
    """The iterations of the checkpoints in a run folder, oldest first (written atomically: a listed one is whole)."""
    return [it for it, _ in list_checkpoints(run_dir / "checkpoints")]
