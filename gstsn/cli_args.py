"""Argument types shared by the ``gstsn`` subcommands: a bad value is an argparse error naming the option and what it
expects, before any work starts (``--time-limit nan``, ``--workers 0``, ``--device cuda:9`` on a CPU machine, ``--out``
naming a file)."""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import Any

from gstsn.atomic import output_folder_problem

DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def positive_int(text: str) -> int:
    """An integer ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer; expected an integer ≥ 1") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is invalid; expected an integer ≥ 1")
    return value


def positive_seconds(text: str) -> float:
    """A finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; expected seconds > 0") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} is invalid; expected a finite number of seconds > 0")
    return value


def device(text: str) -> str:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:K``; a CUDA device that this machine does not have is refused here."""
    if not DEVICE_PATTERN.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is invalid; expected auto, cpu, cuda or cuda:K")
    if text.startswith("cuda"):
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(text.partition(":")[2] or 0)
        if index >= count:
            have = f"CUDA devices 0..{count - 1}" if count else "no CUDA device"
            raise argparse.ArgumentTypeError(f"{text!r} is not available: torch sees {have}; use auto or cpu")
    return text


def output_folder(text: str) -> Path:
    """A folder to write into, created when missing: an existing file there (or above it) is refused now, before the
    work whose results would go there."""
    problem = output_folder_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return Path(text)


def field_overrides(args: argparse.Namespace, names: list[str]) -> dict[str, Any]:
    """The config fields among ``names`` that the command line has options for, as ``{field: value}``."""
    return {n: getattr(args, n) for n in names if hasattr(args, n)}


__all__ = ["device", "field_overrides", "output_folder", "positive_int", "positive_seconds"]
