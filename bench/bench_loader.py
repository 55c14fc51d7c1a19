"""Loader speed and memory: P×K triplet batches and test batches from the bit-packed cache, on one CPU core.

    python bench/bench_loader.py                         # the real CASIA-B copy if present beside the checkout,
                                                         # else the default synthetic dataset
    python bench/bench_loader.py --data synth:subjects=20 --batches 50

Prints, per input type (``set``, ``sequence``): frames/s of index sampling alone, of gather + unpack alone, and of
the whole ``TripletSampler.next_batch`` (the figure the target of >= 100,000 frames/s refers to); frames/s of
``iter_test_batches`` over whole sequences; and the process RSS after opening the cache (memory-mapped), after
touching every packed frame, and with the packed frames read into RAM (``in_memory=True``). The whole dataset is
never unpacked: only one batch at a time is.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from gstsn.data.cache import SilhouetteCache
from gstsn.data.cache_format import unpack_frames
from gstsn.data.sampling import TripletSampler, iter_test_batches
from gstsn.data.sources import DEFAULT_CACHE_ROOT, open_dataset

REAL_NPZ = Path(__file__).resolve().parents[1].parent / "shared/data/casia-b/casia-b-sil-64x44.npz"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = f"casia-b:{REAL_NPZ}" if REAL_NPZ.is_file() else "synth"
    p.add_argument("--data", default=default, help=f"data spec for open_dataset (default: {default})")
    p.add_argument("--cache-root", default=str(DEFAULT_CACHE_ROOT), help="where imports/generated data are cached")
    p.add_argument("--p", type=int, default=8, help="subjects per batch (default 8, the paper's)")
    p.add_argument("--k", type=int, default=16, help="sequences per subject (default 16)")
    p.add_argument("--frames", type=int, default=30, help="frames per sequence (default 30)")
    p.add_argument("--batches", type=int, default=40, help="timed batches per input type (default 40)")
    p.add_argument("--test-frames", type=int, default=200_000, help="frames read by the test-batch timing")
    p.add_argument("--core", type=int, default=0, help="CPU core to pin to (default 0; -1: no pinning)")
    return p.parse_args()


def rss_mb() -> dict[str, float]:
    """VmRSS and its anonymous / file-backed parts (MB) from /proc/self/status (Linux)."""
    out = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return out


def fmt_rss(r: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:,.0f} MB" for k, v in r.items()) or "n/a (no /proc)"


def timed(fn, repeats: int) -> float:
    fn()  # warm-up (page faults, allocator)
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def main() -> None:
    args = parse_args()
    if args.core >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.core})
    print(f"pinned to core {args.core}" if args.core >= 0 else "not pinned")
    rss0 = rss_mb()
    cache = open_dataset(args.data, args.cache_root, progress=True)
    rss_open = rss_mb()
    print(f"{cache}\n  source: {args.data}")
    print(f"  bit-packed frames: {cache.packed.nbytes / 1e6:,.1f} MB (unpacked they would be "
          f"{cache.n_frames * cache.height * cache.width / 1e9:,.2f} GB)")  # fmt: skip

    n_batch = args.p * args.k * args.frames
    subjects = sorted(cache.index.subject.unique())
    print(f"\nP x K x frames = {args.p} x {args.k} x {args.frames} = {n_batch} frames/batch, {args.batches} batches")
    for input_type in ("set", "sequence"):
        sampler = TripletSampler(cache, subjects, args.p, args.k, args.frames, input_type, np.random.default_rng(0))
        _, ids, _ = sampler.sample_indices()
        t_idx = timed(sampler.sample_indices, args.batches)
        t_unpack = timed(lambda ids=ids: cache.frames(ids.reshape(-1)), args.batches)
        t_batch = timed(sampler.next_batch, args.batches)
        print(
            f"  {input_type:8s} sampling only {n_batch / t_idx:>12,.0f} frames/s | gather+unpack "
            f"{n_batch / t_unpack:>12,.0f} frames/s | next_batch {n_batch / t_batch:>12,.0f} frames/s "
            f"({t_batch * 1e3:.1f} ms/batch)"
        )
    packed = cache.packed[ids.reshape(-1)]
    t_np = timed(lambda: unpack_frames(packed, cache.width), args.batches)
    print(f"  np.unpackbits(count={cache.width}) alone: {len(packed) / t_np:,.0f} frames/s")

    rows = np.random.default_rng(1).permutation(len(cache))
    lengths = cache.lengths[rows]
    rows = rows[: max(1, int(np.searchsorted(np.cumsum(lengths), args.test_frames)))]
    t0 = time.perf_counter()
    total = sum(f.shape[0] for f, _, _ in iter_test_batches(cache, rows, max_frames=4096))
    dt = time.perf_counter() - t0
    print(f"  iter_test_batches: {total:,} frames of {len(rows):,} whole sequences, {total / dt:,.0f} frames/s")

    print("\nmemory (RSS of this process)")
    print(f"  before opening:             {fmt_rss(rss0)}")
    print(f"  after open (memory-mapped): {fmt_rss(rss_open)}")
    chunk = 1 << 16
    checksum = 0
    for lo in range(0, cache.n_frames, chunk):  # touch every packed frame, a chunk at a time
        checksum += int(cache.packed[lo : lo + chunk, :, 0].sum())
    print(f"  after touching all frames:  {fmt_rss(rss_mb())}  (file pages, shared with the page cache)")
    in_ram = SilhouetteCache.open(cache.path, in_memory=True)
    print(f"  + in_memory=True copy:      {fmt_rss(rss_mb())}  ({in_ram.packed.nbytes / 1e6:,.1f} MB anonymous)")
    del checksum


if __name__ == "__main__":
    main()
