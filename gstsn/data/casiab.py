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
from pathlib import Path
from typing import Any

from gstsn.data.casiab_layout import detect_layout, explain_layout
from gstsn.data.casiab_npz import NpzInfo, import_npz, read_npz_index
from gstsn.data.casiab_tree import SequenceDir, import_tree, scan_tree
from gstsn.data.importing import READER_VERSION, DataImportError
from gstsn.data.pretreat import BINARIZE_THRESHOLD, MIN_PIXEL_SUM, crop_binarize, pretreat_raw_frame

LAYOUTS = ("npz", "raw-png", "png", "pkl")


def source_key(source: str | os.PathLike, layout: str | None = None, **params: Any) -> str:
    """A hash naming an import before it is done: layout, reader version, parameters and the source's content.

    For an npz file the content is its SHA-256; for a tree, every file's relative path, size and mtime (a tree of a
    million frames is not hashed byte by byte). An entry that cannot be stat'ed (a symlink loop, a dangling link: the
    import passes over it too) counts by its name and the error, so that it changes the key once it is readable. Same
    key -> the same cache can be reused.
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
                try:
                    st = p.stat()
                except OSError as exc:
                    h.update(f"{p.relative_to(source)}\0unreadable {exc.errno}\n".encode())
                    continue
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
    "explain_layout",
    "import_casia_b",
    "import_npz",
    "import_tree",
    "pretreat_raw_frame",
    "read_npz_index",
    "scan_tree",
    "source_key",
]
