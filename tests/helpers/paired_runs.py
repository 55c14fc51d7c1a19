"""Paired GaitSet / GSTSN runs of one setting, written by hand for the results-layer tests: ``runs.jsonl`` rows
(:func:`run_row`), ``eval_curve.csv`` rows (:func:`curve_rows`, :func:`frame`) and the three seeds of the time-to-target
tests (:func:`time_to_target_runs`)."""

from __future__ import annotations

import pandas as pd

SETTING = {
    "device": "cpu",
    "data_source": "casia-b:casia-b-sil-64x44.npz",
    "data_fingerprint": "73f67d56",
    "split": "LT",
    "profile": "cpu-real",
    "iterations": 300,
    "channels": [16, 32, 64],
    "hpm_bins": [1, 2, 4, 8],
    "embed_dim": 256,
    "input_type": "set",
    "identity_cue": None,
}


def run_row(run_id: str, method: str, seed: int, **fields) -> dict:
    """A runs.jsonl row of the paired setting (``fields`` override it)."""
    cell = "temporal=false" if method == "gaitset" else "temporal=true"
    return {"run_id": run_id, "method": method, "seed": seed, "cell": cell, **SETTING, **fields}


def curve_rows(run_id: str, points: dict[int, tuple[float, float]], condition: str = "NM") -> list[dict]:
    """eval_curve.csv rows (with ``run_id``): ``points`` maps an iteration to (wall time, rank-1)."""
    return [
        {"iteration": it, "wall_time": wall, "distance": "per_part", "condition": condition, "rank1": r1,
         "run_id": run_id}
        for it, (wall, r1) in points.items()
    ]  # fmt: skip


def frame(*parts: list[dict]) -> pd.DataFrame:
    """The rows of every part as one table."""
    return pd.DataFrame([row for part in parts for row in part])


def time_to_target_runs(shares: dict[str, float] | None = None) -> tuple[list[dict], pd.DataFrame]:
    """GaitSet's final NM is 60 / 62 / 64 (target 0.95 × 62 = 58.9), reached at iteration 200 after 20 / 22 / 24 s;
    GSTSN seed 0 reaches it at 100 (12 s), seed 1 at 200 (26.4 s), seed 2 never (58.0 at most). BG: GaitSet final 40
    for every seed (target 38), both models reach it at 300."""
    rows, parts = [], []
    for seed in (0, 1, 2):
        pace = 1 + 0.1 * seed
        final = 60.0 + 2 * seed
        gaitset = {100: (10 * pace, 40.0), 200: (20 * pace, 59.0), 300: (30 * pace, final)}
        gstsn = {
            0: {100: (12.0, 60.0), 200: (24.0, 61.0), 300: (36.0, 62.0)},
            1: {100: (13.2, 50.0), 200: (26.4, 59.5), 300: (39.6, 60.0)},
            2: {100: (14.4, 50.0), 200: (28.8, 57.0), 300: (43.2, 58.0)},
        }[seed]
        bg = {100: (10 * pace, 20.0), 300: (30 * pace, 40.0)}
        rows += [
            run_row(f"a{seed}", "gaitset", seed, sec_per_iter=0.1 * pace),
            run_row(f"b{seed}", "gstsn", seed, train_time_s=36.0 * pace, iterations=300),  # no sec_per_iter
        ]
        parts += [curve_rows(f"a{seed}", gaitset), curve_rows(f"b{seed}", gstsn)]
        parts += [curve_rows(f"a{seed}", bg, "BG"), curve_rows(f"b{seed}", {300: (40.0, 41.0)}, "BG")]
    for row in rows:
        if shares and row["run_id"] in shares:
            row["cpu_others_share"] = shares[row["run_id"]]
    return rows, frame(*parts)
