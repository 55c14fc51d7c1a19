"""The ``gstsn`` command. Subcommands only parse arguments, build configs and call library functions.

Each area registers its own subcommands through a ``register(subparsers)`` function in its ``commands`` module.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = ("gstsn.data.commands", "gstsn.train.commands", "gstsn.ablate.commands", "gstsn.report.commands")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gstsn", description="GaitSet / GSTSN benchmark and ablation suite: data, train, eval, ablations, report."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
