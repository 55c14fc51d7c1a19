"""Keep freed memory in the process heap instead of returning it to the kernel after every tensor (glibc, Linux).

PyTorch's CPU allocator is plain ``malloc``. glibc serves blocks above its mmap threshold (adaptive, at most 32 MiB)
with a fresh ``mmap`` and unmaps them again on ``free``, and it trims the heap top above 128 KiB, so a training step
or an embedding batch whose activations are tens to hundreds of MB gets every page of them zero-filled by the kernel
again, batch after batch. Measured on the 2-core machine, real CASIA-B, bit-identical numbers either way:

- the ``quick`` GaitSet training (P×K 8×8, 16 frames, 32×22), 60 steps: 0.50 → 0.32–0.35 s per step; system time
  12 → 0.6–0.8 s; minor page faults 4.8 → 0.2 million; peak RSS 1.0 → 1.04–1.1 GB;
- ``gstsn eval`` of that model on the 5,500 LT test sequences, every frame (batches of 4,096 frames): 111 → 71 s;
  system time 75 → 5 s; faults 29 → 1.1 million; but peak RSS 1.7 → 4.6 GB, because freed blocks of varying sizes
  stay in the heap. Capping glibc's threshold at 32 MiB instead keeps the peak (1.9 GB) but not the speed (93 s):
  those batches' blocks are larger.

:func:`retain_freed_memory` sets (``mallopt``) no mmap for large blocks (``M_MMAP_MAX`` 0: they come from the heap and
are reused there), a trim threshold of 2 GiB (freed memory above it at the heap top is still returned) and a 64 MiB
top pad (fewer ``brk`` calls). It is the same as starting Python with ``MALLOC_MMAP_MAX_=0
MALLOC_TRIM_THRESHOLD_=2147483647 MALLOC_TOP_PAD_=67108864``, applied from inside, so every ``gstsn`` command,
ablation worker and the timing suite get it. ``GSTSN_MALLOC=system`` keeps glibc's defaults; other C libraries
(musl, macOS, Windows) are left alone.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from collections.abc import Callable

ENV = "GSTSN_MALLOC"  # "system": leave the C library's defaults
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4  # glibc's <malloc.h>
SETTINGS = {_M_MMAP_MAX: 0, _M_TRIM_THRESHOLD: 2**31 - 1, _M_TOP_PAD: 64 << 20}


def retain_freed_memory() -> bool:
    """Apply the settings above to this process; ``True`` when they are in force (glibc on Linux, not opted out).

    Call it early (before large allocations); it only changes how later ``malloc`` / ``free`` calls use the kernel,
    never a computed number. A value other than ``system`` / ``retain`` in ``GSTSN_MALLOC`` raises ``ValueError``.
    """
    choice = os.environ.get(ENV, "retain").strip().lower()
    if choice not in ("retain", "system"):
        raise ValueError(f"environment variable {ENV}={os.environ[ENV]!r}: expected 'retain' (default) or 'system'")
    mallopt = _glibc("mallopt", [ctypes.c_int, ctypes.c_int]) if choice == "retain" else None
    return mallopt is not None and all(mallopt(option, value) == 1 for option, value in SETTINGS.items())


def release_free_memory() -> bool:
    """Hand the heap's free memory back to the kernel now (glibc ``malloc_trim(0)``); ``True`` if any was released.

    For measurements of resident memory: with freed memory retained, a call that reuses it shows no RSS growth, so
    :func:`gstsn.timing.memory.peak_memory_bytes` releases it before taking its baseline. ``False`` elsewhere.
    """
    trim = _glibc("malloc_trim", [ctypes.c_size_t])
    return trim is not None and trim(0) == 1


def _glibc(name: str, argtypes: list) -> Callable[..., int] | None:
    """glibc's function ``name`` (returning ``int``) from the C library the interpreter runs on; ``None`` elsewhere."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        fn = getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = argtypes, ctypes.c_int
    return fn
