"""Data sources: :func:`open_dataset`, the one call that turns a data spec into a cache, and dataset summaries.

Data specs (:func:`open_dataset`):

- ``synth``: the default synthetic dataset; ``synth:subjects=20,identity_cue=0.3,seed=1`` sets
  :class:`~gstsn.data.synth.SynthConfig` fields. Generated once, cached under ``cache_root/synth-<config fingerprint>``.
- ``casia-b:PATH``: the compact npz or a CASIA-B tree (layout detected); imported once, cached under
  ``cache_root/casia-b-<source key>`` (see :func:`gstsn.data.casiab.source_key`).
- a path to a cache directory: opened as it is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from gstsn.data.cache import SilhouetteCache, is_cache
from gstsn.data.cache_writer import write_cache
from gstsn.data.casiab import import_casia_b, read_npz_index, source_key
from gstsn.data.naming import SEQ_TYPES, SHORT_SEQUENCE_FRAMES, VIEWS, full_grid
from gstsn.data.specs import SPEC_FORMS, DataSpecError, parse_spec_pairs, synth_config_from_pairs
from gstsn.data.synth import SynthConfig, generate
from gstsn.data.synth import fingerprint as synth_fingerprint

DEFAULT_CACHE_ROOT = Path(os.environ.get("GSTSN_CACHE_ROOT", ".cache/gstsn"))


# -------------------------------------------------------------------------------------------------------- synthetic
def synth_cache(cfg: Any, dest: str | os.PathLike, *, overwrite: bool = False, progress: bool = False) -> Path:
    """Generate the synthetic dataset of ``cfg`` and write it as a cache at ``dest``; returns ``dest``."""
    dataset = generate_synth(cfg, progress)
    return write_synth_cache(dataset, dest, overwrite=overwrite)


def generate_synth(cfg: Any, progress: bool) -> Any:
    with tqdm(total=cfg.subjects, desc="synth", unit="subject", disable=not progress) as bar:
        return generate(cfg, progress=lambda done, total: bar.update(done - bar.n))


def write_synth_cache(dataset: Any, dest: str | os.PathLike, *, overwrite: bool) -> Path:
    gen_meta = dict(dataset.meta)
    source = {"kind": "synthetic", **{k: v for k, v in gen_meta.items() if k != "fingerprint"}}
    source["config_fingerprint"] = gen_meta.get("fingerprint")
    return write_cache(dest, dataset.frames, dataset.index, {"source": source}, overwrite=overwrite)


def _synth_fingerprint(cfg: SynthConfig) -> str:
    return synth_fingerprint(cfg)


# ----------------------------------------------------------------------------------------------------- open_dataset
def open_dataset(
    spec: str, cache_root: str | os.PathLike = DEFAULT_CACHE_ROOT, *, progress: bool = False, verify: bool = True
) -> SilhouetteCache:
    """Open the dataset named by ``spec`` (see the module doc), generating or importing it into ``cache_root`` once.

    Later calls with the same spec reuse the cache (same synthetic config and generator version, or same source
    content, layout and reader version). Raises :class:`DataSpecError` for an unknown form.

    ``verify`` (default): the cache's content is checked with :meth:`SilhouetteCache.ensure_verified`: free when its
    verified stamp holds (written with the cache, refreshed by every full hash), a full hash (~0.5 s for real
    CASIA-B) when a file changed since; a corrupt cache raises :class:`~gstsn.data.cache_format.CacheError`.
    """
    cache = _open_dataset(spec, cache_root, progress)
    if verify:
        cache.ensure_verified()
    return cache


def _open_dataset(spec: str, cache_root: str | os.PathLike, progress: bool) -> SilhouetteCache:
    if not isinstance(spec, str) or not spec.strip():
        raise DataSpecError(f"data spec {spec!r} is empty; expected {SPEC_FORMS}")
    spec = spec.strip()
    root = Path(cache_root)
    kind, sep, rest = spec.partition(":")
    if kind == "synth" and (sep or not rest):
        cfg = synth_config_from_pairs(parse_spec_pairs(rest, spec), where=f"data spec {spec!r}")
        dest = root / f"synth-{_synth_fingerprint(cfg)}"
        if not is_cache(dest):
            synth_cache(cfg, dest, overwrite=True, progress=progress)
        return SilhouetteCache.open(dest)
    if kind == "casia-b" and sep:
        if not rest:
            raise DataSpecError(f"data spec {spec!r} lacks a path: 'casia-b:PATH'")
        src = Path(rest).expanduser()
        if not src.exists():
            raise DataSpecError(f"data spec {spec!r}: no such file or folder {src}")
        dest = root / f"casia-b-{source_key(src)}"
        if not is_cache(dest):
            import_casia_b(src, dest, overwrite=True, progress=progress)
        return SilhouetteCache.open(dest)
    path = Path(spec).expanduser()
    if path.is_dir():
        return SilhouetteCache.open(path)
    hint = f" (to import it, use 'casia-b:{spec}')" if path.exists() else ""
    raise DataSpecError(f"unknown data spec {spec!r}{hint}; expected {SPEC_FORMS}")


# ------------------------------------------------------------------------------------------------------------ info
@dataclass
class DataInfo:
    """What ``gstsn data info`` reports about a cache or a compact npz."""

    path: str
    kind: str  # "cache" or "npz"
    height: int
    width: int
    n_frames: int
    bytes_on_disk: int
    packed_bytes: int  # RAM the bit-packed frames take
    counts: pd.DataFrame  # sequences per seq_type (rows, SEQ_TYPES order) x view (columns, VIEWS order)
    subjects: list[str]
    lengths: np.ndarray
    missing: list[tuple[str, str, str]]
    short: list[tuple[str, str, str, int]]
    skipped: list[dict[str, Any]] = field(default_factory=list)
    suspicious: list[dict[str, Any]] = field(default_factory=list)  # imported, but not quite like silhouettes
    unreadable_frames: int = 0
    fingerprint: str = ""
    source: Any = None
    verified: dict[str, Any] | None = None  # the cache's verified stamp when the files are unchanged since

    @property
    def n_sequences(self) -> int:
        return int(len(self.lengths))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (counts as a nested dict)."""
        return {
            "path": self.path,
            "kind": self.kind,
            "height": self.height,
            "width": self.width,
            "subjects": len(self.subjects),
            "sequences": self.n_sequences,
            "frames": self.n_frames,
            "bytes_on_disk": self.bytes_on_disk,
            "packed_bytes": self.packed_bytes,
            "counts": {t: {v: int(self.counts.loc[t, v]) for v in VIEWS} for t in SEQ_TYPES},
            "missing": ["/".join(k) for k in self.missing],
            "short": [{"sequence": "/".join(k[:3]), "frames": k[3]} for k in self.short],
            "skipped": self.skipped,
            "suspicious": self.suspicious,
            "unreadable_frames": self.unreadable_frames,
            "fingerprint": self.fingerprint,
            "verified": None if self.verified is None else {k: self.verified.get(k) for k in ("verified", "how")},
            "source": self.source,
        }


def _summarize(index: pd.DataFrame) -> dict[str, Any]:
    counts = pd.crosstab(index["seq_type"], index["view"]).reindex(index=list(SEQ_TYPES), columns=list(VIEWS))
    subjects = sorted(index["subject"].unique().tolist())
    present = set(zip(index["subject"], index["seq_type"], index["view"], strict=True))
    lengths = index["length"].to_numpy(np.int64)
    short_rows = np.flatnonzero(lengths < SHORT_SEQUENCE_FRAMES)
    keys = index[["subject", "seq_type", "view"]].to_numpy()
    return {
        "counts": counts.fillna(0).astype(np.int64),
        "subjects": subjects,
        "lengths": lengths,
        "missing": [k for k in full_grid(subjects) if k not in present],
        "short": [(*map(str, keys[i]), int(lengths[i])) for i in short_rows],
    }


def dataset_info(path: str | os.PathLike) -> DataInfo:
    """Summarise a cache directory, or a compact npz (read from its small index members only: fast)."""
    path = Path(path)
    if path.is_file():
        info = read_npz_index(path)
        n, h, pw = info.frames_shape
        return DataInfo(
            str(path), "npz", h, 44, n, path.stat().st_size, n * h * pw, **_summarize(info.index), source="npz"
        )
    cache = SilhouetteCache.open(path)
    report = cache.report
    return DataInfo(
        str(path),
        "cache",
        cache.height,
        cache.width,
        cache.n_frames,
        cache.nbytes_on_disk(),
        int(cache.packed.nbytes),
        **_summarize(cache.index),
        skipped=list(report.get("skipped", [])),
        suspicious=list(report.get("suspicious", [])),
        unreadable_frames=len(report.get("unreadable_frames", [])),
        fingerprint=cache.fingerprint,
        source=cache.source,
        verified=cache.verified_stamp(),
    )


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def format_info(info: DataInfo, list_limit: int = 20) -> str:
    """The human-readable report printed by ``gstsn data info``."""
    lines = [f"{info.kind}: {info.path}"]
    if info.fingerprint:
        lines.append(f"fingerprint: {info.fingerprint}")
    if info.kind == "cache":
        v = info.verified
        lines.append(
            f"content: verified {v.get('verified')} ({v.get('how')}), files unchanged since"
            if v
            else f"content: NOT verified (never hashed, or a file changed since): gstsn data verify {info.path}"
        )
    if isinstance(info.source, dict):
        keys = ("kind", "layout", "path", "generator_version")
        src = ", ".join(f"{k}={info.source[k]}" for k in keys if k in info.source)
        lines.append(f"source: {src}")
    lens = info.lengths
    lines += [
        f"frame size: {info.height}x{info.width}",
        f"subjects: {len(info.subjects)}   sequences: {info.n_sequences:,}   frames: {info.n_frames:,}",
        f"size on disk: {_mb(info.bytes_on_disk)}   bit-packed frames in RAM: {_mb(info.packed_bytes)}",
    ]
    if lens.size:
        lines.append(f"frames per sequence: min {lens.min()}, median {int(np.median(lens))}, max {lens.max()}")
    table = info.counts.copy()
    table["total"] = table.sum(axis=1)
    table.loc["total"] = table.sum(axis=0)
    lines += ["", "sequences per condition x view:", table.to_string(), ""]

    def listing(title: str, items: list[str]) -> None:
        lines.append(f"{title}: {len(items)}")
        shown = items if list_limit < 0 else items[:list_limit]
        lines.extend(f"  {s}" for s in shown)
        if len(shown) < len(items):
            lines.append(f"  ... {len(items) - len(shown)} more (--list -1 shows all)")

    listing(
        f"missing sequences (vs. the full CASIA-B grid of the {len(info.subjects)} subjects present)",
        ["/".join(k) for k in info.missing],
    )
    listing(
        f"short sequences (< {SHORT_SEQUENCE_FRAMES} frames)", [f"{'/'.join(k[:3])}: {k[3]} frames" for k in info.short]
    )
    if info.kind == "cache":
        listing("skipped at import", [f"{e.get('path', '/'.join(_key(e)))}: {e['reason']}" for e in info.skipped])
        listing(
            "imported but not quite like silhouettes",
            [f"{e['path']}: {e['verdict']}, {e['reason']} (binarity {e['binarity']}, fill {e['fill']})"
             for e in info.suspicious],
        )  # fmt: skip
        lines.append(f"unreadable frames dropped at import: {info.unreadable_frames}")
    return "\n".join(lines)


def _key(entry: dict[str, Any]) -> tuple[str, str, str]:
    return (entry.get("subject", ""), entry.get("seq_type", ""), entry.get("view", ""))


__all__ = [
    "DEFAULT_CACHE_ROOT",
    "DataInfo",
    "DataSpecError",
    "dataset_info",
    "format_info",
    "open_dataset",
    "synth_cache",
    "synth_config_from_pairs",
]
