"""Exclusive file locks that name their holder: a run folder, a study in the results store, a dataset being prepared.

A lock is an ``flock`` on a small file, released when the block ends or the process dies (even by SIGKILL), so a
crash never leaves a stale lock behind. After taking the lock the holder writes who it is (pid, host, start time,
command) into the file, so that a process refused the lock can say who holds it. On Linux, ``flock`` on NFS is carried
out with the server's byte-range locks (kernel ≥ 2.6.12), so the same locks hold across the nodes of a cluster sharing
one filesystem.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path


class LockHeld(RuntimeError):
    """Another process holds the lock; ``holder`` is what it wrote into the lock file (may be empty)."""

    def __init__(self, path: Path, holder: str) -> None:
        self.path, self.holder = path, holder
        who = f" ({holder})" if holder else ""
        super().__init__(f"{path} is locked by another process{who}")


def holder_text() -> str:
    """Who this process is, as written into the lock files it holds."""
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    cmd = " ".join(sys.argv)[:200]
    return f"pid {os.getpid()} on {socket.gethostname()} since {started}: {cmd}"


def read_holder(path: Path) -> str:
    with contextlib.suppress(OSError):
        return path.read_text(encoding="utf-8", errors="replace").strip()
    return ""


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike, *, blocking: bool = True) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created, with its folder, if needed) for the block. ``blocking=False``:
    raise :class:`LockHeld`, naming the holder, at once when another process holds it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            raise LockHeld(path, read_holder(path)) from None
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(holder_text() + "\n")
            fh.flush()
            yield
        finally:
            with contextlib.suppress(OSError):
                fh.seek(0)
                fh.truncate()
                fh.flush()
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


__all__ = ["LockHeld", "exclusive_lock", "holder_text", "read_holder"]
