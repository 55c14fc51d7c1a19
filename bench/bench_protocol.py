"""Time the CASIA-B rank-1 evaluator at the LT test-set size and compare with this machine's fp32 matmul rate.

Builds random features in the CASIA-B layout (default 50 subjects x 10 sequence types x 11 views = 5,500 sequences,
62 parts x 256 dims), times ``evaluate_rank1`` (median of ``--repeats`` after one warm-up run) and prints seconds,
the time of its distance matmuls alone (the same ``bmm`` calls on operands of the same shapes, run after each
evaluation, so the ratio of the two is measured under the same machine state), the achieved GFLOP/s of the distance
matmuls (``2 * probes * gallery * (d + 2) * parts``; the floor ``2 * P * G * d * parts`` is ~230 GFLOP here), the
peak extra memory of the warm-up run (``gstsn.timing.memory.peak_memory_bytes``), and the same run's fp32
2048 x 2048 matmul GFLOP/s.

    python bench/bench_protocol.py [--distance per_part|flat|both] [--repeats 3] [--threads N] [--device cpu|cuda]
                                   [--cell-by-cell] [--retrieval]

Timings on a machine shared with other jobs are noisy: report the matmul figure next to the evaluator's, and the
process CPU time (summed over threads), which is less sensitive to other jobs than wall time. On a busy machine
run it with ``OMP_WAIT_POLICY=PASSIVE``: spinning OpenMP threads otherwise burn the shared cores while they wait.
``--cell-by-cell`` also times the conventional evaluator structure on the CPU (OpenGait's ``evaluate_indoor_dataset``
with its ``cuda_dist``: features in the ``(n, c, p)`` layout, one distance matrix per probe view x gallery view cell
built from strided per-part slices, a full sort) on the same
features for a same-run speed-up figure; it must reproduce the fast evaluator's tables (random features have no ties).
``--retrieval`` also times, interleaved with each rank-1 run on the same features, ``evaluate_retrieval`` (rank-1,
rank-5, mAP, mINP and the first 5 matches, standard protocol) and ``evaluate_cross_view`` (OpenGait's cross-view
gallery: rank-1 and mAP), and prints each one's time over the rank-1 evaluator's (the target: at most 2x).
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time

import numpy as np
import torch

from gstsn.data.naming import SEQ_TYPES, VIEWS
from gstsn.eval.crossview import evaluate_cross_view
from gstsn.eval.exact import tile_chunks
from gstsn.eval.protocol import GALLERY_TYPES, PROBE_SETS, evaluate_rank1
from gstsn.eval.retrieval import evaluate_retrieval
from gstsn.heap import retain_freed_memory
from gstsn.timing.memory import peak_memory_bytes


def casia_features(subjects: int, parts: int, dim: int, seed: int) -> tuple[np.ndarray, ...]:
    """Random float32 features ``(subjects * 110, parts, dim)`` and their subject / seq_type / view labels."""
    rows = [(f"{s:03d}", t, v) for s in range(75, 75 + subjects) for t in sorted(SEQ_TYPES) for v in VIEWS]
    labels = [np.array([r[i] for r in rows]) for i in range(3)]
    feats = np.random.default_rng(seed).standard_normal((len(rows), parts, dim), dtype=np.float32)
    return feats, *labels


def matmul_gflops(device: torch.device, n: int = 2048, repeats: int = 5) -> float:
    """Median fp32 ``n x n @ n x n`` rate in GFLOP/s."""
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(device)
    b = torch.randn(n, n, generator=gen).to(device)
    times = []
    for _ in range(repeats + 1):
        _sync(device)
        t0 = time.perf_counter()
        a @ b
        _sync(device)
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times[1:]) / 1e9


def matmul_floor_seconds(
    n_p: int, n_g: int, parts: int, dim: int, device: torch.device, probe_chunk: int | None, part_chunk: int | None
) -> float:
    """Seconds of the evaluator's distance matmuls alone: the same ``bmm`` calls on operands of the same shapes and
    tiles (``gstsn.eval.exact.tile_chunks``), nothing else. The evaluator's time over this is its overhead."""
    pt, kc = tile_chunks(parts, n_p, n_g, probe_chunk, part_chunk)
    gen = torch.Generator(device="cpu").manual_seed(1)
    p_op = torch.randn(parts, n_p, dim + 2, generator=gen).to(device)
    g_op = torch.randn(parts, n_g, dim + 2, generator=gen).to(device)
    buf = torch.empty((min(kc, parts), min(pt, n_p), n_g), device=device)
    _sync(device)
    t0 = time.perf_counter()
    for lo in range(0, n_p, pt):
        for k0 in range(0, parts, kc):
            p = p_op[k0 : k0 + kc, lo : lo + pt]
            torch.bmm(p, g_op[k0 : k0 + kc].transpose(1, 2), out=buf[: p.shape[0], : p.shape[1]])
    _sync(device)
    return time.perf_counter() - t0


def cell_by_cell_tables(feats_ncp: np.ndarray, subject, seq_type, view) -> dict[str, np.ndarray]:
    """Rank-1 tables (per_part) the way OpenGait's ``evaluate_indoor_dataset`` computes them, on the CPU: features in
    its ``(n, c, p)`` layout; per (probe set, probe view, gallery view) cell a boolean-mask selection of probes and
    gallery, one distance matrix accumulated part by part from the strided part slices as
    ``sqrt(relu(|p|^2 + |g|^2 - 2 p.g))``, then a full sort per probe (rank 1 = the first index)."""
    _, codes = np.unique(subject, return_inverse=True)
    tables = {}
    for cond, types in PROBE_SETS.items():
        table = np.full((len(VIEWS), len(VIEWS)), np.nan)
        for a, v1 in enumerate(VIEWS):
            pm = np.isin(seq_type, types) & np.isin(view, v1)
            probe, p_codes = torch.from_numpy(feats_ncp[pm]), codes[pm]
            for b, v2 in enumerate(VIEWS):
                gm = np.isin(seq_type, GALLERY_TYPES) & np.isin(view, v2)
                gallery, g_codes = torch.from_numpy(feats_ncp[gm]), codes[gm]
                dist = torch.zeros(len(probe), len(gallery))
                for k in range(feats_ncp.shape[2]):
                    p, g = probe[:, :, k], gallery[:, :, k]
                    sq = torch.sum(p**2, 1).unsqueeze(1) + torch.sum(g**2, 1).unsqueeze(0) - 2 * torch.matmul(p, g.t())
                    dist += torch.sqrt(torch.relu(sq))
                nearest = (dist / feats_ncp.shape[2]).sort(1)[1][:, 0].numpy()
                table[a, b] = np.round(np.sum(g_codes[nearest] == p_codes) * 100 / len(probe), 2)
        tables[cond] = table
    return tables


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=50, help="test subjects (110 sequences each; default 50)")
    ap.add_argument("--parts", type=int, default=62, help="parts per embedding (default 62, GaitSet)")
    ap.add_argument("--dim", type=int, default=256, help="dimensions per part (default 256)")
    ap.add_argument("--distance", choices=["per_part", "flat", "both"], default="both")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs after one warm-up (median reported)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--probe-chunk", type=int, default=None, help="probes per matmul batch (default: automatic)")
    ap.add_argument("--part-chunk", type=int, default=None, help="parts per matmul batch (default: automatic)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cell-by-cell", action="store_true", help="also time the cell-by-cell evaluator (slow)")
    ap.add_argument(
        "--retrieval", action="store_true", help="also time evaluate_retrieval and evaluate_cross_view (interleaved)"
    )
    args = ap.parse_args(argv)
    heap = "freed memory retained" if retain_freed_memory() else "glibc's malloc defaults"  # as gstsn commands
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    feats, subject, seq_type, view = casia_features(args.subjects, args.parts, args.dim, args.seed)
    x = torch.from_numpy(feats).to(device)
    n_g = int(np.isin(seq_type, GALLERY_TYPES).sum())
    n_p = int(sum(np.isin(seq_type, t).sum() for t in PROBE_SETS.values()))
    flop = 2.0 * n_p * n_g * (args.dim + 2) * args.parts
    print(
        f"features {tuple(feats.shape)} float32 on {device}; probes {n_p} (3 probe sets) x gallery {n_g}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}, {heap}"
    )
    print(f"distance matmuls: {flop / 1e9:.0f} GFLOP (floor {2.0 * n_p * n_g * args.dim * args.parts / 1e9:.0f})")

    last = []  # the newest result

    def evaluate(distance: str) -> None:
        chunks = {"probe_chunk": args.probe_chunk, "part_chunk": args.part_chunk}
        last[:] = [evaluate_rank1(x, subject, seq_type, view, distance, **chunks)]

    distances = ["per_part", "flat"] if args.distance == "both" else [args.distance]
    for distance in distances:
        times, cpu, floors = [], [], []
        others: dict[str, list[float]] = {"retrieval": [], "cross-view": []}
        other_results: dict[str, object] = {}
        for rep in range(args.repeats + 1):
            _sync(device)
            t0, c0 = time.perf_counter(), time.process_time()
            if rep:
                evaluate(distance)
            else:  # the warm-up run measures the memory, before the matmul-floor runs allocate their operands
                peak_mib = peak_memory_bytes(functools.partial(evaluate, distance), device) / 2**20
            _sync(device)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            if rep:  # interleaved, so that both see the same state of a shared machine
                floors.append(
                    matmul_floor_seconds(n_p, n_g, args.parts, args.dim, device, args.probe_chunk, args.part_chunk)
                )
            if args.retrieval:  # right after each rank-1 run (the warm-up included), so both see the same machine
                for name, fn in (("retrieval", evaluate_retrieval), ("cross-view", evaluate_cross_view)):
                    _sync(device)
                    t1 = time.perf_counter()
                    other_results[name] = fn(x, subject, seq_type, view, distance)
                    _sync(device)
                    if rep:
                        others[name].append(time.perf_counter() - t1)
        result = last[0]
        med = statistics.median(times[1:])
        ratio = statistics.median(t / f for t, f in zip(times[1:], floors, strict=True))
        if device.type == "cuda":
            extra = f"peak extra GPU memory {peak_mib:.0f} MiB (warm-up run)"
        else:
            extra = f"peak RSS growth {peak_mib:.0f} MiB (warm-up run, RSS sampled every 2 ms)"
        summary = ", ".join(f"{k} {v:.2f}" for k, v in result.summary_excl.items())
        print(
            f"{distance:>8}: median {med:.2f} s (runs {', '.join(f'{t:.2f}' for t in times[1:])}; warm-up "
            f"{times[0]:.2f}) = {flop / med / 1e9:.0f} GFLOP/s; CPU time {statistics.median(cpu[1:]):.2f} s; {extra}; "
            f"float64 rechecks {result.n_rechecked}; rank-1 {summary}"
        )
        print(
            f"{'':>8}  its matmuls alone (same shapes, interleaved): median {statistics.median(floors):.2f} s "
            f"(runs {', '.join(f'{t:.2f}' for t in floors)}); evaluator / its matmuls: median {ratio:.2f}x"
        )
        for name, took in others.items():
            if not took:
                continue
            res = other_results[name]
            ratios = [t / r for t, r in zip(took, times[1:], strict=True)]
            if name == "retrieval":
                figures = ", ".join(f"{m} NM {res.summary_excl[m]['NM']:.2f}" for m in res.metrics)
                same = all(res.summary_excl["rank1"][c] == result.summary_excl[c] for c in result.summary_excl)
                figures += f"; rank-1 as the rank-1 evaluator's: {same}"
            else:
                figures = ", ".join(f"{m} NM {res.summary[m]['NM']:.2f}" for m in res.summary)
            print(
                f"{'':>8}  {name}: median {statistics.median(took):.2f} s (runs {', '.join(f'{t:.2f}' for t in took)})"
                f" = {statistics.median(ratios):.2f}x the rank-1 evaluator (same runs: "
                f"{', '.join(f'{r:.2f}' for r in ratios)}); canonical rechecks {res.n_rechecked}; {figures}"
            )
        if args.cell_by_cell and distance == "per_part":
            feats_ncp = np.ascontiguousarray(feats.transpose(0, 2, 1))  # OpenGait's layout, made before timing
            t0 = time.perf_counter()
            tables = cell_by_cell_tables(feats_ncp, subject, seq_type, view)
            slow = time.perf_counter() - t0
            same = all(np.array_equal(tables[c], result.tables[c].to_numpy(), equal_nan=True) for c in tables)
            print(f"cell-by-cell: {slow:.2f} s = {slow / med:.1f}x the fast evaluator; same tables: {same}")
    print(f"reference: fp32 2048x2048 matmul {matmul_gflops(device):.0f} GFLOP/s (same run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
