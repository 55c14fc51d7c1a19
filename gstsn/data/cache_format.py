"""The cache's on-disk format (docs/data.md): file names, index columns, bit packing of frame rows and the content
fingerprint."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_NAME = "gstsn-silhouette-cache"
FORMAT_VERSION = 1
FRAMES_FILE = "frames.npy"
INDEX_FILE = "index.npy"
META_FILE = "meta.json"
STAMP_FILE = "verified.json"  # optional: when the content was last hashed and the files' identity then
INDEX_COLUMNS = ("subject", "seq_type", "view", "start", "length")
FINGERPRINT_METHOD = "sha256(format_version, H, W, index.npy fields, packed frame bytes)[:16]"
CONTENT_FILES = (FRAMES_FILE, INDEX_FILE, META_FILE)  # what a verified stamp is keyed by

NPY_HEADER_BYTES = 256  # reserved for the .npy header of a streamed frames file (any shape fits)
CHUNK_BYTES = 1 << 24


class CacheError(ValueError):
    """A cache directory is missing, incomplete, corrupt or of another format; the message names the path."""


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
def index_bytes(index: np.ndarray) -> Iterable[bytes]:
    for name in INDEX_COLUMNS:
        col = np.ascontiguousarray(index[name])
        yield name.encode()
        yield col.astype("<U16").tobytes() if col.dtype.kind == "U" else col.astype("<i8").tobytes()


class Fingerprint:
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
        for chunk in index_bytes(index):
            h.update(chunk)
        h.update(self._frames.digest())
        return h.hexdigest()[:16]

    def parts(self, height: int, width: int, index: np.ndarray) -> dict[str, str]:
        """``fingerprint`` and ``content_hashes`` (``frames``, ``index``: full SHA-256 hex digests)."""
        ih = hashlib.sha256()
        for chunk in index_bytes(index):
            ih.update(chunk)
        hashes = {"frames": self._frames.hexdigest(), "index": ih.hexdigest()}
        return {"fingerprint": self.finish(height, width, index), **hashes}


def partial_dirs(dest: Path) -> list[Path]:
    return sorted(dest.parent.glob(f".{dest.name}.partial-*"))


def file_identity(path: Path) -> dict[str, dict[str, int]] | None:
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


def write_stamp(path: Path, fingerprint: str, how: str) -> bool:
    """Record that the content of ``path`` hashed to ``fingerprint`` now; best effort (a read-only cache has none)."""
    from gstsn.atomic import atomic_write_text

    files = file_identity(path)
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
    files = file_identity(path)
    return stamp if files is not None and stamp.get("files") == files else None


__all__ = [
    "CONTENT_FILES",
    "CHUNK_BYTES",
    "CacheError",
    "Fingerprint",
    "NPY_HEADER_BYTES",
    "file_identity",
    "index_bytes",
    "partial_dirs",
    "read_stamp",
    "write_stamp",
    "FINGERPRINT_METHOD",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "FRAMES_FILE",
    "INDEX_COLUMNS",
    "INDEX_FILE",
    "META_FILE",
    "STAMP_FILE",
    "pack_frames",
    "packed_width",
    "unpack_frames",
]
