"""The rank-1 effect of CPU bf16 on real data (docs/training.md): each run of a committed fp32 study's cell trained
again with ``cpu_precision = bf16``, the same config and seed otherwise, and the two paired by seed.

    python bench/precision_effect.py --data casia-b:PATH/casia-b-sil-64x44.npz --work /work/bf16        # run
    python bench/precision_effect.py --work /work/bf16 --table                                          # the table

By default the GaitSet runs of ``reference/casia-b-cpu/gaitset_vs_gstsn`` (the ``cpu-real`` profile), seeds 0, 1, 2.
Each bf16 run goes through the ablation runner's own :func:`gstsn.ablate.execute.execute_run` (training resumed from
its checkpoint, then the study's evaluation) in ``WORK/<bf16 run id>/``, its results row saved there as ``row.json``
with the bf16 flags the CPU had (``cpu_bf16``; empty: emulated); a run with a row is skipped, a stopped one (SIGINT /
SIGTERM) goes on from its checkpoint when run again.

The fp32 side is the committed row, or with ``--fp32-here`` the same run again on this CPU first (the committed runs
may come from another CPU model, and fixed seeds give identical numbers only on the same one: the machine then adds
its own small effect to the difference; the table names both CPUs). The table gives per seed the fp32 and bf16 test
rank-1 NM / BG / CL (per-part distance, identical views excluded) and bf16 − fp32, then the mean difference with its
95 % t-interval over the seeds. Where the CPU has no bf16 in hardware
the bf16 runs are emulated (oneDNN rounds the inputs to bf16 and accumulates in fp32, as AVX512-BF16 does): the
rank-1 effect is the rounding's and is measured all the same; their seconds are not this CPU's bf16 speed, and the
table says which CPU ran them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from gstsn.config import CONDITIONS, RunConfig
from gstsn.results.files import RUNS_FILE

REPO = Path(__file__).resolve().parents[1]
DEFAULT_STUDY = REPO / "reference" / "casia-b-cpu" / "gaitset_vs_gstsn"
ROW_FILE = "row.json"


def _metric(condition: str) -> str:
    return f"rank1.per_part.{condition}"


def fp32_rows(study: Path, method: str, seeds: list[int]) -> list[dict[str, Any]]:
    """The study's fp32 rows of ``method`` at ``seeds`` (one per seed), in seed order; a clear error when one lacks."""
    path = study / RUNS_FILE
    if not path.is_file():
        raise SystemExit(f"precision_effect: {path} not found (--study: a study folder of a results store)")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    chosen = {int(r["seed"]): r for r in rows if r.get("method") == method and r.get("precision", "fp32") == "fp32"}
    missing = [s for s in seeds if s not in chosen]
    if missing:
        raise SystemExit(f"precision_effect: {path} has no fp32 {method} run for seed(s) {missing}")
    return [chosen[s] for s in seeds]


def twin_spec(row: dict[str, Any], precision: str = "bf16", data: str | None = None):
    """The run of ``row`` with ``cpu_precision = precision`` (and its data read from ``data``, which the run id
    ignores); ``precision="fp32"`` is the row's own run again (same run id)."""
    from gstsn.ablate.spec import RunSpec

    cfg = RunConfig.from_row(row)
    train = dataclasses.replace(cfg.train, cpu_precision=precision)
    source = dataclasses.replace(cfg.data, source=data) if data else cfg.data
    return RunSpec(row["method"], dataclasses.replace(cfg, train=train, data=source), row["profile"])


def run_all(rows: list[dict[str, Any]], data: str, work: Path, cache_root: str | None, fp32_here: bool = False) -> int:
    """Each row's bf16 twin (and, with ``fp32_here``, first the row's own fp32 run again on this CPU)."""
    from gstsn.ablate.execute import execute_run
    from gstsn.machine import cpu_bf16_flags
    from gstsn.signals import TrainingInterrupted, stop_on_signals

    precisions = ("fp32", "bf16") if fp32_here else ("bf16",)
    for row, precision in ((r, p) for r in rows for p in precisions):
        spec = twin_spec(row, precision, data)
        out = work / spec.run_id
        if (out / ROW_FILE).is_file():
            print(f"seed {spec.seed}: {spec.run_id} finished, skipped", file=sys.stderr)
            continue
        print(f"seed {spec.seed}: {spec.run_id} ({precision} of {row['run_id']})", file=sys.stderr)
        try:
            with stop_on_signals():
                result = execute_run(spec, out, device="cpu", cache_root=cache_root, progress=False)
        except TrainingInterrupted as exc:
            print(f"seed {spec.seed}: stopped ({exc}); run the same command again to resume", file=sys.stderr)
            return 130
        tmp = out / (ROW_FILE + ".tmp")
        saved = {**result["row"], "cpu_bf16": list(cpu_bf16_flags())}
        tmp.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
        tmp.replace(out / ROW_FILE)
    return 0


def _saved(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def paired(rows: list[dict[str, Any]], work: Path) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Each fp32 row with its bf16 row (None while not run); the fp32 row is the one run again here when there is
    one (``--fp32-here``: both on the same CPU), else the committed one."""
    return [(_saved(work / r["run_id"] / ROW_FILE) or r, _saved(work / twin_spec(r).run_id / ROW_FILE)) for r in rows]


def markdown(pairs: list[tuple[dict[str, Any], dict[str, Any] | None]]) -> str:
    """Per seed fp32, bf16 and bf16 − fp32 rank-1; then the mean difference with its 95 % t-interval."""
    from gstsn.results.intervals import paired_difference

    def three(row: dict[str, Any] | None, fmt: str = ".1f") -> str:
        return "—" if row is None else " / ".join(format(row[_metric(c)], fmt) for c in CONDITIONS)

    head = "| seed | fp32 run | bf16 run | fp32 NM / BG / CL | bf16 NM / BG / CL | bf16 − fp32 | fp32 CPU | bf16 CPU |"
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for fp32, bf16 in pairs:
        diff = None if bf16 is None else {_metric(c): bf16[_metric(c)] - fp32[_metric(c)] for c in CONDITIONS}
        cpu = "—" if bf16 is None else f"{bf16.get('cpu_model', '?')} ({_bf16_kind(bf16)})"
        lines.append(
            f"| {fp32['seed']} | {fp32['run_id']} | {bf16['run_id'] if bf16 else '—'} | {three(fp32)} | "
            f"{three(bf16)} | {three(diff, '+.1f')} | {fp32.get('cpu_model', '?')} | {cpu} |"
        )
    done = [(a, b) for a, b in pairs if b is not None]
    means = []
    for c in CONDITIONS:
        iv, seeds = paired_difference(
            {int(b["seed"]): b[_metric(c)] for _, b in done}, {int(a["seed"]): a[_metric(c)] for a, _ in done}
        )
        low, high = (f"{iv.low:+.1f}", f"{iv.high:+.1f}") if iv.has_interval else ("—", "—")
        means.append(f"{c} {iv.mean:+.1f} [{low}, {high}]" if seeds else f"{c} —")
    lines.append("")
    lines.append(f"bf16 − fp32, mean over {len(done)} paired seed(s), 95 % t-interval: {'; '.join(means)}")
    return "\n".join(lines)


def _bf16_kind(row: dict[str, Any]) -> str:
    flags = row.get("cpu_bf16")
    return "native bf16" if flags else "bf16 emulated: no bf16 in hardware"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="casia-b:PATH/casia-b-sil-64x44.npz (the real data; required unless --table)")
    p.add_argument("--work", type=Path, required=True, help="folder of the bf16 runs")
    p.add_argument("--study", type=Path, default=DEFAULT_STUDY, help="the fp32 study (default: %(default)s)")
    p.add_argument("--method", default="gaitset", help="the study's method whose runs are paired (default gaitset)")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--cache-root", default=None, help="the data cache (default: gstsn's)")
    p.add_argument("--fp32-here", action="store_true",
                   help="also run each fp32 run again on this CPU and pair with it (the committed ones may come from "
                        "another CPU model, whose float rounding alone moves a seeded run)")  # fmt: skip
    p.add_argument("--table", action="store_true", help="only print the table of what is in --work")
    args = p.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        p.error(f"--seeds {args.seeds!r}: expected comma-separated integers")
    rows = fp32_rows(args.study, args.method, seeds)
    if not args.table:
        if not args.data:
            p.error("--data casia-b:PATH is required to run (or pass --table)")
        code = run_all(rows, args.data, args.work, args.cache_root, args.fp32_here)
        if code:
            return code
    print(markdown(paired(rows, args.work)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
