"""The ``gstsn`` command. Subcommands only parse arguments, build configs and call library functions.

Each area registers its own subcommands through a ``register(subparsers)`` function in its ``commands`` module.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from pathlib import Path

from gstsn.heap import retain_freed_memory

COMMAND_MODULES = (
    "gstsn.data.commands",
    "gstsn.train.commands",
    "gstsn.ablate.commands",
    "gstsn.report.commands",
    "gstsn.interop.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gstsn", description="GaitSet / GSTSN benchmark and ablation suite: data, train, eval, ablations, report."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a ``gstsn`` command. An error of ours (a ``ValueError`` raised by a ``gstsn`` module: bad config, data
    spec, cache, study file, ...) becomes one line naming the command, exit status 2; anything else is a bug and keeps
    its traceback. A stop on SIGTERM / SIGINT (work saved, see :mod:`gstsn.signals`) is one line and the exit
    status 128 + the signal's number (143, 130); Ctrl-C before any work is saved is one line and 130, and so is Ctrl-C
    after the work was done and saved (the line says so). A full disk (ENOSPC / EDQUOT) is one line naming the file
    and the space left, exit status 1: not bad input, the same command succeeds once space is freed."""
    from gstsn.atomic import DiskFullError, disk_full_cause
    from gstsn.signals import InterruptedAfterWork, TrainingInterrupted, exit_code

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        retain_freed_memory()  # before any data or tensor is allocated (see gstsn/heap.py)
        return int(args.func(args) or 0)
    except ValueError as exc:
        if not type(exc).__module__.startswith("gstsn."):
            raise
        print(f"{command_name(args)}: error: {exc}", file=sys.stderr)
        return 2
    except TrainingInterrupted as exc:
        print(
            f"{command_name(args)}: {exc}; run the same command again (gstsn train: with --resume) to continue",
            file=sys.stderr,
        )
        return exc.exit_code
    except InterruptedAfterWork as exc:
        print(f"{command_name(args)}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{command_name(args)}: interrupted (SIGINT)", file=sys.stderr)
        return exit_code(signal.SIGINT)
    except Exception as exc:
        cause = disk_full_cause(exc)
        if cause is None:
            raise
        full = exc if isinstance(exc, DiskFullError) else DiskFullError(cause.filename or Path.cwd(), cause=cause)
        print(f"{command_name(args)}: error: {full}", file=sys.stderr)
        return 1


def command_name(args: argparse.Namespace) -> str:
    """``gstsn data info``, ``gstsn ablations run``, ``gstsn train``: the command as the user typed it."""
    words = ["gstsn", args.command]
    sub = getattr(args, f"{args.command}_command", None)
    return " ".join(words + ([sub] if sub else []))


if __name__ == "__main__":
    sys.exit(main())
