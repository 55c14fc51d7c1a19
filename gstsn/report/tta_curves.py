"""The evaluation curves behind time to accuracy: GaitSet and GSTSN runs paired as :mod:`gstsn.timing.tta` pairs them

A GSTSN run and a GaitSet run form a pair when they agree on the seed, the device and every shared setting
(:data:`gstsn.results.curves.PAIR_KEYS`: data source and fingerprint, split, profile, iterations, widths, input type,
identity cue ...). Runs of one setting (the same keys but the seed) are plotted together, each setting in its own
figure, so synthetic and real data, or two devices, are never mixed. A run that several studies hold is read once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from gstsn.config import CONDITIONS, MODEL_NAMES
from gstsn.report.labels import variant_label
from gstsn.report.load import StudyData
from gstsn.results.curves import SETTING_KEYS, pair_key
from gstsn.results.stats import hashable

GAITSET = "GaitSet"
CURVE_COLUMNS = ["variant", "seed", "run_id", "iteration", "wall_time", "condition", "rank1"]


@dataclass
class CurveSet:
    """The paired runs of one setting: their curves (``CURVE_COLUMNS``, one distance) and a title for the figure."""

    title: str
    distance: str
    curves: pd.DataFrame


def setting_title(row: dict[str, Any]) -> str:
    data = {True: "synthetic data", False: "real CASIA-B"}.get(hashable(row.get("synthetic")), "data kind unknown")
    parts = [data, f"device {row.get('device') or '—'}", f"profile {row.get('profile') or '—'}"]
    if hashable(row.get("identity_cue")) is not None:
        parts.append(f"identity cue {row['identity_cue']}")
    if row.get("input_type") not in (None, "set"):
        parts.append(f"{row['input_type']} input")
    return ", ".join(parts)


def paired_curves(studies: list[StudyData]) -> list[CurveSet]:
    """Per setting, the curves of the GaitSet and GSTSN runs that have a partner with the same seed and settings (and
    a curve each); settings in a stable order, GaitSet first within each."""
    runs: dict[str, dict[str, Any]] = {}
    frames = []
    for study in studies:
        if study.runs.empty or study.eval_curves.empty:
            continue
        with_curve = set(study.eval_curves["run_id"])
        for row in study.runs.to_dict("records"):
            rid = str(row["run_id"])
            if row.get("method") in MODEL_NAMES and rid in with_curve and rid not in runs:
                runs[rid] = row
                frames.append(study.eval_curves[study.eval_curves["run_id"] == row["run_id"]])
    if not runs:
        return []
    gaitset: dict[str, str] = {}
    for rid, r in runs.items():
        if r["method"] == "gaitset":
            gaitset.setdefault(pair_key(r), rid)  # the first, as gstsn.timing.tta pairs
    keep: dict[str, str] = {}  # run id -> setting key (PAIR_KEYS without the seed)
    for rid, r in runs.items():
        partner = gaitset.get(pair_key(r)) if r["method"] == "gstsn" else None
        if partner is not None:
            keep[rid] = keep[partner] = pair_key(r, SETTING_KEYS)
    if not keep:
        return []
    curves = pd.concat(frames, ignore_index=True)
    curves = curves[curves["run_id"].astype(str).isin(keep)].copy()
    curves["run_id"] = curves["run_id"].astype(str)
    out = []
    for setting in sorted(set(keep.values())):
        ids = [rid for rid, s in keep.items() if s == setting]
        part = curves[curves["run_id"].isin(ids)]
        distances = set(part["distance"].astype(str))
        distance = "per_part" if "per_part" in distances else sorted(distances)[0]
        part = part[(part["distance"].astype(str) == distance) & part["condition"].isin(CONDITIONS)].copy()
        label = {
            rid: GAITSET if runs[rid]["method"] == "gaitset" else variant_label(dict(runs[rid], model="gstsn"))
            for rid in ids
        }
        part["variant"] = part["run_id"].map(label)
        part["seed"] = part["run_id"].map({rid: runs[rid].get("seed") for rid in ids})
        part = part[CURVE_COLUMNS].sort_values(["variant", "seed", "condition", "iteration"], kind="stable")
        out.append(CurveSet(setting_title(runs[ids[0]]), distance, part.reset_index(drop=True)))
    return out
