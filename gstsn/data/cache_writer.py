"""Writing a cache atomically: rows streamed into a partial folder (stale partials of dead writers removed), the
index, meta.json and its fingerprint, then one rename. A write that fails (a full disk included) removes the partial
folder; a full disk raises :class:`gstsn.atomic.DiskFullError` naming the cache, the space left and what was kept."""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from gstsn.atomic import DiskFullError, disk_full_cause
from gstsn.data.cache_format import (
    FINGERPRINT_METHOD,
    FORMAT_NAME,
    FORMAT_VERSION,
    FRAMES_FILE,
    INDEX_COLUMNS,
    INDEX_FILE,
    META_FILE,
    NPY_HEADER_BYTES,
    CacheError,
    Fingerprint,
    pack_frames,
    packed_width,
    partial_dirs,
    write_stamp,
)
from gstsn.data.naming import SHORT_SEQUENCE_FRAMES, full_grid


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _npy_header(shape: tuple[int, ...]) -> bytes:
    """A version-1.0 ``.npy`` header for uint8 C-order ``shape``, padded to exactly ``NPY_HEADER_BYTES``."""
    text = "{'descr': '|u1', 'fortran_order': False, 'shape': %r, }" % (tuple(int(s) for s in shape),)  # noqa: UP031
    body_len = NPY_HEADER_BYTES - 10  # magic (6) + version (2) + header length (2)
    if len(text) + 1 > body_len:
        raise CacheError(f"frames shape {shape} does not fit the reserved .npy header")
    body = text.ljust(body_len - 1) + "\n"
    return b"\x93NUMPY\x01\x00" + body_len.to_bytes(2, "little") + body.encode("latin1")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_partials(dest: Path) -> None:
    """Remove temp dirs of earlier writes to ``dest`` whose process is gone (an import killed mid-way)."""
    for p in partial_dirs(dest):
        try:
            pid = int(p.name.rsplit(".partial-", 1)[1].split("-")[0])
        except ValueError:
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(p, ignore_errors=True)


class CacheWriter:
    """Streams sequences into a new cache at ``dest``; nothing appears at ``dest`` until :meth:`finish`.

    Use as a context manager: leaving the block without :meth:`finish` (or by an exception) removes the temp dir.
    ``add``/``add_packed`` append one sequence; rows may arrive in any order (they are sorted at the end), a repeated
    ``(subject, seq_type, view)`` raises :class:`CacheError`. ``skip`` records a sequence a reader left out.
    """

    def __init__(self, dest: str | os.PathLike, height: int, width: int, *, overwrite: bool = False) -> None:
        self.dest = Path(dest)
        if self.dest.exists() and not overwrite:
            raise CacheError(f"{self.dest} already exists; remove it or pass --overwrite (overwrite=True from Python)")
        for name, v in (("height", height), ("width", width)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
                raise CacheError(f"cache {name} must be a positive integer; got {v!r}")
        self.height, self.width, self.packed_width = int(height), int(width), packed_width(width)
        self.overwrite = overwrite
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_partials(self.dest)
        self.tmp = self.dest.parent / f".{self.dest.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._file: BinaryIO | None = None
        self._done = False
        try:
            self.tmp.mkdir()
            self._file = open(self.tmp / FRAMES_FILE, "wb")  # noqa: SIM115 - closed in finish/abort
            self._file.write(b"\0" * NPY_HEADER_BYTES)
        except BaseException as exc:
            self._fail(exc)
            raise
        self._rows: list[tuple[str, str, str, int, int]] = []
        self._keys: set[tuple[str, str, str]] = set()
        self._skipped: list[dict[str, Any]] = []
        self._n_frames = 0
        self._hash = Fingerprint()

    def __enter__(self) -> CacheWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self._done:
            self.abort()

    @property
    def n_frames(self) -> int:
        return self._n_frames

    @property
    def n_sequences(self) -> int:
        return len(self._rows)

    @property
    def skipped(self) -> list[dict[str, Any]]:
        """The sequences recorded with :meth:`skip` so far."""
        return list(self._skipped)

    def has(self, subject: str, seq_type: str, view: str) -> bool:
        return (subject, seq_type, view) in self._keys

    def add(self, subject: str, seq_type: str, view: str, frames: np.ndarray) -> None:
        """Append one sequence of binary frames uint8 ``(T, H, W)`` in {0, 1}."""
        frames = np.asarray(frames)
        if frames.ndim != 3 or frames.shape[1:] != (self.height, self.width):
            raise CacheError(
                f"sequence {subject}/{seq_type}/{view}: frames of shape {frames.shape}; expected (T, {self.height}, "
                f"{self.width})"
            )
        self.add_packed(subject, seq_type, view, pack_frames(frames))

    def add_packed(self, subject: str, seq_type: str, view: str, packed: np.ndarray) -> None:
        """Append one sequence already bit-packed: uint8 ``(T, H, ceil(W/8))`` with zero pad bits."""
        key = (str(subject), str(seq_type), str(view))
        if self._file is None:
            raise CacheError(f"writer for {self.dest} is already closed")
        if key in self._keys:
            raise CacheError(f"duplicate sequence {'/'.join(key)} while writing {self.dest}")
        packed = np.ascontiguousarray(packed)
        if packed.dtype != np.uint8 or packed.ndim != 3 or packed.shape[1:] != (self.height, self.packed_width):
            raise CacheError(
                f"sequence {'/'.join(key)}: packed frames {packed.dtype} {packed.shape}; expected uint8 "
                f"(T, {self.height}, {self.packed_width})"
            )
        pad = 8 * self.packed_width - self.width
        if pad and packed.size and np.any(packed[..., -1] & np.uint8((1 << pad) - 1)):
            raise CacheError(f"sequence {'/'.join(key)}: pad bits beyond width {self.width} are not zero")
        flat = packed.reshape(-1)
        try:
            self._file.write(memoryview(flat))
        except BaseException as exc:
            self._fail(exc)
            raise
        self._hash.update(memoryview(flat))
        self._rows.append((*key, self._n_frames, int(packed.shape[0])))
        self._keys.add(key)
        self._n_frames += int(packed.shape[0])

    def skip(self, subject: str, seq_type: str, view: str, reason: str, path: str | os.PathLike | None = None) -> None:
        """Record a sequence the reader left out and why (reported in ``meta.json`` and ``gstsn data info``)."""
        entry: dict[str, Any] = {"subject": str(subject), "seq_type": str(seq_type), "view": str(view)}
        entry["reason"] = reason
        if path is not None:
            entry["path"] = str(path)
        self._skipped.append(entry)

    def _index_array(self) -> np.ndarray:
        rows = sorted(self._rows)
        width = max([len(r[0]) for r in rows] + [3])
        dtype = np.dtype(
            [("subject", f"<U{width}"), ("seq_type", "<U5"), ("view", "<U3"), ("start", "<i8"), ("length", "<i8")]
        )
        return np.array(rows, dtype=dtype)

    def finish(self, meta: Mapping[str, Any] | None = None) -> Path:
        """Write the header, index and ``meta.json`` (last), then rename the temp dir to ``dest``; returns ``dest``.

        A cache without a sequence is never written (:class:`CacheError`; ``dest`` is left as it was): an import
        that skipped everything must not replace a good cache by an empty one.
        """
        if self._file is None:
            raise CacheError(f"writer for {self.dest} is already closed")
        if not self._rows:
            n_skipped = len(self._skipped) + len((meta or {}).get("report", {}).get("skipped", []))
            self.abort()
            raise CacheError(
                f"nothing to write to {self.dest}: no sequence was added ({n_skipped} skipped); "
                f"{'the existing cache there is kept' if self.dest.exists() else 'nothing was written'}"
            )
        try:
            self._file.seek(0)
            self._file.write(_npy_header((self._n_frames, self.height, self.packed_width)))
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
            index = self._index_array()
            np.save(self.tmp / INDEX_FILE, index, allow_pickle=False)
            full = dict(meta or {})
            report = dict(full.pop("report", {}) or {})
            report["skipped"] = list(report.get("skipped", [])) + self._skipped
            report.update(_holes(index))
            content = self._hash.parts(self.height, self.width, index)
            full.update(
                {
                    "format": FORMAT_NAME,
                    "format_version": FORMAT_VERSION,
                    "height": self.height,
                    "width": self.width,
                    "packed_width": self.packed_width,
                    "bit_order": "big",
                    "n_sequences": int(len(index)),
                    "n_frames": int(self._n_frames),
                    "fingerprint": content["fingerprint"],
                    "fingerprint_method": FINGERPRINT_METHOD,
                    "content_hashes": {"frames": content["frames"], "index": content["index"]},
                    "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                    "report": report,
                }
            )
            with open(self.tmp / META_FILE, "w", encoding="utf-8") as f:
                json.dump(full, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            _fsync_dir(self.tmp)
            self._install()
        except BaseException as exc:
            self._fail(exc)
            raise
        self._done = True
        write_stamp(self.dest, content["fingerprint"], "hashed while writing")  # the writer hashed every byte
        return self.dest

    def _install(self) -> None:
        trash = None
        if self.dest.exists():
            if not self.overwrite:
                raise CacheError(
                    f"{self.dest} appeared while writing; not replacing it (--overwrite; overwrite=True from Python)"
                )
            trash = self.dest.parent / f".{self.dest.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(self.dest, trash)
        os.rename(self.tmp, self.dest)
        _fsync_dir(self.dest.parent)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)

    def abort(self) -> None:
        """Drop everything written so far (the temp dir); ``dest`` is untouched. The folder goes even when closing the
        file fails (on a full disk the close flushes the buffer, and fails, again)."""
        file, self._file = self._file, None
        try:
            if file is not None:
                file.close()
        except OSError:
            pass  # the file is closed all the same; what it held is being removed
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self._done = True

    def _fail(self, exc: BaseException) -> None:
        """A write failed with ``exc``: remove the partial folder; a full disk raises :class:`DiskFullError` (the
        cache, the space left once the partial is gone, and what was kept), anything else is left to the caller."""
        written = _folder_bytes(self.tmp)
        self.abort()
        if disk_full_cause(exc) is None:
            return
        kept = "the cache there is left as it was" if self.dest.exists() else "nothing was written there"
        raise DiskFullError(
            self.dest, f"the unfinished copy ({written / 1e6:,.1f} MB written) was removed and {kept}", exc
        ) from exc


def _folder_bytes(folder: Path) -> int:
    try:
        return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    except OSError:
        return 0


def _holes(index: np.ndarray) -> dict[str, list[dict[str, Any]]]:
    """Missing sequences (vs. the full CASIA-B grid of the subjects present) and short ones (< 5 frames)."""
    present = {(s, t, v) for s, t, v in zip(index["subject"], index["seq_type"], index["view"], strict=True)}
    subjects = sorted(set(index["subject"].tolist()))
    missing = [{"subject": s, "seq_type": t, "view": v} for s, t, v in full_grid(subjects) if (s, t, v) not in present]
    short_rows = np.flatnonzero(index["length"] < SHORT_SEQUENCE_FRAMES)
    short = [
        {
            "subject": str(index["subject"][i]),
            "seq_type": str(index["seq_type"][i]),
            "view": str(index["view"][i]),
            "length": int(index["length"][i]),
        }
        for i in short_rows
    ]
    return {"missing": missing, "short": short}


def _check_index_frame(index: pd.DataFrame, n_frames: int | None, where: str) -> None:
    missing = [c for c in INDEX_COLUMNS if c not in index.columns]
    if missing:
        raise CacheError(f"{where}: index lacks column(s) {missing}; expected {list(INDEX_COLUMNS)}")
    start = index["start"].to_numpy()
    length = index["length"].to_numpy()
    if len(index) and (start.min() < 0 or length.min() < 0):
        raise CacheError(f"{where}: negative start or length in the index")
    if n_frames is not None and len(index) and int((start + length).max()) > n_frames:
        raise CacheError(f"{where}: index points past the last frame ({n_frames} frames)")


def _write_rows(
    writer: CacheWriter, frames: np.ndarray, index: pd.DataFrame, packed: bool, rows: Iterable[int]
) -> None:
    subj, typ, view = (index[c].astype(str).to_numpy() for c in ("subject", "seq_type", "view"))
    start, length = index["start"].to_numpy(np.int64), index["length"].to_numpy(np.int64)
    for i in rows:
        block = frames[start[i] : start[i] + length[i]]
        (writer.add_packed if packed else writer.add)(subj[i], typ[i], view[i], block)


def write_cache(
    dest: str | os.PathLike,
    frames: np.ndarray,
    index: pd.DataFrame,
    meta: Mapping[str, Any] | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Write a sequence table (frames uint8 ``(F, H, W)`` in {0, 1}, index as in the schema) as a cache, atomically.

    Frames are laid out again in index order, so ``frames`` may hold them in any order. ``meta`` may carry ``source``
    (a description), a ``report`` with ``skipped`` entries, and any other JSON-ready keys; the writer adds the format
    fields, the fingerprint and the ``missing`` / ``short`` report.
    """
    frames = np.asarray(frames)
    if frames.ndim != 3:
        raise CacheError(f"frames must be (F, H, W); got shape {frames.shape} for {dest}")
    _check_index_frame(index, len(frames), str(dest))
    order = np.lexsort(tuple(index[c].astype(str).to_numpy() for c in ("view", "seq_type", "subject")))
    with CacheWriter(dest, frames.shape[1], frames.shape[2], overwrite=overwrite) as w:
        _write_rows(w, frames, index, False, order)
        return w.finish(meta)


def write_packed_cache(
    dest: str | os.PathLike,
    packed: np.ndarray,
    width: int,
    index: pd.DataFrame,
    meta: Mapping[str, Any] | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Like :func:`write_cache` for frames already bit-packed: uint8 ``(F, H, ceil(width/8))``; never unpacks them."""
    packed = np.asarray(packed)
    if packed.ndim != 3:
        raise CacheError(f"packed frames must be (F, H, ceil(W/8)); got shape {packed.shape} for {dest}")
    _check_index_frame(index, len(packed), str(dest))
    order = np.lexsort(tuple(index[c].astype(str).to_numpy() for c in ("view", "seq_type", "subject")))
    with CacheWriter(dest, packed.shape[1], width, overwrite=overwrite) as w:
        _write_rows(w, packed, index, True, order)
        return w.finish(meta)


__all__ = [
    "CacheWriter",
    "write_cache",
    "write_packed_cache",
]
