"""Atomic file writes: a temp file in the same folder, flushed and fsynced, then renamed over the target.

A reader sees the old file or the new one, never a torn one, and the new file has the mode a plain write would give
it (the umask is respected); an interrupted write leaves only a hidden temp file that the next write of the same kind
ignores. Used by checkpoints, the results store and the report.

A write that fails for want of space (ENOSPC, or EDQUOT: over quota) removes its temp file and raises
:class:`DiskFullError`, whose message names the file, the space left there and what was kept; the ``gstsn`` command
prints it as one line and exits 1 (the input was fine: the same command succeeds once space is freed).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(OSError):
    """Writing ``path`` failed for want of space; the message names the path, the space left on its file system and
    (``kept``) what was kept or removed."""

    def __init__(self, path: str | os.PathLike, kept: str = "", cause: BaseException | None = None) -> None:
        self.path = Path(path)
        found = disk_full_cause(cause) if cause is not None else None
        code = found.errno if found is not None else errno.ENOSPC
        what = "disk quota exceeded" if code == errno.EDQUOT else "no space left on device"
        self.message = f"{what} writing {self.path} ({free_space(self.path)})" + (f"; {kept}" if kept else "")
        super().__init__(code, self.message)

    def __str__(self) -> str:
        return self.message


def disk_full_cause(exc: BaseException | None) -> OSError | None:
    """The ENOSPC / EDQUOT error behind ``exc``: itself, or one it was raised from or while handling (torch turns a
    failed write into a ``RuntimeError``; closing the file then fails again). None when the disk was not full."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def free_space(path: str | os.PathLike) -> str:
    """``"1.2 MB free of 2.1 MB on the file system of /mnt/x"``: the space left on the file system that holds
    ``path`` (its nearest existing folder)."""
    at = Path(os.path.abspath(path))
    while not at.exists() and at != at.parent:
        at = at.parent
    try:
        usage = shutil.disk_usage(at)
    except OSError as exc:
        return f"free space unknown: {exc.strerror}"
    return f"{_size(usage.free)} free of {_size(usage.total)} on the file system of {at}"


def output_folder_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be a command's output folder (created when missing): it, or a folder above it, exists and is
    no folder. None when it can. Commands check it before their work, so that the work is not lost at its end."""
    path = Path(path)
    for at in (path, *path.parents):
        if os.path.lexists(at):
            if at.is_dir():
                return None
            what = "a file" if at.is_file() else "not a folder"
            if at == path:
                return f"{path} is {what}; expected a folder (it is created when missing)"
            return f"{at} is {what}, so the folder {path} cannot be created in it"
    return None


def _size(n: int) -> str:
    return f"{n / 1e9:,.2f} GB" if n >= 1e9 else f"{n / 1e6:,.1f} MB"


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temp file beside ``path`` for writing; on a clean exit it replaces ``path``, on an error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, _new_file_mode(path))  # mkstemp makes 0600; a result file gets the mode open() would give it
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if not isinstance(exc, DiskFullError) and disk_full_cause(exc) is not None:
            kept = "the file there is left as it was" if path.exists() else "nothing was written"
            raise DiskFullError(path, kept, exc) from exc
        raise


def _umask() -> int:
    """The process's umask (read from /proc where it is, so that no other thread sees it changed)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _new_file_mode(path: Path) -> int:
    """The replaced file's mode when it exists, else 0666 less the umask (what ``open(path, "w")`` creates)."""
    with contextlib.suppress(FileNotFoundError):
        return stat.S_IMODE(path.stat().st_mode)
    return 0o666 & ~_umask()


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` all at once."""
    if not isinstance(text, str):
        raise TypeError(f"atomic_write_text needs a str for {path}, got {type(text).__name__}")
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)


def atomic_copy(src: str | os.PathLike, dest: str | os.PathLike) -> None:
    """Copy ``src`` to ``dest`` all at once."""
    with open(src, "rb") as source, atomic_open(dest, "wb") as target:
        shutil.copyfileobj(source, target)
