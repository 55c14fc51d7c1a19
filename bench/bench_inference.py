"""Inference speed of our GaitSet and GSTSN on this machine, as a fraction of a same-run fp32 matmul.

    python bench/bench_inference.py                 # 16 sequences x 30 frames of 64x44, paper-scale widths
    python bench/bench_inference.py --layouts nchw channels_last --compile

For each model and memory layout it prints sequences/s, achieved GFLOP/s (FLOPs counted by torch's FlopCounterMode,
LSTM included) and that as a fraction of the GFLOP/s of a 2048x2048 fp32 matmul measured between repeats in the same
run (median and min-max over repeats), the peak extra memory of one batch, and checks that every layout gives the
same outputs as the plain NCHW model. The reference (issue 3): OpenGait's GaitSet runs 9-11 sequences/s here, 27-31 %
of the same-run matmul; the goal is >= 50 % for GaitSet.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from gstsn.config import ModelConfig
from gstsn.heap import retain_freed_memory
from gstsn.models import build_model
from gstsn.timing.flops import count_flops, matmul_gflops
from gstsn.timing.memory import peak_memory_bytes


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=16, help="sequences per forward (default 16)")
    p.add_argument("--frames", type=int, default=30, help="frames per sequence (default 30)")
    p.add_argument("--repeats", type=int, default=7, help="timed forwards per variant (default 7)")
    p.add_argument("--models", nargs="+", default=["gaitset", "gstsn"], choices=["gaitset", "gstsn"])
    p.add_argument("--layouts", nargs="+", default=["nchw", "channels_last"], choices=["nchw", "channels_last"])
    p.add_argument("--compile", action="store_true", help="also time torch.compile of each variant (slow to build)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    heap = "freed memory retained" if retain_freed_memory() else "glibc's malloc defaults"  # as gstsn commands
    if args.threads:
        torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(args.batch, args.frames, 64, 44, generator=g) > 0.5).float()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {heap}, input {tuple(x.shape)}")
    print(
        f"{'model':8} {'variant':22} {'seq/s':>7} {'GFLOP/s':>8} {'% matmul (median, min-max)':>28} "
        f"{'mem MiB':>8} {'max |diff|':>10}"
    )
    for name in args.models:
        torch.manual_seed(0)
        base = build_model(ModelConfig(temporal=name == "gstsn"), channels_last=False).eval()
        with torch.inference_mode():
            reference = base(x)
            flops = count_flops(lambda m=base: m(x))
        variants = []
        for layout in args.layouts:
            model = base if layout == "nchw" else _clone(base).to(memory_format=torch.channels_last)
            variants.append((layout, model))
            if args.compile:
                variants.append((f"{layout}+compile", torch.compile(model)))
        for label, model in variants:
            with torch.inference_mode():
                out = model(x)  # warm-up (and compilation)
                model(x)
                fractions, times = [], []
                for _ in range(args.repeats):
                    peak = matmul_gflops(repeats=3)
                    start = time.perf_counter()
                    model(x)
                    elapsed = time.perf_counter() - start
                    times.append(elapsed)
                    fractions.append(flops / elapsed / 1e9 / peak)
                mem = peak_memory_bytes(lambda m=model: m(x))
            t = statistics.median(times)
            diff = (out - reference).abs().max().item()
            frac = f"{statistics.median(fractions):6.1%} ({min(fractions):.0%}-{max(fractions):.0%})"
            print(
                f"{name:8} {label:22} {args.batch / t:7.1f} {flops / t / 1e9:8.1f} {frac:>28} "
                f"{mem / 2**20:8.0f} {diff:10.2e}"
            )
    print(f"FLOPs per sequence: counted above; matmul reference now: {matmul_gflops():.1f} GFLOP/s")


def _clone(model: torch.nn.Module) -> torch.nn.Module:
    clone = build_model(model.cfg, channels_last=False)
    clone.load_state_dict(model.state_dict())
    return clone.eval()


if __name__ == "__main__":
    main()
