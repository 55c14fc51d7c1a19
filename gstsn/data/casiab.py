"""CASIA-B readers: each source is imported once into the project's cache (:mod:`gstsn.data.cache`).

Layouts (``LAYOUTS``):

- ``npz``: the compact copy (``frames`` uint8 ``(F, 64, 6)`` bit-packed 64×44, ``subject``/``seq_type``/``view``,
  ``start``/``length``). Its packed rows are exactly ``np.packbits`` of 44 columns, so they are streamed from the zip
  member straight into the cache without ever being unpacked.
- ``raw-png``: ``ROOT/<id>/<type-nn>/<view>/*.png`` as distributed (gray, any size), pretreated here the community's
  way (:func:`pretreat_raw_frame`), then cut to 64×44 and binarised (:func:`crop_binarize`).
- ``png``: the same tree with 64×64 pretreated frames, one PNG per frame.
- ``pkl``: the same tree with one pickled uint8 ``(T, 64, 64)`` array per sequence at ``<view>/<view>.pkl``, read only
  through :func:`gstsn.data.safe_pickle.load_pickled_array` (a pickle naming anything else aborts the import).

Bad input never reaches training: unknown folder names, empty sequences, unreadable or wrong-size frames are skipped
and recorded in the cache's ``meta.json`` report (``strict=True`` turns each into a :class:`DataImportError`);
duplicated sequences, malformed npz files and unsafe pickles always raise.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from gstsn.data.cache import CacheWriter, packed_width
from gstsn.data.naming import SEQ_TYPES, VIEWS, NamingError, normalize_subject, validate_seq_type, validate_view
from gstsn.data.quality import Quality, assess
from gstsn.data.safe_pickle import PickleReadError, load_pickled_array

LAYOUTS = ("npz", "raw-png", "png", "pkl")
NPZ_KEYS = ("frames", "subject", "seq_type", "view", "start", "length")
NPZ_WIDTH = 44  # the compact copy's frames are 64×44 packed into 6 bytes per row
READER_VERSION = 1  # bump when a reader's output changes: it is part of every source key

PRETREAT_SIZE = 64  # pretreated frames are PRETREAT_SIZE × PRETREAT_SIZE
MIN_PIXEL_SUM = 10000  # raw frames whose 0..255 pixel sum is <= this are dropped
SIDE_CUT = 10  # columns cut from each side of a 64-wide frame (scaled with the width) -> 64×44
BINARIZE_THRESHOLD = 128  # a pixel is foreground when its 0..255 value is >= this


class DataImportError(ValueError):
    """A source cannot be imported as asked; the message names the file or folder and what was expected."""


# ------------------------------------------------------------------------------------------------------ pretreatment
def pretreat_raw_frame(img: np.ndarray, size: int = PRETREAT_SIZE) -> np.ndarray | None:
    """The community pretreatment of one raw gray frame uint8 ``(h, w)`` -> uint8 ``(size, size)``, or ``None``.

    ``None`` (frame dropped) when the pixel sum is <= ``MIN_PIXEL_SUM``, when the resized silhouette is less than one
    pixel wide, or when no x-centre is found (or it falls on column 0, as the reference code's ``if not x_center``).
    Steps: crop to the rows holding the silhouette; resize to height ``size`` keeping the aspect (width
    ``int(size * w / h)``, bicubic; Pillow's bicubic, not OpenCV's, so edge values can differ by a few grey levels);
    x-centre = first column where the cumulative column sum exceeds half the total; cut a ``size``-wide window around
    it, zero-padding by ``size // 2`` on both sides when the window leaves the image.
    """
    img = np.asarray(img)
    if img.ndim != 2:
        raise DataImportError(f"a raw frame must be a 2-D gray image; got shape {img.shape}")
    img = img.astype(np.uint8, copy=False)
    if int(img.sum(dtype=np.int64)) <= MIN_PIXEL_SUM:
        return None
    rows = np.flatnonzero(img.sum(axis=1, dtype=np.int64))
    img = img[rows[0] : rows[-1] + 1]
    new_w = int(size * img.shape[1] / img.shape[0])
    if new_w < 1:
        return None
    img = np.asarray(Image.fromarray(img).resize((new_w, size), Image.Resampling.BICUBIC))
    col = img.sum(axis=0, dtype=np.int64)
    total = int(col.sum())
    above = np.flatnonzero(np.cumsum(col) > total / 2)
    if total == 0 or not above.size or above[0] == 0:
        return None
    half = size // 2
    left, right = int(above[0]) - half, int(above[0]) + half
    if left <= 0 or right >= img.shape[1]:
        img = np.pad(img, ((0, 0), (half, half)))
        left, right = left + half, right + half
    return np.ascontiguousarray(img[:, left:right])


def crop_binarize(frames: np.ndarray) -> np.ndarray:
    """Pretreated gray frames uint8 ``(T, H, W)`` -> uint8 ``(T, H, W - 2*cut)`` in {0, 1}.

    ``cut`` is ``SIDE_CUT`` scaled with the width (10 px of 64: 64×64 -> 64×44). A pixel is foreground when its value
    is >= ``BINARIZE_THRESHOLD`` (128); frames whose values are all in {0, 1} are taken as already binary.
    """
    frames = np.asarray(frames)
    if frames.ndim != 3:
        raise DataImportError(f"frames must be (T, H, W); got shape {frames.shape}")
    cut = int(round(SIDE_CUT * frames.shape[2] / PRETREAT_SIZE))
    kept = frames[:, :, cut : frames.shape[2] - cut]
    threshold = 1 if kept.size and kept.max() <= 1 else BINARIZE_THRESHOLD
    return (kept >= threshold).astype(np.uint8)


# --------------------------------------------------------------------------------------------------------- npz
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
    meta = {"source": _source_meta(src, "npz", min_frames=min_frames)}
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
        _check_not_empty(writer, src, writer.skipped)
        return writer.finish(meta)


def _check_not_empty(writer: CacheWriter, src: Path, skipped: list[dict[str, Any]]) -> None:
    """An import that yields no sequence is an error, and replaces nothing (an existing cache stays as it was)."""
    if writer.n_sequences:
        return
    dest = writer.dest
    kept = f"{dest} is left as it was" if dest.exists() else f"nothing was written to {dest}"

    def name(e: dict[str, Any]) -> str:  # the folder for a tree; the sequence for an npz (its path is ``src``)
        key = "/".join(e.get(k, "") for k in ("subject", "seq_type", "view"))
        return e["path"] if e.get("path") and e["path"] != str(src) else key

    examples = "; ".join(f"{name(e)}: {e['reason']}" for e in skipped[:3])
    more = f" (and {len(skipped) - 3} more)" if len(skipped) > 3 else ""
    raise DataImportError(
        f"{src}: no sequence to import: all {len(skipped)} were skipped, e.g. {examples}{more}; {kept}"
        if skipped
        else f"{src}: no sequence to import; {kept}"
    )


# --------------------------------------------------------------------------------------------------------- trees
@dataclass(frozen=True)
class SequenceDir:
    """One sequence folder of a tree layout."""

    subject: str
    seq_type: str
    view: str
    path: Path


class _Reporter:
    """Turns a problem into a recorded skip, or into a :class:`DataImportError` when strict."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.skipped: list[dict[str, Any]] = []
        self.unreadable_frames: list[dict[str, str]] = []

    def skip(self, path: Path, reason: str, key: tuple[str, str, str] | None = None) -> None:
        if self.strict:
            raise DataImportError(f"{path}: {reason}")
        entry: dict[str, Any] = dict(zip(("subject", "seq_type", "view"), key or ("", "", ""), strict=True))
        self.skipped.append({**entry, "reason": reason, "path": str(path)})

    def bad_frame(self, path: str, reason: str) -> None:
        if self.strict:
            raise DataImportError(f"{path}: {reason}")
        self.unreadable_frames.append({"path": path, "reason": reason})


def _subdirs(path: Path) -> Iterator[Path]:
    return (p for p in sorted(path.iterdir()) if p.is_dir() and not p.name.startswith("."))


def scan_tree(root: str | os.PathLike, strict: bool = False) -> tuple[list[SequenceDir], list[dict[str, Any]]]:
    """Find every ``ROOT/<id>/<type-nn>/<view>/`` folder, sorted by (subject, seq_type, view).

    Returns the sequence folders and the skipped folders (unknown names). Subject folders may be named ``1`` or
    ``001`` (both mean ``"001"``); two folders for the same sequence raise :class:`DataImportError`.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataImportError(f"no such folder: {root} (expected ROOT/<id>/<type-nn>/<view>/ with frames)")
    rep = _Reporter(strict)
    found: dict[tuple[str, str, str], Path] = {}
    for sdir in _subdirs(root):
        try:
            subject = normalize_subject(sdir.name)
        except NamingError as exc:
            rep.skip(sdir, f"not a subject folder ({exc})")
            continue
        for tdir in _subdirs(sdir):
            try:
                seq_type = validate_seq_type(tdir.name)
            except NamingError as exc:
                rep.skip(tdir, str(exc), (subject, tdir.name, ""))
                continue
            for vdir in _subdirs(tdir):
                try:
                    view = validate_view(vdir.name)
                except NamingError as exc:
                    rep.skip(vdir, str(exc), (subject, seq_type, vdir.name))
                    continue
                key = (subject, seq_type, view)
                if key in found:
                    raise DataImportError(f"duplicate sequence {'/'.join(key)}: both {found[key]} and {vdir}")
                found[key] = vdir
    if not found:
        raise DataImportError(f"{root} holds no <id>/<type-nn>/<view>/ sequence folders")
    return [SequenceDir(*k, p) for k, p in sorted(found.items())], rep.skipped


def detect_layout(source: str | os.PathLike) -> str:
    """Guess the layout of ``source``: ``npz`` for a file, else by the first sequence folder's files.

    A folder with ``*.pkl`` -> ``pkl``; with ``*.png`` of 64×64 -> ``png``; other PNGs -> ``raw-png``.
    """
    source = Path(source)
    if source.is_file():
        if zipfile.is_zipfile(source):
            return "npz"
        raise DataImportError(f"{source} is a file but not an .npz archive; expected an npz or a CASIA-B folder")
    seqs, _ = scan_tree(source)
    for seq in seqs:
        files = sorted(p for p in seq.path.iterdir() if p.is_file())
        if any(p.suffix.lower() == ".pkl" for p in files):
            return "pkl"
        pngs = [p for p in files if p.suffix.lower() == ".png"]
        for p in pngs:
            try:
                with Image.open(p) as im:
                    size = im.size
            except (OSError, ValueError):
                continue
            return "png" if size == (PRETREAT_SIZE, PRETREAT_SIZE) else "raw-png"
    raise DataImportError(f"cannot tell the layout of {source}: no readable .png or .pkl frames; pass --layout")


def _read_gray(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        im.load()
        return np.asarray(im.convert("L"))


@dataclass(frozen=True)
class _SeqResult:
    frames: np.ndarray | None  # uint8 (T, 64, 44) in {0, 1}, or None when skipped
    reason: str = ""
    bad_frames: tuple[tuple[str, str], ...] = ()
    dropped: int = 0
    quality: Quality | None = None  # binarity / fill of the frames read (see gstsn.data.quality)
    worst: str = ""  # the file (and frame) that looks least like a silhouette


def _assessed(gray: np.ndarray, name_of: Callable[[int], str], **kw: Any) -> _SeqResult:
    """Binarise ``gray`` (T, 64, 64) and judge how much it looks like silhouettes; ``name_of(i)`` names frame ``i``."""
    binary = crop_binarize(gray)
    q = assess(gray, binary)
    return _SeqResult(binary, quality=q, worst=name_of(q.worst_frame), **kw)


def _read_png_sequence(seq: SequenceDir, raw: bool) -> _SeqResult:
    files = sorted(p for p in seq.path.iterdir() if p.is_file() and p.suffix.lower() == ".png")
    if not files:
        return _SeqResult(None, "no .png frames")
    out, names, bad, dropped = [], [], [], 0
    for p in files:
        try:
            img = _read_gray(p)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            bad.append((str(p), f"unreadable image ({type(exc).__name__}: {exc})"))
            continue
        if raw:
            frame = pretreat_raw_frame(img)
            if frame is None:
                dropped += 1
                continue
            img = frame
        elif img.shape != (PRETREAT_SIZE, PRETREAT_SIZE):
            return _SeqResult(
                None,
                f"frame {p.name} is {img.shape[1]}x{img.shape[0]}; the 'png' layout expects "
                f"{PRETREAT_SIZE}x{PRETREAT_SIZE} pretreated frames (use layout 'raw-png' for raw silhouettes)",
                tuple(bad),
            )
        out.append(img)
        names.append(str(p))
    if not out:
        why = f"{len(files)} PNGs: {dropped} dropped by the pretreatment (pixel sum <= {MIN_PIXEL_SUM} or no centre)"
        why += f", {len(bad)} unreadable"
        return _SeqResult(None, f"no valid frames ({why})", tuple(bad), dropped)
    return _assessed(np.stack(out), names.__getitem__, bad_frames=tuple(bad), dropped=dropped)


def _read_pkl_sequence(seq: SequenceDir) -> _SeqResult:
    own = seq.path / f"{seq.view}.pkl"
    pkls = sorted(p for p in seq.path.iterdir() if p.is_file() and p.suffix.lower() == ".pkl")
    if own.is_file():
        path = own
    elif len(pkls) == 1:
        path = pkls[0]
    elif not pkls:
        return _SeqResult(None, f"no {seq.view}.pkl")
    else:
        return _SeqResult(None, f"{len(pkls)} pickles and no {seq.view}.pkl: cannot tell which holds the sequence")
    try:
        arr = load_pickled_array(path)  # UnsafePickleError propagates: an untrusted tree aborts the import
    except PickleReadError as exc:
        return _SeqResult(None, str(exc))
    expected = (PRETREAT_SIZE, PRETREAT_SIZE)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[1:] != expected:
        return _SeqResult(None, f"{path.name} holds {arr.dtype} {arr.shape}; expected uint8 (T, 64, 64)")
    if len(arr) == 0:
        return _SeqResult(None, f"{path.name} holds no frames")
    return _assessed(arr, lambda i: f"{path} (frame {i})")


def _read_sequence(job: tuple[str, SequenceDir]) -> _SeqResult:
    layout, seq = job
    if layout == "pkl":
        return _read_pkl_sequence(seq)
    return _read_png_sequence(seq, raw=layout == "raw-png")


def import_tree(
    root: str | os.PathLike,
    dest: str | os.PathLike,
    layout: str,
    *,
    min_frames: int = 1,
    strict: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    workers: int = 1,
    accept_non_silhouettes: bool = False,
) -> Path:
    """Import a ``raw-png``, ``png`` or ``pkl`` tree into a 64×44 binary cache at ``dest`` (atomically).

    ``workers`` > 1 reads sequences in that many processes (results keep their order). Skips (unknown folder names,
    empty or unreadable sequences, wrong frame sizes, sequences shorter than ``min_frames``) and unreadable frames
    are recorded in ``meta.json``; ``strict=True`` raises on the first one instead.

    Every sequence's binarity and fill are checked (:mod:`gstsn.data.quality`): a sequence that is clearly not
    silhouettes (a photo, noise, inverted frames) stops the import with a :class:`DataImportError` naming the file,
    unless ``accept_non_silhouettes``; borderline ones (and accepted ones) are imported and listed in
    ``meta.json``'s ``report.suspicious``. An import where every sequence is skipped is an error and writes nothing.
    """
    if layout not in ("raw-png", "png", "pkl"):
        raise DataImportError(f"unknown tree layout {layout!r}; expected one of ['raw-png', 'png', 'pkl']")
    root = Path(root)
    seqs, skipped = scan_tree(root, strict)
    rep = _Reporter(strict)
    rep.skipped.extend(skipped)
    dropped = 0
    suspicious: list[dict[str, Any]] = []
    jobs = [(layout, s) for s in seqs]
    width = PRETREAT_SIZE - 2 * SIDE_CUT
    with CacheWriter(dest, PRETREAT_SIZE, width, overwrite=overwrite) as writer:
        pool = ProcessPoolExecutor(workers) if workers > 1 else None
        try:
            results = pool.map(_read_sequence, jobs, chunksize=4) if pool else map(_read_sequence, jobs)
            bar = tqdm(zip(seqs, results, strict=True), total=len(seqs), desc=f"import {layout}", unit="seq",
                       disable=not progress)  # fmt: skip
            for seq, res in bar:
                key = (seq.subject, seq.seq_type, seq.view)
                for path, why in res.bad_frames:
                    rep.bad_frame(path, why)
                dropped += res.dropped
                if res.frames is None:
                    rep.skip(seq.path, res.reason, key)
                elif len(res.frames) < min_frames:
                    rep.skip(seq.path, f"{len(res.frames)} valid frames (< min_frames={min_frames})", key)
                else:
                    _judge(res, key, writer.dest, accept_non_silhouettes, suspicious)
                    writer.add(*key, res.frames)
        finally:
            if pool:
                pool.shutdown(cancel_futures=True)
        _check_not_empty(writer, root, rep.skipped)
        accepted = {"accept_non_silhouettes": True} if accept_non_silhouettes else {}
        meta = {
            "source": _source_meta(root, layout, min_frames=min_frames, **accepted),
            "report": {"skipped": rep.skipped, "unreadable_frames": rep.unreadable_frames, "suspicious": suspicious},
            "pretreatment": _pretreatment_meta(layout, dropped),
        }
        return writer.finish(meta)


def _judge(
    res: _SeqResult, key: tuple[str, str, str], dest: Path, accept: bool, suspicious: list[dict[str, Any]]
) -> None:
    """Refuse a sequence that is clearly not silhouettes (unless ``accept``); note a borderline or accepted one."""
    q = res.quality
    if q is None or q.verdict == "ok":
        return
    if q.verdict == "refused" and not accept:
        kept = f"{dest} is left as it was" if dest.exists() else f"nothing was written to {dest}"
        raise DataImportError(
            f"{res.worst} does not look like a binary silhouette: {q.describe()}; import stopped and {kept}. "
            "Check the source (silhouettes: a dark background and a bright person), or pass "
            "--accept-non-silhouettes (accept_non_silhouettes=True) to import it anyway"
        )
    suspicious.append(
        {
            **dict(zip(("subject", "seq_type", "view"), key, strict=True)),
            "path": res.worst,
            "verdict": q.verdict if q.verdict == "borderline" else "accepted",
            "binarity": round(q.binarity, 3),
            "fill": round(q.fill, 3),
            "reason": q.reason,
        }
    )


def _pretreatment_meta(layout: str, dropped: int) -> dict[str, Any]:
    steps = []
    if layout == "raw-png":
        steps.append(
            f"drop frames with pixel sum <= {MIN_PIXEL_SUM}; crop rows; resize to height {PRETREAT_SIZE} "
            "keeping the aspect (Pillow bicubic); centre on the half cumulative column sum; 64-wide window, "
            "zero-padded"
        )
    steps.append(f"cut {SIDE_CUT} px each side (64x64 -> 64x44); binarise at >= {BINARIZE_THRESHOLD}")
    return {"steps": steps, "frames_dropped": dropped}


# ------------------------------------------------------------------------------------------------------ entry point
def _source_meta(source: Path, layout: str, **params: Any) -> dict[str, Any]:
    return {
        "kind": "casia-b",
        "layout": layout,
        "path": str(source.resolve()),
        "reader_version": READER_VERSION,
        "params": params,
    }


def source_key(source: str | os.PathLike, layout: str | None = None, **params: Any) -> str:
    """A hash naming an import before it is done: layout, reader version, parameters and the source's content.

    For an npz file the content is its SHA-256; for a tree, every file's relative path, size and mtime (a tree of a
    million frames is not hashed byte by byte). Same key -> the same cache can be reused.
    """
    source = Path(source)
    layout = layout or detect_layout(source)
    h = hashlib.sha256(repr((layout, READER_VERSION, sorted(params.items()))).encode())
    if source.is_file():
        with open(source, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
    else:
        for dirpath, dirnames, filenames in os.walk(source):
            dirnames.sort()
            for name in sorted(filenames):
                p = Path(dirpath) / name
                st = p.stat()
                h.update(f"{p.relative_to(source)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def import_casia_b(
    source: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    layout: str | None = None,
    min_frames: int = 1,
    strict: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    workers: int = 1,
    accept_non_silhouettes: bool = False,
) -> Path:
    """Import CASIA-B from ``source`` (an npz or a tree; ``layout`` auto-detected when ``None``) into ``dest``.

    See :func:`import_npz` and :func:`import_tree`; ``accept_non_silhouettes`` applies to trees (an npz holds
    bit-packed frames, binary by construction)."""
    source = Path(source)
    if not source.exists():
        raise DataImportError(f"no such file or folder: {source}")
    layout = layout or detect_layout(source)
    if layout not in LAYOUTS:
        raise DataImportError(f"unknown layout {layout!r}; expected one of {list(LAYOUTS)}")
    if isinstance(min_frames, bool) or not isinstance(min_frames, int) or min_frames < 1:
        raise DataImportError(f"min_frames must be an integer >= 1; got {min_frames!r}")
    if layout == "npz":
        return import_npz(source, dest, min_frames=min_frames, overwrite=overwrite, progress=progress)
    return import_tree(
        source,
        dest,
        layout,
        min_frames=min_frames,
        strict=strict,
        overwrite=overwrite,
        progress=progress,
        workers=workers,
        accept_non_silhouettes=accept_non_silhouettes,
    )


__all__ = [
    "BINARIZE_THRESHOLD",
    "DataImportError",
    "LAYOUTS",
    "MIN_PIXEL_SUM",
    "NpzInfo",
    "SequenceDir",
    "crop_binarize",
    "detect_layout",
    "import_casia_b",
    "import_npz",
    "import_tree",
    "pretreat_raw_frame",
    "read_npz_index",
    "scan_tree",
    "source_key",
]
