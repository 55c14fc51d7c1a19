"""What machine a result came from (torch-free): the CPU model, recorded in every result's provenance, since seeded
float results and all timings differ between CPU models (Intel Xeon and AMD EPYC machines run the same code), and
whether the CPU computes bf16 in hardware (which decides the CPU's training precision, docs/training.md)."""

from __future__ import annotations

import functools
import os
import platform

#: /proc/cpuinfo flags of bf16 arithmetic in hardware: AVX512-BF16 (Cooper Lake, Sapphire Rapids, Zen 4 on) and AMX
BF16_CPU_FLAGS: tuple[str, ...] = ("avx512_bf16", "amx_bf16")
#: set to 1 / 0 to override the detection (e.g. to rehearse a bf16 run on a CPU without it, emulated and slow)
BF16_OVERRIDE_ENV = "GSTSN_CPU_BF16"


@functools.cache
def _cpuinfo() -> list[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            return fh.read().splitlines()
    except OSError:
        return []


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), else what ``platform`` knows."""
    for line in _cpuinfo():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (``/proc/cpuinfo``), empty where they cannot be read."""
    for line in _cpuinfo():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_bf16_flags() -> tuple[str, ...]:
    """The bf16 hardware flags this CPU reports (:data:`BF16_CPU_FLAGS`), in that order."""
    flags = cpu_flags()
    return tuple(f for f in BF16_CPU_FLAGS if f in flags)


def cpu_has_bf16() -> bool:
    """Whether the CPU computes bf16 in hardware: a flag of :data:`BF16_CPU_FLAGS` in ``/proc/cpuinfo``, or torch's
    own check of the same instructions where the file cannot be read (never guessed from the vendor or model name).
    ``GSTSN_CPU_BF16=1`` / ``0`` overrides the answer."""
    override = os.environ.get(BF16_OVERRIDE_ENV, "").strip()
    if override in ("0", "1"):
        return override == "1"
    if override:
        raise ValueError(f"{BF16_OVERRIDE_ENV}={override!r} is invalid; expected 1 (bf16 in hardware) or 0 (not)")
    if cpu_flags():
        return bool(cpu_bf16_flags())
    try:
        import torch

        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (ImportError, AttributeError):
        return False


__all__ = ["BF16_CPU_FLAGS", "BF16_OVERRIDE_ENV", "cpu_bf16_flags", "cpu_flags", "cpu_has_bf16", "cpu_model"]
