"""FLOP counting (:func:`gstsn.models.flops.count_flops`) and the same-run matmul reference that makes GFLOP/s
comparable across noisy machines."""

from __future__ import annotations

import time

import torch

from gstsn.models.flops import count_flops


def matmul_gflops(
    size: int = 2048, repeats: int = 10, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> float:
    """GFLOP/s of a ``size``×``size`` matmul measured now, on this device: the same-run reference for "% of peak"."""
    device = torch.device(device)
    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, device=device, dtype=dtype, generator=g)
    b = torch.randn(size, size, device=device, dtype=dtype, generator=g)
    for _ in range(2):
        a @ b
    synchronize(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


__all__ = ["count_flops", "matmul_gflops", "synchronize"]
