"""``gstsn data import|synth|info``: argument parsing only; the work is in :mod:`gstsn.data.sources` and the readers."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from gstsn import cli_args
from gstsn.data.casiab import LAYOUTS, import_casia_b
from gstsn.data.sources import (
    dataset_info,
    format_info,
    generate_synth,
    synth_config_from_pairs,
    write_synth_cache,
)
from gstsn.data.synth import SynthConfig, write_preview


def _run_import(args: argparse.Namespace) -> int:
    path = import_casia_b(
        args.source,
        args.dest,
        layout=args.layout,
        min_frames=args.min_frames,
        strict=args.strict,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        workers=args.workers,
    )
    print(format_info(dataset_info(path), list_limit=args.list))
    return 0


def _synth_options() -> list[tuple[str, Any]]:
    """``(field, default)`` of every ``SynthConfig`` field (each becomes a ``gstsn data synth --field`` option)."""
    return [(f.name, f.default) for f in dataclasses.fields(SynthConfig)]


def _run_synth(args: argparse.Namespace) -> int:
    pairs = {name: str(getattr(args, name)) for name, _ in _synth_options() if getattr(args, name) is not None}
    cfg = synth_config_from_pairs(pairs, where="gstsn data synth")
    dataset = generate_synth(cfg, progress=not args.no_progress)
    path = write_synth_cache(dataset, args.dest, overwrite=args.overwrite)
    if args.preview:
        write_preview(dataset, args.preview)
        print(f"preview written to {args.preview}")
    print(format_info(dataset_info(path), list_limit=args.list))
    return 0


def _run_info(args: argparse.Namespace) -> int:
    info = dataset_info(args.cache)
    print(json.dumps(info.to_dict(), indent=1) if args.json else format_info(info, list_limit=args.list))
    return 0


def register(subparsers: Any) -> None:
    """Add ``gstsn data import|synth|info`` to the ``gstsn`` command."""
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
    imp.add_argument("--overwrite", action="store_true", help="replace DEST if it exists")
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


__all__ = ["register"]
