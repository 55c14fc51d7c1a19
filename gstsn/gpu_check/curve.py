"""The training's rank-1 against training time, read from the run folder's evaluation log
(:func:`gstsn.results.curves.read_curve`), and compared with the reference's curve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gstsn.gpu_check.settings import GOALS, REFERENCE_CURVE
from gstsn.results.curves import read_curve

#: the reference's training seconds to NM 91.4, against which the time-to-accuracy speed-up is taken
REFERENCE_TIME_TO_TARGET_S = 250.0


def eval_curve(run_dir: Path) -> list[dict[str, Any]]:
    """One point per evaluation of the run in ``run_dir``: iteration, training seconds (``train_s``) and the rank-1 of
    each condition (NM / BG / CL, identical views excluded); [] before the first evaluation."""
    curve = read_curve(run_dir)
    if curve is None:
        return []
    points: dict[int, dict[str, Any]] = {}
    for r in curve.itertuples(index=False):
        p = points.setdefault(int(r.iteration), {"iteration": int(r.iteration), "train_s": 0.0})
        p["train_s"] = float(r.wall_time)
        p[str(r.condition)] = float(r.rank1)
    return [points[k] for k in sorted(points)]


def compare_curve(curve: list[dict[str, Any]]) -> dict[str, Any]:
    """Our curve against the reference: rank-1 at the reference's times, and when NM first reached 91.4."""
    at_ref = []
    for t, it, nm, bg, cl in REFERENCE_CURVE:
        ours = [p for p in curve if p["train_s"] <= t]
        mine = ours[-1] if ours else None
        at_ref.append(
            {
                "train_s": t,
                "reference": {"iterations": it, "NM": nm, "BG": bg, "CL": cl},
                "ours": {k: mine.get(k) for k in ("iteration", "train_s", "NM", "BG", "CL")} if mine else None,
            }
        )
    reached = next((p for p in curve if p.get("NM", -1) >= GOALS["nm_target"]), None)
    speedup = REFERENCE_TIME_TO_TARGET_S / reached["train_s"] if reached and reached["train_s"] > 0 else None
    return {
        "at_reference_times": at_ref,
        "first_nm_91_4": {"train_s": reached["train_s"], "iteration": reached["iteration"]} if reached else None,
        "time_to_accuracy_speedup": speedup,
    }


__all__ = ["REFERENCE_TIME_TO_TARGET_S", "compare_curve", "eval_curve"]
