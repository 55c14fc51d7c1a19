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


def cpu_bf16_info() -> dict[str, object]:
    """What decided this machine's CPU bf16, for a timing run's provenance: the hardware flags found, the
    ``GSTSN_CPU_BF16`` override (``None`` when unset) and the answer :func:`cpu_has_bf16` gave."""
    override = os.environ.get(BF16_OVERRIDE_ENV, "").strip() or None
    return {"flags": list(cpu_bf16_flags()), "override": override, "used": cpu_has_bf16()}


def describe_cpu_bf16(info: object) -> str | None:
    """One line saying whether a run's CPU bf16 times are native, emulated or skipped, from :func:`cpu_bf16_info`'s
    record (``None`` for a record written before it existed or unreadable)."""
    if not isinstance(info, dict) or not isinstance(info.get("flags"), list):
        return None
    flags, override, used = [str(f) for f in info["flags"]], info.get("override"), bool(info.get("used"))
    hardware = f"bf16 in hardware ({', '.join(flags)})" if flags else "no bf16 in hardware"
    if used and not flags:
        return (f"CPU bf16 forced by {BF16_OVERRIDE_ENV}={override} on a CPU with {hardware}: emulated, so its bf16 "
                "times are not a bf16 CPU's")  # fmt: skip
    if used:
        return f"this CPU has {hardware}: its bf16 times are native"
    if flags:
        return f"CPU bf16 turned off by {BF16_OVERRIDE_ENV}={override} on a CPU with {hardware}: bf16 not timed"
    return f"this CPU has {hardware}: bf16 not timed"


__all__ = [
    "BF16_CPU_FLAGS",
    "BF16_OVERRIDE_ENV",
    "cpu_bf16_flags",
    "cpu_bf16_info",
    "cpu_flags",
    "cpu_has_bf16",
    "cpu_model",
    "describe_cpu_bf16",
]
