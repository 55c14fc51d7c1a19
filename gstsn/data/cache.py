"""The project's silhouette cache: bit-packed, memory-mapped, pickle-free, written atomically.

A cache is a directory holding three files, plus an optional ``verified.json`` stamp (the full description is in
``docs/data.md``):

- ``frames.npy``: uint8 ``(F, H, ceil(W/8))``, every frame's rows bit-packed along the width with
  ``np.packbits(frames, axis=-1)`` (big bit order, zero pad bits). A plain ``.npy``; opened memory-mapped.
- ``index.npy``: a structured array (no objects, ``allow_pickle=False``) with fields ``subject``, ``seq_type``,
  ``view`` (unicode) and ``start``, ``length`` (``<i8``): sequence ``i`` is frames ``start[i] : start[i] + length[i]``.
  Rows are sorted by ``(subject, seq_type, view)`` as strings and unique.
- ``meta.json``: format name and version, ``height``, ``width``, counts, ``fingerprint``, the source description and
  the import report (``skipped``, ``missing``, ``short`` sequences). Written last: a directory without it is not a
  cache. The whole directory is built under a temporary name beside ``dest`` and renamed into place, so an
  interrupted write never leaves something that looks complete.

The fingerprint is a content hash (SHA-256 over the format version, ``H``, ``W``, the index table and the packed frame
bytes), so the same silhouettes give the same fingerprint whatever reader produced them. ``meta.json`` also records the
SHA-256 of the frames and of the index alone (``content_hashes``): :meth:`SilhouetteCache.verify` names which differs.
``verified.json`` (fingerprint plus each file's size, mtime, ctime and inode) says the content was hashed and the
files are unchanged since; :meth:`SilhouetteCache.ensure_verified` hashes only when it does not hold.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from gstsn.data.naming import SHORT_SEQUENCE_FRAMES, full_grid

FORMAT_NAME = "gstsn-silhouette-cache"
FORMAT_VERSION = 1
FRAMES_FILE = "frames.npy"
INDEX_FILE = "index.npy"
META_FILE = "meta.json"
STAMP_FILE = "verified.json"  # optional: when the content was last hashed and the files' identity then
INDEX_COLUMNS = ("subject", "seq_type", "view", "start", "length")
FINGERPRINT_METHOD = "sha256(format_version, H, W, index.npy fields, packed frame bytes)[:16]"
CONTENT_FILES = (FRAMES_FILE, INDEX_FILE, META_FILE)  # what a verified stamp is keyed by

_NPY_HEADER_BYTES = 256  # reserved for the .npy header of a streamed frames file (any shape fits)
_CHUNK_BYTES = 1 << 24


class CacheError(ValueError):
    """A cache directory is missing, incomplete, corrupt or of another format; the message names the path."""


# ----------------------------------------------------------------------------------------------------------- packing
def packed_width(width: int) -> int:
    """Bytes per packed row of ``width`` pixels (``ceil(width / 8)``; 44 -> 6)."""
    return (int(width) + 7) // 8


def pack_frames(frames: np.ndarray) -> np.ndarray:
    """Bit-pack binary frames uint8 ``(N, H, W)`` in {0, 1} into uint8 ``(N, H, ceil(W/8))``."""
    frames = np.asarray(frames)
    if frames.ndim != 3 or frames.dtype != np.uint8:
        raise CacheError(f"frames must be uint8 (N, H, W); got {frames.dtype} {frames.shape}")
    if frames.size and frames.max() > 1:
        raise CacheError(f"frames must be binary (values 0/1); found a maximum of {int(frames.max())}")
    return np.packbits(frames, axis=-1)


def unpack_frames(packed: np.ndarray, width: int) -> np.ndarray:
    """Unpack uint8 ``(N, H, ceil(W/8))`` into uint8 ``(N, H, W)`` in {0, 1} (one vectorised call)."""
    return np.unpackbits(np.asarray(packed), axis=-1, count=int(width))


# ------------------------------------------------------------------------------------------------------ fingerprint
def _index_bytes(index: np.ndarray) -> Iterable[bytes]:
    for name in INDEX_COLUMNS:
        col = np.ascontiguousarray(index[name])
        yield name.encode()
        yield col.astype("<U16").tobytes() if col.dtype.kind == "U" else col.astype("<i8").tobytes()


class _Fingerprint:
    """Streams the packed frame bytes; :meth:`finish` adds the header values and the index table.

    :meth:`parts` also gives the SHA-256 of the frame bytes alone and of the index table alone (``meta.json``'s
    ``content_hashes``), so that :meth:`SilhouetteCache.verify` can say which file changed.
    """

    def __init__(self) -> None:
        self._frames = hashlib.sha256()

    def update(self, data: bytes | memoryview | np.ndarray) -> None:
        self._frames.update(np.ascontiguousarray(data).reshape(-1) if isinstance(data, np.ndarray) else data)

    def finish(self, height: int, width: int, index: np.ndarray) -> str:
        h = hashlib.sha256()
        h.update(json.dumps({"format_version": FORMAT_VERSION, "height": height, "width": width}).encode())
        for chunk in _index_bytes(index):
            h.update(chunk)
        h.update(self._frames.digest())
        return h.hexdigest()[:16]

    def parts(self, height: int, width: int, index: np.ndarray) -> dict[str, str]:
        """``fingerprint`` and ``content_hashes`` (``frames``, ``index``: full SHA-256 hex digests)."""
        ih = hashlib.sha256()
        for chunk in _index_bytes(index):
            ih.update(chunk)
        hashes = {"frames": self._frames.hexdigest(), "index": ih.hexdigest()}
        return {"fingerprint": self.finish(height, width, index), **hashes}


# ---------------------------------------------------------------------------------------------------------- writing
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
    """A version-1.0 ``.npy`` header for uint8 C-order ``shape``, padded to exactly ``_NPY_HEADER_BYTES``."""
    text = "{'descr': '|u1', 'fortran_order': False, 'shape': %r, }" % (tuple(int(s) for s in shape),)  # noqa: UP031
    body_len = _NPY_HEADER_BYTES - 10  # magic (6) + version (2) + header length (2)
    if len(text) + 1 > body_len:
        raise CacheError(f"frames shape {shape} does not fit the reserved .npy header")
    body = text.ljust(body_len - 1) + "\n"
    return b"\x93NUMPY\x01\x00" + body_len.to_bytes(2, "little") + body.encode("latin1")


def _partial_dirs(dest: Path) -> list[Path]:
    return sorted(dest.parent.glob(f".{dest.name}.partial-*"))


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
    for p in _partial_dirs(dest):
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
        self.tmp.mkdir()
        self._file: BinaryIO | None = open(self.tmp / FRAMES_FILE, "wb")  # noqa: SIM115 - closed in finish/abort
        self._file.write(b"\0" * _NPY_HEADER_BYTES)
        self._rows: list[tuple[str, str, str, int, int]] = []
        self._keys: set[tuple[str, str, str]] = set()
        self._skipped: list[dict[str, Any]] = []
        self._n_frames = 0
        self._hash = _Fingerprint()
        self._done = False

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
        self._file.write(memoryview(flat))
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
        except BaseException:
            self.abort()
            raise
        self._done = True
        _write_stamp(self.dest, content["fingerprint"], "hashed while writing")  # the writer hashed every byte
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
        """Drop everything written so far (the temp dir); ``dest`` is untouched."""
        if self._file is not None:
            self._file.close()
            self._file = None
        shutil.rmtree(self.tmp, ignore_errors=True)
        self._done = True


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


# ---------------------------------------------------------------------------------------------------------- reading
def is_cache(path: str | os.PathLike) -> bool:
    """True when ``path`` is a directory holding a ``meta.json`` of this format (it may still be corrupt)."""
    meta = Path(path) / META_FILE
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text(encoding="utf-8")).get("format") == FORMAT_NAME
    except (OSError, ValueError):
        return False


def cache_counts(path: str | os.PathLike) -> dict[str, int] | None:
    """``{"n_sequences", "n_frames"}`` from the ``meta.json`` of the cache at ``path``; ``None`` if it is none."""
    try:
        meta = _read_meta(Path(path))
    except CacheError:
        return None
    return {"n_sequences": int(meta["n_sequences"]), "n_frames": int(meta["n_frames"])}


def _read_meta(path: Path) -> dict[str, Any]:
    meta_path = path / META_FILE
    if not path.exists():
        partials = _partial_dirs(path)
        hint = f" (found unfinished {partials[0].name}: an import was interrupted; rerun it)" if partials else ""
        raise CacheError(f"no cache at {path}{hint}")
    if not path.is_dir():
        raise CacheError(f"{path} is not a cache directory (a cache is a folder with {META_FILE})")
    if not meta_path.is_file():
        raise CacheError(
            f"{path} is not a complete cache: {META_FILE} is missing (an interrupted write, or not a cache); "
            "import it again"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CacheError(f"{meta_path} is unreadable or not JSON: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise CacheError(f"{meta_path} is not a {FORMAT_NAME} file (format={meta.get('format')!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CacheError(
            f"{path} has cache format version {meta.get('format_version')!r}; this code reads version "
            f"{FORMAT_VERSION}: import the data again"
        )
    for key in ("height", "width", "n_frames", "n_sequences", "fingerprint"):
        if key not in meta:
            raise CacheError(f"{meta_path} lacks the key {key!r}")
    return meta


class SilhouetteCache:
    """A read-only view of a cache directory; frames stay bit-packed (memory-mapped by default) until asked for.

    - ``index``: DataFrame ``subject, seq_type, view`` (str), ``start, length`` (int64), one row per sequence.
    - ``sequence(i)`` -> uint8 ``(T, H, W)`` in {0, 1}; ``frames(idx)`` -> uint8 ``(N, H, W)`` for global frame ids.
    - ``starts`` / ``lengths``: the index's int64 columns as arrays (for samplers).
    """

    def __init__(self, path: Path, meta: dict[str, Any], packed: np.ndarray, index_array: np.ndarray) -> None:
        self.path = path
        self.meta = meta
        self.packed = packed
        self.height = int(meta["height"])
        self.width = int(meta["width"])
        self.fingerprint = str(meta["fingerprint"])
        self.starts = np.ascontiguousarray(index_array["start"], dtype=np.int64)
        self.lengths = np.ascontiguousarray(index_array["length"], dtype=np.int64)
        self.index = pd.DataFrame(
            {
                "subject": index_array["subject"].astype(str),
                "seq_type": index_array["seq_type"].astype(str),
                "view": index_array["view"].astype(str),
                "start": self.starts.copy(),
                "length": self.lengths.copy(),
            }
        )

    @classmethod
    def open(cls, path: str | os.PathLike, *, in_memory: bool = False) -> SilhouetteCache:
        """Open and validate the cache at ``path``; ``in_memory=True`` reads the packed frames into RAM."""
        path = Path(path)
        meta = _read_meta(path)
        frames_path, index_path = path / FRAMES_FILE, path / INDEX_FILE
        try:
            packed = np.load(frames_path, mmap_mode=None if in_memory else "r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise CacheError(f"{frames_path} is missing, truncated or not a .npy file: {exc}") from exc
        expected = (int(meta["n_frames"]), int(meta["height"]), packed_width(int(meta["width"])))
        if packed.dtype != np.uint8 or packed.shape != expected:
            raise CacheError(f"{frames_path} holds {packed.dtype} {packed.shape}; {META_FILE} says uint8 {expected}")
        try:
            index = np.load(index_path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise CacheError(f"{index_path} is missing, truncated or not a .npy file: {exc}") from exc
        _validate_index_array(index, expected[0], int(meta["n_sequences"]), index_path)
        return cls(path, meta, packed, index)

    def __len__(self) -> int:
        return len(self.starts)

    def __repr__(self) -> str:
        return (
            f"SilhouetteCache({str(self.path)!r}, sequences={len(self)}, frames={self.n_frames}, "
            f"{self.height}x{self.width}, fingerprint={self.fingerprint})"
        )

    @property
    def n_frames(self) -> int:
        return int(self.packed.shape[0])

    @property
    def source(self) -> Any:
        return self.meta.get("source")

    @property
    def report(self) -> dict[str, Any]:
        return self.meta.get("report", {})

    def nbytes_on_disk(self) -> int:
        """Total size of the cache directory's files in bytes."""
        return sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())

    def sequence(self, i: int) -> np.ndarray:
        """Frames of sequence (row) ``i``: uint8 ``(T, H, W)`` in {0, 1}, in order."""
        n = len(self)
        if not -n <= int(i) < n:
            raise IndexError(f"sequence {i} out of range for {self.path} ({n} sequences)")
        s, length = int(self.starts[i]), int(self.lengths[i])
        return unpack_frames(self.packed[s : s + length], self.width)

    def frames(self, global_idx: np.ndarray) -> np.ndarray:
        """Frames at global frame ids (any order, repeats allowed): uint8 ``(N, H, W)`` in {0, 1}; one gather+unpack."""
        idx = np.asarray(global_idx, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_frames):
            raise IndexError(f"frame ids must be in [0, {self.n_frames}) for {self.path}; got {idx.min()}..{idx.max()}")
        return unpack_frames(self.packed[idx], self.width)

    def rows(
        self,
        subjects: Iterable[str] | None = None,
        seq_types: Iterable[str] | None = None,
        views: Iterable[str] | None = None,
        min_length: int = 0,
    ) -> np.ndarray:
        """Row numbers (int64, ascending) of the sequences matching every given filter."""
        keep = self.lengths >= min_length
        for col, allowed in (("subject", subjects), ("seq_type", seq_types), ("view", views)):
            if allowed is not None:
                keep &= self.index[col].isin(list(allowed)).to_numpy()
        return np.flatnonzero(keep).astype(np.int64)

    def verify(self) -> None:
        """Recompute the fingerprint from the files (reads every byte: ~0.5 s for real CASIA-B, see docs/data.md).

        Raises :class:`CacheError` naming the cache and what differs: the frames, the index, or ``meta.json``'s
        recorded values (caches written before ``content_hashes`` existed only tell that the fingerprint differs).
        On success the verified stamp (``verified.json``) is refreshed, best effort.
        """
        fp = _Fingerprint()
        flat = self.packed.reshape(-1)
        for lo in range(0, flat.size, _CHUNK_BYTES):
            fp.update(flat[lo : lo + _CHUNK_BYTES])
        index = np.load(self.path / INDEX_FILE, allow_pickle=False)
        got = fp.parts(self.height, self.width, index)
        recorded = self.meta.get("content_hashes")
        recorded = recorded if isinstance(recorded, dict) else {}
        what = [
            f"{name} differs from what was written (sha256 {got[key][:12]}..., {META_FILE} records "
            f"{str(recorded[key])[:12]}...)"
            for key, name in (("frames", f"{FRAMES_FILE}'s frame data"), ("index", f"{INDEX_FILE}'s table"))
            if key in recorded and recorded[key] != got[key]
        ]
        if got["fingerprint"] != self.fingerprint:
            if not recorded:
                what.append(f"content fingerprint {got['fingerprint']} != {self.fingerprint} recorded in {META_FILE}")
            elif not what:
                what.append(
                    f"{META_FILE} records fingerprint {self.fingerprint}, but the content (frames and index as "
                    f"written) gives {got['fingerprint']}: {META_FILE}'s fingerprint, height or width was edited"
                )
        elif what:
            what = [f"{META_FILE}'s content_hashes were edited (the fingerprint {self.fingerprint} still matches)"]
        if what:
            raise CacheError(f"{self.path} is corrupt: " + "; ".join(what))
        _write_stamp(self.path, self.fingerprint, "gstsn data verify / SilhouetteCache.verify()")

    def verified_stamp(self) -> dict[str, Any] | None:
        """The stamp of the last successful hash when the files are unchanged since (no hashing), else ``None``."""
        return read_stamp(self.path, self.fingerprint)

    def ensure_verified(self) -> bool:
        """Verify the content unless the stamp says it was hashed and the files are unchanged since.

        Returns ``True`` when it hashed (the stamp was missing or stale), ``False`` when the stamp held (three
        ``stat`` calls and a small JSON read). Raises :class:`CacheError` like :meth:`verify`.
        """
        if self.verified_stamp() is not None:
            return False
        self.verify()
        return True


# ----------------------------------------------------------------------------------------------------- verification
def _file_identity(path: Path) -> dict[str, dict[str, int]] | None:
    """Size, mtime, ctime and inode of each of ``CONTENT_FILES`` (``None`` if one is missing).

    Any write to a file changes its mtime and ctime (resetting the mtime afterwards still changes the ctime), and a
    copy is a new inode: a stamp keyed by these goes stale on every edit, not on bit rot (``gstsn data verify``).
    """
    out = {}
    for name in CONTENT_FILES:
        try:
            st = (path / name).stat()
        except OSError:
            return None
        out[name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns, "ino": st.st_ino}
    return out


def _write_stamp(path: Path, fingerprint: str, how: str) -> bool:
    """Record that the content of ``path`` hashed to ``fingerprint`` now; best effort (a read-only cache has none)."""
    from gstsn.atomic import atomic_write_text

    files = _file_identity(path)
    if files is None:
        return False
    stamp = {
        "fingerprint": fingerprint,
        "how": how,
        "verified": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "files": files,
    }
    try:
        atomic_write_text(path / STAMP_FILE, json.dumps(stamp, indent=1, sort_keys=True) + "\n")
    except OSError:
        return False
    return True


def read_stamp(path: str | os.PathLike, fingerprint: str) -> dict[str, Any] | None:
    """The cache's verified stamp when it still holds: same fingerprint and the files unchanged since; else ``None``."""
    path = Path(path)
    try:
        stamp = json.loads((path / STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stamp, dict) or stamp.get("fingerprint") != fingerprint:
        return None
    files = _file_identity(path)
    return stamp if files is not None and stamp.get("files") == files else None


def _validate_index_array(index: np.ndarray, n_frames: int, n_sequences: int, where: Path) -> None:
    names = index.dtype.names or ()
    if tuple(names) != INDEX_COLUMNS or index.ndim != 1:
        raise CacheError(f"{where}: fields {names} (ndim {index.ndim}); expected a 1-D table with {INDEX_COLUMNS}")
    if len(index) != n_sequences:
        raise CacheError(f"{where}: {len(index)} rows; {META_FILE} says {n_sequences}")
    start, length = index["start"], index["length"]
    if len(index) and (start.min() < 0 or length.min() < 0 or int((start + length).max()) > n_frames):
        raise CacheError(f"{where}: start/length out of range for {n_frames} frames")
    keys = [f"{a}\0{b}\0{c}" for a, b, c in zip(index["subject"], index["seq_type"], index["view"], strict=True)]
    if any(k1 >= k2 for k1, k2 in zip(keys, keys[1:], strict=False)):
        raise CacheError(f"{where}: rows are not sorted by (subject, seq_type, view) or contain duplicates")


__all__ = [
    "CacheError",
    "CacheWriter",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "SilhouetteCache",
    "cache_counts",
    "is_cache",
    "pack_frames",
    "read_stamp",
    "packed_width",
    "unpack_frames",
    "write_cache",
    "write_packed_cache",
]
