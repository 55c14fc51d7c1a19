"""Run the timing suite and write its tables and verdict (what `nox -s timing` calls).

    python bench/run_timing.py                          # results/timing/, profile auto (cpu here, paper on CUDA)
    python bench/run_timing.py --profile tiny --out /tmp/t --threads 1
    python bench/run_timing.py --results results        # also read the ablation runs for the time-to-accuracy reading
    python bench/run_timing.py -- -k train_step         # extra pytest arguments after --

Steps: clear the previous outputs in --out, run the pytest-benchmark suite in bench/ (benchmarks, paired ratios,
profiler traces) writing benchmark.json, then write timing.csv, top_ops.csv, verdict.json and summary.txt and print the
summary. The exit status is pytest's (a slow machine never fails the run; only a broken suite does).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SUITE_FILES = ("test_phases.py", "test_paired.py", "test_profiles.py")


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="auto", help="auto | tiny | cpu | paper (default auto)")
    p.add_argument("--out", default="results/timing", help="output folder (default results/timing)")
    p.add_argument(
        "--results", default="results", help="ablation results folder for time to accuracy (default results)"
    )
    p.add_argument("--variants", default="all", help="comma-separated variant ids, or all (default)")
    p.add_argument("--devices", default="cpu,cuda", help="devices (default cpu,cuda; absent ones are skipped)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    return p.parse_args(argv), extra


def main(argv: list[str] | None = None) -> int:
    args, extra = parse_args(argv)
    import torch

    from gstsn.results.timing_files import BENCHMARK_FILE
    from gstsn.timing.results import TimingResultsError
    from gstsn.timing.suite import clear_outputs, finalize, run_info

    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    clear_outputs(out)
    load_start = os.getloadavg()
    start = time.perf_counter()
    # Benchmarks never run under pytest-xdist: pytest-benchmark disables itself when it sees an xdist worker's
    # environment, which a parent test run under `pytest -n` passes down to this process.
    for key in [k for k in os.environ if k.startswith("PYTEST_XDIST_")]:
        del os.environ[key]
    pytest_args = [
        *(str(BENCH_DIR / f) for f in SUITE_FILES),
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        f"--rootdir={REPO}",
        f"--benchmark-json={out / BENCHMARK_FILE}",
        "--benchmark-columns=min,median,max,rounds",
        "--benchmark-sort=name",
        f"--timing-profile={args.profile}",
        f"--timing-out={out}",
        f"--timing-variants={args.variants}",
        f"--timing-devices={args.devices}",
        *([f"--timing-threads={args.threads}"] if args.threads else []),
        *extra,
    ]
    rc = int(pytest.main(pytest_args))
    wall = time.perf_counter() - start
    results = Path(args.results) if args.results else None
    try:
        summary = finalize(out, results, run_info(args.profile, load_start, wall, REPO))
    except TimingResultsError as exc:  # the suite's raw outputs stay in --out for a look
        print(f"run_timing: error: {exc} (pytest exit status {rc}; the suite's outputs are kept in {out})",
              file=sys.stderr)  # fmt: skip
        return rc or 2
    print()
    print(summary)
    print(f"\nsuite wall time {wall:.0f} s; outputs in {out}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
