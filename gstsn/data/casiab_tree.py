"""CASIA-B folder trees (``ROOT/<id>/<type-nn>/<view>/``): raw PNG, pretreated PNG or pickled arrays, scanned,
read in worker processes, judged (silhouette quality) and written to the cache. Which layout a tree has is decided
in :mod:`gstsn.data.casiab_layout`."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from gstsn.data.cache_writer import CacheWriter
from gstsn.data.importing import DataImportError, check_not_empty, source_meta
from gstsn.data.naming import NamingError, normalize_subject, validate_seq_type, validate_view
from gstsn.data.pretreat import (
    BINARIZE_THRESHOLD,
    MIN_PIXEL_SUM,
    PRETREAT_SIZE,
    SIDE_CUT,
    crop_binarize,
    pretreat_raw_frame,
)
from gstsn.data.quality import Quality, assess
from gstsn.data.safe_pickle import PickleReadError, load_pickled_array


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


def _subdirs(path: Path, rep: _Reporter) -> Iterator[Path]:
    """The visible subfolders of ``path``; a folder that cannot be listed is recorded as skipped (or raises, strict)."""
    try:
        entries = sorted(path.iterdir())
    except OSError as exc:
        rep.skip(path, unreadable_folder(exc))
        return iter(())
    return (p for p in entries if p.is_dir() and not p.name.startswith("."))


def unreadable_folder(exc: OSError) -> str:
    return f"unreadable folder ({type(exc).__name__}: {exc.strerror or exc})"


def files_of(folder: Path) -> list[Path]:
    """The regular files of ``folder``, sorted; entries that are no file (a symlink loop, a dangling link) are left
    out, as folders are. An unreadable folder raises ``OSError``."""
    return sorted(p for p in folder.iterdir() if p.is_file())


def scan_tree(root: str | os.PathLike, strict: bool = False) -> tuple[list[SequenceDir], list[dict[str, Any]]]:
    """Find every ``ROOT/<id>/<type-nn>/<view>/`` folder, sorted by (subject, seq_type, view).

    Returns the sequence folders and the skipped folders (unknown names, folders that cannot be listed). Subject
    folders may be named ``1`` or ``001`` (both mean ``"001"``); two folders for the same sequence raise
    :class:`DataImportError`.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataImportError(f"no such folder: {root} (expected ROOT/<id>/<type-nn>/<view>/ with frames)")
    try:
        subjects = list(_subdirs(root, _Reporter(strict=True)))
    except DataImportError as exc:
        raise DataImportError(f"cannot read the tree: {exc}") from None
    rep = _Reporter(strict)
    found: dict[tuple[str, str, str], Path] = {}
    for sdir in subjects:
        try:
            subject = normalize_subject(sdir.name)
        except NamingError as exc:
            rep.skip(sdir, f"not a subject folder ({exc})")
            continue
        for tdir in _subdirs(sdir, rep):
            try:
                seq_type = validate_seq_type(tdir.name)
            except NamingError as exc:
                rep.skip(tdir, str(exc), (subject, tdir.name, ""))
                continue
            for vdir in _subdirs(tdir, rep):
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
    try:
        files = [p for p in files_of(seq.path) if p.suffix.lower() == ".png"]
    except OSError as exc:
        return _SeqResult(None, unreadable_folder(exc))
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
    try:
        pkls = [p for p in files_of(seq.path) if p.suffix.lower() == ".pkl"]
    except OSError as exc:
        return _SeqResult(None, unreadable_folder(exc))
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
        check_not_empty(writer, root, rep.skipped)
        accepted = {"accept_non_silhouettes": True} if accept_non_silhouettes else {}
        meta = {
            "source": source_meta(root, layout, min_frames=min_frames, **accepted),
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


__all__ = [
    "SequenceDir",
    "import_tree",
    "files_of",
    "scan_tree",
    "unreadable_folder",
]
