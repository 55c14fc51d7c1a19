"""The compute precision of a run, decided in one place: bf16 autocast on CUDA with ``TrainConfig.amp`` and on the CPU
with ``TrainConfig.cpu_precision = "bf16"``, fp32 otherwise. Training's forward pass and test embedding both run under
:func:`autocast`; the loss, the distances and the stored features are always fp32.

:func:`resolve_cpu_precision` turns the command lines' ``--precision auto|fp32|bf16`` into the field's value: ``auto``
is bf16 where the CPU computes bf16 in hardware (:func:`gstsn.machine.cpu_has_bf16`), else fp32; a study already in
a results folder keeps the precision its runs were trained in (one precision per study, see docs/training.md)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gstsn.config import CPU_PRECISIONS, HASHED_WHEN_SET
from gstsn.machine import cpu_has_bf16

if TYPE_CHECKING:  # torch is imported where autocast is used: the command lines resolve --precision without it
    import torch

#: the choices of ``--precision`` on the command lines
PRECISION_CHOICES: tuple[str, ...] = ("auto", *CPU_PRECISIONS)


def autocast_dtype(device: torch.device, train: Any) -> torch.dtype | None:
    """bf16 when ``train`` (a :class:`~gstsn.config.TrainConfig`) asks for autocast on ``device``, else None."""
    import torch

    if device.type == "cuda":
        return torch.bfloat16 if train.amp else None
    if device.type == "cpu":
        return torch.bfloat16 if train.cpu_precision == "bf16" else None
    return None


def precision_used(device: torch.device, train: Any) -> str:
    """``bf16`` or ``fp32``: what the forward passes of a run on ``device`` compute in (provenance, results rows)."""
    return "bf16" if autocast_dtype(device, train) is not None else "fp32"


def autocast(device: torch.device, train: Any, cache: bool = True) -> contextlib.AbstractContextManager:
    """The run's autocast context (:func:`precision_used`); ``cache=False`` inside a CUDA graph capture."""
    return autocast_to(precision_used(device, train), device, cache)


def autocast_to(precision: str, device: torch.device, cache: bool = True) -> contextlib.AbstractContextManager:
    """Autocast to ``precision`` (``fp32``: none; ``bf16``) on ``device``, whatever the config says."""
    if precision not in CPU_PRECISIONS:
        raise ValueError(f"precision {precision!r} is unknown; expected one of {CPU_PRECISIONS}")
    if precision == "fp32":
        return contextlib.nullcontext()
    import torch

    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, cache_enabled=cache)


def stored_cpu_precision(section: Mapping[str, Any]) -> str:
    """The ``cpu_precision`` of a stored config section (a study.json's ``base``, a config.json's ``train``): one
    written before the field existed holds the field's default (:data:`gstsn.config.HASHED_WHEN_SET`), fp32."""
    return str(section.get("cpu_precision", HASHED_WHEN_SET["cpu_precision"]))


def resolve_cpu_precision(choice: str, stored: str | None = None) -> tuple[str, str]:
    """``(cpu_precision, why)`` for ``--precision choice``: ``fp32`` / ``bf16`` as given; ``auto`` → ``stored`` (the
    precision of a study's runs already in the results folder) when there is one, else bf16 where the CPU computes
    bf16 in hardware and fp32 elsewhere. ``why`` is one line for the log."""
    if choice not in PRECISION_CHOICES:
        raise ValueError(f"--precision {choice!r} is invalid; expected one of {PRECISION_CHOICES}")
    native = cpu_has_bf16()
    if choice != "auto":
        note = (
            " (emulated: this CPU has no bf16 in hardware, expect it slower)" if choice == "bf16" and not native else ""
        )
        return choice, f"CPU precision {choice}: asked for{note}"
    if stored is not None:
        note = ""
        if stored == "bf16" and not native:
            note = "; this CPU has no bf16 in hardware, so it is emulated and slower"
        elif stored == "fp32" and native:
            note = " although this CPU has bf16 in hardware"
        return stored, f"CPU precision {stored}: the precision of the runs already stored{note}"
    if native:
        return "bf16", "CPU precision bf16: this CPU computes bf16 in hardware"
    return "fp32", "CPU precision fp32: this CPU has no bf16 in hardware"


def run_cpu_precision(choice: str, device_type: str, resumed_out: Path | None = None) -> str:
    """``gstsn train --cpu-precision`` resolved (:func:`resolve_cpu_precision`, the choice logged): ``auto`` keeps the
    precision of the run being resumed in ``resumed_out`` (its ``config.json``; one written before the field is fp32),
    else bf16 where this CPU has it in hardware. On CUDA, where ``amp`` decides, ``auto`` is fp32, so the run id does
    not depend on the host CPU."""
    import json

    from gstsn.results.files import CONFIG_FILE

    if choice == "auto" and device_type != "cpu":
        return "fp32"
    stored = None
    if choice == "auto" and resumed_out is not None and (resumed_out / CONFIG_FILE).is_file():
        try:
            saved = json.loads((resumed_out / CONFIG_FILE).read_text(encoding="utf-8"))
            stored = stored_cpu_precision(saved.get("train", {}))
        except (OSError, ValueError, AttributeError):
            stored = None  # the trainer names the damaged file when it resumes
    value, why = resolve_cpu_precision(choice, stored)
    logging.getLogger("gstsn.train").info(why)
    return value


__all__ = [
    "PRECISION_CHOICES",
    "autocast",
    "autocast_dtype",
    "autocast_to",
    "precision_used",
    "resolve_cpu_precision",
    "run_cpu_precision",
    "stored_cpu_precision",
]
