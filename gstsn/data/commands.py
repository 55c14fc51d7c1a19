"""``gstsn data import|synth|info|verify``: argument parsing and messages; the work is in :mod:`gstsn.data.sources`,
:mod:`gstsn.data.cache` and the readers."""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gstsn import cli_args
from gstsn.data.cache import SilhouetteCache, cache_counts
from gstsn.data.cache_format import META_FILE
from gstsn.data.casiab import LAYOUTS, explain_layout, import_casia_b
from gstsn.data.sources import (
    dataset_info,
    format_info,
    generate_synth,
    synth_config_from_pairs,
    write_synth_cache,
)
from gstsn.data.synth import SynthConfig, write_preview
from gstsn.signals import InterruptedAfterWork, reporting_after


def _replacement_note(command: str, dest: str, before: dict[str, int] | None) -> None:
    """After ``--overwrite`` replaced a cache: one line on stderr with the counts before -> after (and how much
    smaller, when it is)."""
    if before is None:
        return
    after = cache_counts(dest)
    if after is None:
        return
    parts = []
    for key, label in (("n_sequences", "sequences"), ("n_frames", "frames")):
        b, a = before[key], after[key]
        parts.append(f"{label} {b:,} -> {a:,}" + (f" ({a - b:+,}, {100 * (a - b) / b:+.1f} %)" if a < b else ""))
    smaller = any(after[k] < before[k] for k in before)
    head = "WARNING: replaced a larger cache" if smaller else "replaced the cache"
    print(f"{command}: {head} at {dest}: {', '.join(parts)}", file=sys.stderr)


def _warn_suspicious(dest: str | Path, list_limit: int) -> None:
    suspicious = SilhouetteCache.open(dest).report.get("suspicious", [])
    if not suspicious:
        return
    print(
        f"gstsn data import: WARNING: {len(suspicious)} sequence(s) do not look quite like binary silhouettes "
        "(imported; listed in meta.json report.suspicious and by gstsn data info):",
        file=sys.stderr,
    )
    shown = suspicious if list_limit < 0 else suspicious[:list_limit]
    for e in shown:
        print(f"  {e['path']}: {e['reason']} (binarity {e['binarity']}, fill {e['fill']})", file=sys.stderr)
    if len(shown) < len(suspicious):
        print(f"  ... {len(suspicious) - len(shown)} more", file=sys.stderr)


def _meta_text(dest: str | Path) -> str | None:
    """The ``meta.json`` of the cache at ``dest`` as text (None when there is none): it changes with every write."""
    try:
        return (Path(dest) / META_FILE).read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None


def _completed(dest: str | Path) -> str:
    counts = cache_counts(dest) or {"n_sequences": 0, "n_frames": 0}
    return (
        f"the new cache was completed: {dest} holds {counts['n_sequences']:,} sequences, {counts['n_frames']:,} "
        f"frames (gstsn data info {dest} shows its report)"
    )


def _written(dest: str, write: Callable[[], Path]) -> Path:
    """Run ``write`` (an import or a synth writing the cache at ``dest``). Ctrl-C once the new cache is in place (the
    rename done, its stamp still being written) says the cache was completed, as it does during the summary after."""
    before = _meta_text(dest)
    try:
        return write()
    except KeyboardInterrupt:
        after = _meta_text(dest)
        if after is not None and after != before:
            raise InterruptedAfterWork(signal.SIGINT, _completed(dest)) from None
        raise


def _run_import(args: argparse.Namespace) -> int:
    before = cache_counts(args.dest) if args.overwrite else None
    layout = args.layout
    if layout is None:
        layout, why = explain_layout(args.source)
        if layout != "npz":
            print(f"gstsn data import: layout {layout!r} detected: {why} (--layout chooses one)", file=sys.stderr)
    path = _written(
        args.dest,
        lambda: import_casia_b(
            args.source,
            args.dest,
            layout=layout,
            min_frames=args.min_frames,
            strict=args.strict,
            overwrite=args.overwrite,
            progress=not args.no_progress,
            workers=args.workers,
            accept_non_silhouettes=args.accept_non_silhouettes,
        ),
    )
    with reporting_after(_completed(path)):
        print(format_info(dataset_info(path), list_limit=args.list))
        _warn_suspicious(path, args.list)
        _replacement_note("gstsn data import", args.dest, before)
    return 0


def _synth_options() -> list[tuple[str, Any]]:
    """``(field, default)`` of every ``SynthConfig`` field (each becomes a ``gstsn data synth --field`` option)."""
    return [(f.name, f.default) for f in dataclasses.fields(SynthConfig)]


def _run_synth(args: argparse.Namespace) -> int:
    pairs = {name: str(getattr(args, name)) for name, _ in _synth_options() if getattr(args, name) is not None}
    cfg = synth_config_from_pairs(pairs, where="gstsn data synth")
    dataset = generate_synth(cfg, progress=not args.no_progress)
    before = cache_counts(args.dest) if args.overwrite else None
    path = _written(args.dest, lambda: write_synth_cache(dataset, args.dest, overwrite=args.overwrite))
    with reporting_after(_completed(path)):
        if args.preview:
            write_preview(dataset, args.preview)
            print(f"preview written to {args.preview}")
        print(format_info(dataset_info(path), list_limit=args.list))
        _replacement_note("gstsn data synth", args.dest, before)
    return 0


def _run_info(args: argparse.Namespace) -> int:
    info = dataset_info(args.cache)
    print(json.dumps(info.to_dict(), indent=1) if args.json else format_info(info, list_limit=args.list))
    return 0


def _run_verify(args: argparse.Namespace) -> int:
    cache = SilhouetteCache.open(args.cache)
    t0 = time.perf_counter()
    cache.verify()  # a CacheError naming the cache and what differs -> one line, exit 2
    took = time.perf_counter() - t0
    print(
        f"{cache.path}: ok: fingerprint {cache.fingerprint} recomputed from {cache.n_frames:,} frames of "
        f"{len(cache):,} sequences ({cache.packed.nbytes / 1e6:,.1f} MB hashed in {took:.2f} s)"
    )
    return 0


def register(subparsers: Any) -> None:
    """Add ``gstsn data import|synth|info|verify`` to the ``gstsn`` command."""
    data = subparsers.add_parser("data", help="import, generate and inspect silhouette datasets")
    sub = data.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")

    def common(p: argparse.ArgumentParser, listing: bool = True) -> None:
        if listing:
            p.add_argument("--list", type=int, default=20, metavar="N", help="list at most N missing/short (-1: all)")

    imp = sub.add_parser("import", help="import CASIA-B (npz or a folder tree) into a cache")
    imp.add_argument("source", help="the compact .npz or ROOT of ROOT/<id>/<type-nn>/<view>/")
    imp.add_argument("dest", help="cache directory to create")
    imp.add_argument("--layout", choices=LAYOUTS, default=None, help="source layout (default: detected)")
    imp.add_argument("--min-frames", type=int, default=1, help="skip sequences with fewer frames (default 1)")
    imp.add_argument("--strict", action="store_true", help="stop at the first bad folder or frame instead of skipping")
    imp.add_argument("--workers", type=cli_args.positive_int, default=1, help="processes reading a tree (default 1)")
    imp.add_argument(
        "--overwrite", action="store_true",
        help="replace DEST if it exists (not when nothing would be imported; a smaller result is reported)",
    )  # fmt: skip
    imp.add_argument(
        "--accept-non-silhouettes", action="store_true",
        help="import tree frames that do not look like binary silhouettes (photos, noise, inverted) instead of "
        "stopping; they are listed as suspicious",
    )  # fmt: skip
    imp.add_argument("--no-progress", action="store_true", help="no progress bar")
    common(imp)
    imp.set_defaults(func=_run_import)

    syn = sub.add_parser("synth", help="generate the synthetic CASIA-B-like dataset into a cache")
    syn.add_argument("dest", help="cache directory to create")
    for name, default in _synth_options():
        kind = type(default) if isinstance(default, (int, float, str)) and not isinstance(default, bool) else str
        syn.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, default=None,
                         help=f"SynthConfig.{name} (default {default})")  # fmt: skip
    syn.add_argument("--preview", metavar="PNG", default=None, help="also write a gallery PNG of frames")
    syn.add_argument("--overwrite", action="store_true", help="replace DEST if it exists")
    syn.add_argument("--no-progress", action="store_true", help="no progress bar")
    common(syn)
    syn.set_defaults(func=_run_synth)

    inf = sub.add_parser("info", help="counts per condition x view, missing and short sequences, size")
    inf.add_argument("cache", help="a cache directory or a compact .npz")
    inf.add_argument("--json", action="store_true", help="print JSON instead of text")
    common(inf)
    inf.set_defaults(func=_run_info)

    ver = sub.add_parser(
        "verify", help="recompute a cache's content fingerprint (every byte); exit 0 when it matches, else 2"
    )
    ver.add_argument("cache", help="a cache directory")
    ver.set_defaults(func=_run_verify)


__all__ = ["register"]
