"""Peak memory of a callable: CUDA allocator peak on a GPU, sampled resident set size on the CPU."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import torch

from gstsn.heap import release_free_memory

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def current_rss_bytes() -> int:
    """Resident set size of this process now (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def peak_memory_bytes(fn: Callable[[], object], device: torch.device | str = "cpu", interval_s: float = 0.002) -> int:
    """Extra memory ``fn()`` needs at its peak, above what was in use before it ran.

    CUDA: ``torch.cuda.max_memory_allocated`` (exact). CPU: the process RSS sampled every ``interval_s`` by a thread
    (a short spike between samples can be missed; the sampling is stated wherever the figure is shown), after the
    heap's free memory is handed back (``gstsn.heap.release_free_memory``), so that memory freed by earlier calls and
    retained by the heap (``gstsn.heap.retain_freed_memory``) is counted again when ``fn`` reuses it.
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    release_free_memory()
    before = current_rss_bytes()
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, current_rss_bytes())
            time.sleep(interval_s)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        fn()
    finally:
        done.set()
        sampler.join()
    return max(peak, current_rss_bytes()) - before
