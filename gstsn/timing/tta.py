"""The second reading of the "20 % less time" claim: time to accuracy, from the ablation runs' logged curves.

Does GSTSN reach GaitSet's final rank-1 in at least 20 % less training wall time? Read from a results directory
(schema v1): every ``<study>/runs.jsonl`` row with ``method`` ``gaitset`` or ``gstsn``, and each run's
``runs/<run_id>/eval_curve.csv`` (``iteration, wall_time, distance, condition, rank1``; the trainer's
``eval_log.csv`` with ``probe_set, rank1_excl`` is read as a fallback).

- Pairs: a GSTSN run and a GaitSet run with the same seed, device and every shared setting (:data:`PAIR_KEYS`).
- Target: GaitSet's final rank-1 on the curve (its last evaluation) for the condition; ``t_gaitset`` is the first
  evaluation where GaitSet reaches it, ``t_gstsn`` the first where GSTSN does (``None``: never, within its run).
- The reading holds for a pair when ``t_gstsn / t_gaitset ≤ 0.8``. Curves are sampled at the evaluation interval, so
  each time is known to within one interval (stated in the output).

Nothing is invented: without runs, curves or pairs the result says "not measured" and why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gstsn.config import CONDITIONS, MODEL_NAMES
from gstsn.config.registry import timing_id
from gstsn.results import curves
from gstsn.results.curves import PAIR_KEYS, first_reach
from gstsn.results.files import EVAL_CURVE_FILE, RUNS_DIR
from gstsn.results.runs import RUNS_FILE, read_runs
from gstsn.timing.variants import TimingConfigError

THRESHOLD = 0.8
NOT_MEASURED_NO_RESULTS = "not measured: no ablation results"


def load_runs(results_dir: Path) -> list[dict[str, Any]]:
    """Every valid run row of every study's ``runs.jsonl`` under ``results_dir`` (deduplicated by ``run_id``), each
    with ``_study_dir`` (the folder its run directory is in). Damaged lines are left out here and named on the
    study pages and in ``gstsn ablations summary`` (:func:`gstsn.results.read_runs`)."""
    runs: dict[str, dict[str, Any]] = {}
    for path in sorted(results_dir.glob(f"*/{RUNS_FILE}")):
        for row in read_runs(path).rows:
            runs.setdefault(str(row["run_id"]), dict(row, _study_dir=str(path.parent)))
    return list(runs.values())


def read_curve(run: dict[str, Any]) -> pd.DataFrame | None:
    """The run's evaluation curve in the ``eval_curve.csv`` columns, or None when it has none
    (:func:`gstsn.results.curves.read_curve`; a file missing columns raises a ``TimingConfigError`` naming it)."""
    try:
        return curves.read_curve(Path(run["_study_dir"]) / RUNS_DIR / str(run["run_id"]))
    except curves.CurveError as exc:
        raise TimingConfigError(str(exc)) from exc


def _key(run: dict[str, Any]) -> tuple:
    return tuple(json.dumps(run.get(k), sort_keys=True) for k in PAIR_KEYS)


def _cell(run: dict[str, Any]) -> str:
    """The timing variant id of a GSTSN run (``gstsn-median-L2``): :func:`gstsn.config.registry.timing_id`."""
    return timing_id({**run, "temporal": True})


def pair_result(gaitset: dict[str, Any], gstsn: dict[str, Any], distance: str, condition: str) -> dict[str, Any]:
    """The time-to-accuracy comparison of one GSTSN run against its GaitSet partner."""
    out: dict[str, Any] = {
        "gaitset_run": gaitset["run_id"],
        "gstsn_run": gstsn["run_id"],
        "gstsn_variant": _cell(gstsn),
        "seed": gstsn.get("seed"),
        "device": gstsn.get("device"),
        "condition": condition,
        "distance": distance,
    }
    curves = {}
    for name, run in (("gaitset", gaitset), ("gstsn", gstsn)):
        curve = read_curve(run)
        if curve is None:
            return {**out, "status": f"not measured: run {run['run_id']} ({name}) has no {EVAL_CURVE_FILE}"}
        part = curve[(curve["distance"] == distance) & (curve["condition"] == condition)]
        if part.empty:
            return {**out, "status": f"not measured: run {run['run_id']} ({name}) has no {distance}/{condition} curve"}
        curves[name] = part.sort_values("iteration", kind="stable")
    target = float(curves["gaitset"]["rank1"].iloc[-1])
    t_a = first_reach(curves["gaitset"], target)
    t_b = first_reach(curves["gstsn"], target)
    spacing = float(np.median(np.diff(curves["gstsn"]["wall_time"]))) if len(curves["gstsn"]) > 1 else None
    out.update(
        target_rank1=target,
        t_gaitset_s=t_a,
        t_gstsn_s=t_b,
        gstsn_final_rank1=float(curves["gstsn"]["rank1"].iloc[-1]),
        gstsn_run_time_s=float(curves["gstsn"]["wall_time"].iloc[-1]),
        eval_interval_s=spacing,
    )
    if t_b is None:
        out.update(ratio=None, status="does not hold (GSTSN never reached GaitSet's final rank-1 in its run)")
    elif not t_a:
        out.update(ratio=None, status="not measured: GaitSet's time to its own final rank-1 is 0")
    else:
        ratio = t_b / t_a
        out.update(ratio=ratio, status="holds" if ratio <= THRESHOLD else "does not hold")
    return out


def time_to_accuracy(
    results_dir: str | Path | None,
    distance: str = "per_part",
    conditions: tuple[str, ...] = CONDITIONS,
    primary: str = "NM",
) -> dict[str, Any]:
    """The time-to-accuracy reading per device (see the module docstring), JSON-ready."""
    base: dict[str, Any] = {
        "threshold": THRESHOLD,
        "definition": (
            "GSTSN's training wall time to reach GaitSet's final rank-1 (identical views excluded, "
            f"{distance} distance) divided by GaitSet's time to reach it; holds when ≤ {THRESHOLD}"
        ),
        "results_dir": None if results_dir is None else str(results_dir),
        "primary_condition": primary,
    }
    if results_dir is None or not Path(results_dir).is_dir():
        return {**base, "status": NOT_MEASURED_NO_RESULTS, "pairs": [], "by_device": {}}
    runs = [r for r in load_runs(Path(results_dir)) if r.get("method") in MODEL_NAMES]
    if not runs:
        return {**base, "status": NOT_MEASURED_NO_RESULTS, "pairs": [], "by_device": {}}
    gaitsets = {}
    for r in runs:
        if r["method"] == "gaitset":
            gaitsets.setdefault(_key(r), r)
    pairs = []
    for r in runs:
        if r["method"] != "gstsn" or _key(r) not in gaitsets:
            continue
        for cond in conditions:
            pairs.append(pair_result(gaitsets[_key(r)], r, distance, cond))
    if not pairs:
        status = "not measured: no GSTSN run has a GaitSet run with the same seed, device and settings"
        return {**base, "status": status, "pairs": [], "by_device": {}}
    # Variants whose runs recorded no evaluation curve (most ablation cells: only gaitset_vs_gstsn evaluates
    # periodically) are named once instead of filling the table with "not measured" rows.
    with_curves = {p["gstsn_variant"] for p in pairs if not p["status"].startswith("not measured")}
    if with_curves:
        base["variants_without_curves"] = sorted({p["gstsn_variant"] for p in pairs} - with_curves)
        pairs = [p for p in pairs if p["gstsn_variant"] in with_curves]
    return {**base, "status": "measured", "pairs": pairs, "by_device": summarise_by_device(pairs, primary)}


def summarise_by_device(pairs: list[dict[str, Any]], primary: str) -> dict[str, Any]:
    """Per device and GSTSN variant, for the primary condition: how many seed pairs hold, their ratios, a status."""
    out: dict[str, Any] = {}
    for p in pairs:
        if p["condition"] != primary:
            continue
        entry = out.setdefault(str(p["device"]), {}).setdefault(p["gstsn_variant"], {"ratios": [], "statuses": []})
        entry["ratios"].append(p.get("ratio"))
        entry["statuses"].append(p["status"])
    for by_variant in out.values():
        for entry in by_variant.values():
            measured = [s for s in entry["statuses"] if not s.startswith("not measured")]
            holds = sum(s == "holds" for s in measured)
            if not measured:
                entry["status"] = "not measured: " + entry["statuses"][0].removeprefix("not measured: ")
            elif holds == len(measured):
                entry["status"] = "holds"
            elif holds == 0:
                entry["status"] = "does not hold"
            else:
                entry["status"] = f"mixed ({holds} of {len(measured)} seeds hold)"
            ratios = [r for r in entry["ratios"] if r is not None]
            entry["median_ratio"] = float(np.median(ratios)) if ratios else None  # over the pairs that reached it
            entry["reached"] = len(ratios)
            entry["seeds"] = len(measured)
    return out


__all__ = [
    "NOT_MEASURED_NO_RESULTS",
    "PAIR_KEYS",
    "THRESHOLD",
    "first_reach",
    "load_runs",
    "pair_result",
    "read_curve",
    "summarise_by_device",
    "time_to_accuracy",
]
