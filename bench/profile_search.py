"""The validation search for a converged CPU profile (docs/training.md): GaitSet on ``LT-val`` only (train 001-062,
validate on 063-074; never the test subjects 075-124), one candidate setting after another, each resumable.

    python bench/profile_search.py --data casia-b:PATH/casia-b-sil-64x44.npz --work /work/search    # run all
    python bench/profile_search.py --data ... --work /work/search --only B,C                         # some of them
    python bench/profile_search.py --work /work/search --table                                       # the table

Each candidate is one ``gstsn train --profile cpu-real --no-temporal --split LT-val`` run in ``WORK/<name>`` with its
field overrides, periodic validation (``eval_every``: 8 points per run) and ``--resume`` (an interrupted candidate goes
on from its checkpoint; a finished one is skipped). The table gives per candidate the validation rank-1 NM / BG / CL
(per-part distance, identical views excluded) at each quarter of training, the final one, the seconds per step, the
training minutes, the share of the CPUs other processes took (``cpu_others_share``: times above 10 % are marked), the
CPU and precision the seconds were measured on, and the plateau test: validation NM rising by less than 1 point over
the last quarter of training.

The candidates start from what the issue measured untuned (the quick structure to 8,000 iterations; the full 64x44
input to 3,500, here 3,600: a multiple of the 8 evaluation points) and vary what it left open: batch, learning rate,
frames per sequence. Iterations are sized for about 45 minutes of training on 2 quiet cores with bf16 (AMD EPYC,
AVX512-BF16); a CPU without bf16 takes about twice as long (B: 1.50 s per step in fp32 on a 2-core Intel Xeon, 0.69 s
with bf16 on the EPYC).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from gstsn.results.files import EVAL_LOG_FILE, TRAIN_RESULTS_FILE

#: the quick structure at the full 64x44 input: no downsampling, one more HPM level (62 parts)
FULL_INPUT: dict[str, Any] = {"downsample": 1, "hpm_bins": "1,2,4,8,16"}

#: name -> (what it tests, field overrides of cpu-real); GaitSet, Adam with 50 warm-up steps + cosine, seed 0
CANDIDATES: dict[str, tuple[str, dict[str, Any]]] = {
    "A": ("quick structure 32x22, P×K 8×8, lr 1e-3 (the issue's untuned run)",
          {"batch_k": 8, "iterations": 8000}),
    "B": ("full 64x44 input, P×K 8×8, lr 1e-3 (the issue's untuned run)",
          {**FULL_INPUT, "batch_k": 8, "iterations": 3600}),
    "C": ("full 64x44, P×K 8×4 (half the step, twice the steps)",
          {**FULL_INPUT, "batch_k": 4, "iterations": 7200}),
    "D": ("full 64x44, P×K 8×8, lr 2e-3",
          {**FULL_INPUT, "batch_k": 8, "iterations": 3600, "lr": 2e-3}),
    "E": ("full 64x44, P×K 8×8, 24 frames per sequence",
          {**FULL_INPUT, "batch_k": 8, "frames": 24, "iterations": 2400}),
    "F": ("full 64x44, P×K 16×4 (more subjects per batch)",
          {**FULL_INPUT, "batch_p": 16, "batch_k": 4, "iterations": 3600}),
}  # fmt: skip
EVAL_POINTS = 8  # validation evaluations per run (the last one at the final iteration)
CONDITIONS = ("NM", "BG", "CL")


def train_command(name: str, data: str, work: Path, precision: str) -> list[str]:
    _, fields = CANDIDATES[name]
    iterations = int(fields["iterations"])
    args = [sys.executable, "-m", "gstsn", "train", "--profile", "cpu-real", "--no-temporal", "--split", "LT-val",
            "--data", data, "--out", str(work / name), "--resume", "--no-progress", "--device", "cpu",
            "--cpu-precision", precision, "--eval-every", str(max(1, iterations // EVAL_POINTS)),
            "--checkpoint-every", str(max(1, iterations // EVAL_POINTS))]  # fmt: skip
    for key, value in fields.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args


def _curve(run: Path) -> dict[int, dict[str, float]]:
    """Validation rank-1 per iteration and condition (per-part distance) from the run's eval_log.csv."""
    path = run / EVAL_LOG_FILE
    out: dict[int, dict[str, float]] = {}
    if not path.is_file():
        return out
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row.get("distance", "per_part") == "per_part":
                out.setdefault(int(row["iteration"]), {})[row["probe_set"]] = float(row["rank1_excl"])
    return out


def summarise(name: str, run: Path) -> dict[str, Any]:
    """One table row: the candidate's validation curve at its quarters, final values, cost and the plateau test."""
    what, fields = CANDIDATES[name]
    iterations = int(fields["iterations"])
    curve = _curve(run)
    results = run / TRAIN_RESULTS_FILE
    payload = json.loads(results.read_text()) if results.is_file() else {}
    training, provenance = payload.get("training", {}), payload.get("provenance", {})
    row: dict[str, Any] = {"name": name, "setting": what, "iterations": iterations, "done": iterations in curve}
    for q in (1, 2, 3, 4):
        it = max((i for i in curve if i <= iterations * q // 4), default=None)
        row[f"q{q}"] = None if it is None else {c: curve[it].get(c) for c in CONDITIONS}
    if row["done"] and row["q3"] is not None:
        row["nm_rise_last_quarter"] = curve[iterations]["NM"] - row["q3"]["NM"]
        row["plateau"] = row["nm_rise_last_quarter"] < 1.0
    row["sec_per_iter"] = training.get("sec_per_iter")
    row["train_min"] = training["train_time_s"] / 60 if training.get("train_time_s") else None
    row["cpu_others_share"] = training.get("cpu_others_share")
    row["machine"] = (
        f"{provenance.get('cpu_model', '?')}, {provenance.get('precision', '?')}" if provenance else None
    )  # the seconds per step are this CPU's, in this precision
    return row


def _rank1(v: dict[str, float] | None) -> str:
    return "—" if not v else " / ".join(f"{v[c]:.1f}" if v.get(c) is not None else "—" for c in CONDITIONS)


def _number(v: float | None, fmt: str) -> str:
    return "—" if v is None else format(v, fmt)


def markdown(rows: list[dict[str, Any]]) -> str:
    """The search table (docs/training.md): one row per candidate."""
    head = "| candidate | s/step | ¼ | ½ | ¾ | final | NM rise, last ¼ | training min | others' CPU | CPU, precision |"
    lines = [head, "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        share, rise = r.get("cpu_others_share"), r.get("nm_rise_last_quarter")
        busy = _number(share, ".0%") + (" (contended)" if share is not None and share > 0.10 else "")
        plateau = _number(rise, "+.1f") + (" (plateau)" if r.get("plateau") else "")
        final = _rank1(r["q4"] if r["done"] else None)
        lines.append(
            f"| {r['name']}: {r['setting']}, {r['iterations']} it | {_number(r.get('sec_per_iter'), '.2f')} | "
            f"{_rank1(r['q1'])} | {_rank1(r['q2'])} | {_rank1(r['q3'])} | {final} | {plateau} | "
            f"{_number(r.get('train_min'), '.1f')} | {busy} | {r.get('machine') or '—'} |"
        )
    return "\n".join(lines)


def final_mean(row: dict[str, Any]) -> float | None:
    """The final validation rank-1 averaged over NM, BG and CL (None until the candidate has finished)."""
    final = row["q4"] if row.get("done") else None
    if not final or any(final.get(c) is None for c in CONDITIONS):
        return None
    return sum(final[c] for c in CONDITIONS) / len(CONDITIONS)


def choose(rows: list[dict[str, Any]]) -> str:
    """The rule of docs/training.md, fixed before the last candidates were read: among the finished candidates at
    their plateau, the highest final validation rank-1 averaged over NM, BG and CL; the sentence names it, its mean,
    and the candidates within a point of it (one seed's noise: chosen, not claimed better)."""
    ranked = sorted(((m, r["name"]) for r in rows if r.get("plateau") and (m := final_mean(r)) is not None),
                    reverse=True)  # fmt: skip
    waiting = [r["name"] for r in rows if not r.get("done")]
    missed = [r["name"] for r in rows if r.get("done") and not r.get("plateau")]
    notes = (f"; not finished: {', '.join(waiting)}" if waiting else "") + (
        f"; short of their plateau (run longer before choosing): {', '.join(missed)}" if missed else ""
    )
    if not ranked:
        return "Chosen: none yet (no finished candidate at its plateau)" + notes + "."
    best, name = ranked[0]
    close = [f"{n} ({m:.1f})" for m, n in ranked[1:] if best - m < 1.0]
    return (
        f"Chosen by the rule: {name}, final validation rank-1 averaged over NM, BG and CL {best:.1f}"
        + (f"; within a point of it, one seed's noise: {', '.join(close)}" if close else "")
        + notes
        + "."
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", help="casia-b:PATH/casia-b-sil-64x44.npz (the real data; required unless --table)")
    p.add_argument("--work", type=Path, required=True, help="folder of the candidates' run folders")
    p.add_argument("--only", default=None, help=f"comma-separated candidates (default all: {','.join(CANDIDATES)})")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto", help="--cpu-precision of train")
    p.add_argument("--table", action="store_true", help="only print the table of what is in --work")
    args = p.parse_args(argv)
    names = list(CANDIDATES) if args.only is None else [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        p.error(f"--only: unknown candidate(s) {unknown}; expected some of {list(CANDIDATES)}")
    if not args.table:
        if not args.data:
            p.error("--data casia-b:PATH is required to run the search (or pass --table)")
        for name in names:
            if CANDIDATES[name][1]["iterations"] in _curve(args.work / name):
                print(f"{name}: finished, skipped", file=sys.stderr)
                continue
            print(f"{name}: {' '.join(train_command(name, args.data, args.work, args.precision))}", file=sys.stderr)
            proc = subprocess.run(train_command(name, args.data, args.work, args.precision), check=False)
            if proc.returncode != 0:
                print(f"{name}: gstsn train exited {proc.returncode}; rerun to resume it", file=sys.stderr)
                return proc.returncode
    rows = [summarise(n, args.work / n) for n in names]
    print(markdown(rows))
    print()
    print(choose(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
