"""The compact bit-packed CASIA-B copy (``frames`` uint8 ``(F, 64, 6)`` = 64×44 packed, ``subject`` / ``seq_type`` /
``view``, ``start`` / ``length``): validated, then streamed into the cache without unpacking."""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from gstsn.data.cache_format import packed_width
from gstsn.data.cache_writer import CacheWriter
from gstsn.data.importing import DataImportError, check_not_empty, source_meta
from gstsn.data.naming import SEQ_TYPES, VIEWS, NamingError, normalize_subject, validate_seq_type, validate_view

NPZ_KEYS = ("frames", "subject", "seq_type", "view", "start", "length")
NPZ_WIDTH = 44  # the compact copy's frames are 64×44 packed into 6 bytes per row


@dataclass(frozen=True)
class NpzInfo:
    """The small members of a compact npz plus its frames header (read without decompressing the frames)."""

    path: Path
    index: pd.DataFrame  # subject, seq_type, view, start, length; in file order
    frames_shape: tuple[int, ...]


def _zip_open(src: Path) -> zipfile.ZipFile:
    if not src.is_file():
        raise DataImportError(f"no such npz file: {src}")
    try:
        return zipfile.ZipFile(src)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataImportError(f"{src} is not a readable .npz (zip) file: {exc}") from exc


def _read_member(zf: zipfile.ZipFile, src: Path, key: str) -> np.ndarray:
    try:
        with zf.open(f"{key}.npy") as f:
            return np.lib.format.read_array(f, allow_pickle=False)
    except KeyError:
        raise DataImportError(f"{src} lacks the array {key!r}; expected keys {list(NPZ_KEYS)}") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataImportError(f"{src}: array {key!r} is unreadable or holds objects: {exc}") from exc


def _frames_header(f: Any, src: Path) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(f)
        return np.lib.format.read_array_header_2_0(f)
    except (ValueError, OSError, EOFError) as exc:
        raise DataImportError(f"{src}: 'frames' is not a .npy array: {exc}") from exc


def read_npz_index(src: str | os.PathLike) -> NpzInfo:
    """Read and validate a compact npz's index members and frames header; the frames themselves are not read.

    Raises :class:`DataImportError` naming the file and row for missing keys, wrong dtypes or shapes, unknown names,
    duplicated sequences, out-of-range or overlapping ``start``/``length``.
    """
    src = Path(src)
    with _zip_open(src) as zf:
        cols = {k: _read_member(zf, src, k) for k in NPZ_KEYS[1:]}
        try:
            with zf.open("frames.npy") as f:
                shape, fortran, dtype = _frames_header(f, src)
        except KeyError:
            raise DataImportError(f"{src} lacks the array 'frames'; expected keys {list(NPZ_KEYS)}") from None
    if dtype != np.uint8 or fortran or len(shape) != 3:
        raise DataImportError(f"{src}: 'frames' is {dtype} {shape}; expected C-order uint8 (F, 64, 6)")
    n = len(cols["subject"])
    for k, v in cols.items():
        if v.ndim != 1 or len(v) != n:
            raise DataImportError(f"{src}: {k!r} has shape {v.shape}; expected ({n},) like 'subject'")
    for k in ("subject", "seq_type", "view"):
        if cols[k].dtype.kind != "U":
            raise DataImportError(f"{src}: {k!r} is {cols[k].dtype}; expected unicode strings")
    for k in ("start", "length"):
        if cols[k].dtype.kind not in "iu":
            raise DataImportError(f"{src}: {k!r} is {cols[k].dtype}; expected integers")
    index = pd.DataFrame({k: (v.astype(str) if v.dtype.kind == "U" else v.astype(np.int64)) for k, v in cols.items()})
    _validate_npz_index(index, int(shape[0]), src)
    return NpzInfo(src, index, tuple(int(s) for s in shape))


def _validate_npz_index(index: pd.DataFrame, n_frames: int, src: Path) -> None:
    for col, allowed, check in (("seq_type", SEQ_TYPES, validate_seq_type), ("view", VIEWS, validate_view)):
        bad = np.flatnonzero(~index[col].isin(allowed).to_numpy())
        if bad.size:
            check(index[col].iloc[bad[0]], where=f"{src} row {bad[0]} ({bad.size} bad rows)")
    for s in index["subject"].unique():
        if normalize_subject(s, where=str(src)) != s:
            raise NamingError(f"subject id {s!r} in {src} is not canonical; expected 3+ digits such as '001'")
    dup = index.duplicated(["subject", "seq_type", "view"]).to_numpy()
    if dup.any():
        r = index.iloc[int(np.flatnonzero(dup)[0])]
        raise DataImportError(f"{src}: duplicate sequence {r.subject}/{r.seq_type}/{r.view} ({int(dup.sum())} repeats)")
    start, length = index["start"].to_numpy(), index["length"].to_numpy()
    if len(index) and (start.min() < 0 or length.min() < 0 or int((start + length).max()) > n_frames):
        raise DataImportError(f"{src}: start/length out of range for {n_frames} frames")
    order = np.argsort(start, kind="stable")
    ends = (start + length)[order]
    if len(order) > 1 and np.any(start[order][1:] < ends[:-1]):
        raise DataImportError(f"{src}: sequences overlap in 'frames' (start/length ranges intersect)")


def _read_exact(f: Any, n: int, src: Path) -> bytes:
    chunks, got = [], 0
    while got < n:
        b = f.read(n - got)
        if not b:
            raise DataImportError(f"{src}: 'frames' is truncated ({got} of {n} bytes read)")
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def import_npz(
    src: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    width: int = NPZ_WIDTH,
    min_frames: int = 1,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Import a compact npz into a cache at ``dest``, streaming the packed frames (memory stays ~one sequence).

    Sequences shorter than ``min_frames`` are skipped and reported; everything else is copied bit for bit.
    """
    src = Path(src)
    info = read_npz_index(src)
    n_frames, height, pw = info.frames_shape
    if pw != packed_width(width):
        raise DataImportError(f"{src}: frames rows are {pw} bytes; width {width} needs {packed_width(width)}")
    idx = info.index
    start, length = idx["start"].to_numpy(), idx["length"].to_numpy()
    row_bytes = height * pw
    meta = {"source": source_meta(src, "npz", min_frames=min_frames)}
    with (
        CacheWriter(dest, height, width, overwrite=overwrite) as writer,
        _zip_open(src) as zf,
        zf.open("frames.npy") as f,
    ):
        _frames_header(f, src)
        pos = 0
        for i in tqdm(np.argsort(start, kind="stable"), desc=f"import {src.name}", unit="seq", disable=not progress):
            s, n = int(start[i]), int(length[i])
            while pos < s:  # frames no row refers to
                pos += len(_read_exact(f, min(s - pos, 4096) * row_bytes, src)) // row_bytes
            block = np.frombuffer(_read_exact(f, n * row_bytes, src), dtype=np.uint8).reshape(n, height, pw)
            pos += n
            key = (idx["subject"].iat[i], idx["seq_type"].iat[i], idx["view"].iat[i])
            if n < min_frames:
                writer.skip(*key, reason=f"{n} frames (< min_frames={min_frames})", path=src)
            else:
                writer.add_packed(*key, block)
        check_not_empty(writer, src, writer.skipped)
        return writer.finish(meta)


__all__ = [
    "NPZ_KEYS",
    "NPZ_WIDTH",
    "NpzInfo",
    "import_npz",
    "read_npz_index",
]
