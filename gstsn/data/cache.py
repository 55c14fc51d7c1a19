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

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gstsn.data.cache_format import (
    CHUNK_BYTES,
    FORMAT_NAME,
    FORMAT_VERSION,
    FRAMES_FILE,
    INDEX_COLUMNS,
    INDEX_FILE,
    META_FILE,
    CacheError,
    Fingerprint,
    packed_width,
    partial_dirs,
    read_stamp,
    unpack_frames,
    write_stamp,
)


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
        partials = partial_dirs(path)
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
        fp = Fingerprint()
        flat = self.packed.reshape(-1)
        for lo in range(0, flat.size, CHUNK_BYTES):
            fp.update(flat[lo : lo + CHUNK_BYTES])
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
        write_stamp(self.path, self.fingerprint, "gstsn data verify / SilhouetteCache.verify()")

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
    "SilhouetteCache",
    "cache_counts",
    "is_cache",
]
