"""Which layout a CASIA-B source has (``gstsn data import`` without ``--layout``, ``casia-b:PATH`` data specs): an npz
file, or a tree of pickles, pretreated 64×64 PNGs or raw PNGs, judged from sequence folders sampled over the whole
tree, never from one frame; a tree whose folders disagree is refused."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from PIL import Image

from gstsn.data.casiab_tree import files_of, scan_tree, unreadable_folder
from gstsn.data.importing import DataImportError
from gstsn.data.pretreat import PRETREAT_SIZE

LAYOUT_SAMPLE = 16  # sequence folders, spread over the tree, whose first readable frame decides the layout


def detect_layout(source: str | os.PathLike) -> str:
    """The layout of ``source``: ``npz`` for a file, else from sampled sequence folders (:func:`explain_layout`)."""
    return explain_layout(source)[0]


def explain_layout(source: str | os.PathLike) -> tuple[str, str]:
    """The layout of ``source`` and why. A file is ``npz`` (a zip archive) or an error. In a tree, up to
    ``LAYOUT_SAMPLE`` sequence folders spread evenly over it are looked at (the first and the last among them):
    folders with ``*.pkl`` -> ``pkl``; else the first readable PNG of each: all 64×64 -> ``png``, none 64×64 ->
    ``raw-png``. Folders that disagree (pkl and PNG, or 64×64 and other sizes) raise :class:`DataImportError` naming
    one of each: pass ``--layout``. An unreadable or refused PNG (a decompression bomb) is passed over here; the
    import records it with the other unreadable frames."""
    source = Path(source)
    if not source.exists():
        raise DataImportError(f"no such file or folder: {source}")
    if source.is_file():
        if zipfile.is_zipfile(source):
            return "npz", f"{source} is a zip (.npz) archive"
        raise DataImportError(f"{source} is a file but not an .npz archive; expected an npz or a CASIA-B folder")
    seqs, _ = scan_tree(source)
    k = min(len(seqs), LAYOUT_SAMPLE)
    picks = sorted({round(i * (len(seqs) - 1) / max(k - 1, 1)) for i in range(k)})
    pkl: list[Path] = []
    sizes: list[tuple[Path, tuple[int, int]]] = []
    unreadable: list[str] = []
    for seq in (seqs[i] for i in picks):
        try:
            files = files_of(seq.path)
        except OSError as exc:
            unreadable.append(f"{seq.path}: {unreadable_folder(exc)}")
            continue
        if any(p.suffix.lower() == ".pkl" for p in files):
            pkl.append(seq.path)
            continue
        for p in (p for p in files if p.suffix.lower() == ".png"):
            try:
                with Image.open(p) as im:
                    sizes.append((p, im.size))
                break
            except (OSError, ValueError, Image.DecompressionBombError) as exc:
                unreadable.append(f"{p}: unreadable image ({type(exc).__name__}: {exc})")
    sampled = f"{len(picks)} of its {len(seqs):,} sequence folders sampled, spread over the tree"
    pretreated = [(p, s) for p, s in sizes if s == (PRETREAT_SIZE, PRETREAT_SIZE)]
    raw = [(p, s) for p, s in sizes if s != (PRETREAT_SIZE, PRETREAT_SIZE)]
    if pkl and sizes:
        raise DataImportError(
            f"cannot tell the layout of {source}: its sequence folders disagree ({sampled}): {pkl[0]} holds .pkl "
            f"files, {sizes[0][0].parent} .png frames; pass --layout pkl or png/raw-png"
        )
    if pretreated and raw:
        (p64, _), (praw, (w, h)) = pretreated[0], raw[0]
        raise DataImportError(
            f"cannot tell the layout of {source}: its frames disagree ({sampled}): the first frame is "
            f"{PRETREAT_SIZE}x{PRETREAT_SIZE} in {len(pretreated)} folder(s) (pretreated, e.g. {p64}) and of another "
            f"size in {len(raw)} (raw, e.g. {praw} is {w}x{h}); pass --layout png (frames of another size are then "
            "skipped and recorded) or --layout raw-png (every frame is pretreated)"
        )
    if pkl:
        return "pkl", f"the {len(pkl)} folder(s) looked at hold .pkl files ({sampled})"
    if pretreated:
        return "png", (
            f"the first frame is {PRETREAT_SIZE}x{PRETREAT_SIZE} in each of the {len(pretreated)} folder(s) looked at "
            f"({sampled})"
        )
    if raw:
        (p, (w, h)) = raw[0]
        return "raw-png", (
            f"the first frame is not {PRETREAT_SIZE}x{PRETREAT_SIZE} in any of the {len(raw)} folder(s) looked at "
            f"(e.g. {p} is {w}x{h}; {sampled})"
        )
    why = f"; unreadable: {'; '.join(unreadable[:3])}" if unreadable else ""
    raise DataImportError(
        f"cannot tell the layout of {source}: no readable .png or .pkl frames ({sampled}{why}); pass --layout"
    )


__all__ = ["LAYOUT_SAMPLE", "detect_layout", "explain_layout"]
