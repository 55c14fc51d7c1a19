"""The verdict on "GSTSN takes 20 % less time than GaitSet", from one timing run (and the ablation results, if any).

- ``per_phase``: GSTSN (paper setting) / GaitSet time ratio per phase, device and precision, from paired repeats of the
  same run (:mod:`gstsn.timing.stats`). Data loading does not depend on the model: both models read the same batches.
- ``precision_ratios``: each model's bf16 / fp32 time ratio per phase on the CPU, paired in the same run (what CPU bf16
  autocast buys where the CPU has it; the reason it was not measured elsewhere).
- ``per_iteration`` (reading 1): the training-step ratio per device and precision; the claim holds when the whole
  interval is ≤ 0.8, does not hold when it is all above 0.8, else inconclusive.
- ``time_to_accuracy`` (reading 2): :func:`gstsn.timing.tta.time_to_accuracy`.
- ``variant_ratios``: every GSTSN variant's ratio of medians to GaitSet's, from the benchmarks (unpaired).
- ``step_breakdown``: per profiled training step, the share of LSTM (forward + backward), IDR median and the other op
  categories, the forward time of the model's scopes, and GSTSN's extra over GaitSet split into LSTM, median and the
  rest (temporal HPM/FC, the loss over 31 more parts, IDR reshapes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gstsn.config import MODEL_NAMES
from gstsn.machine import describe_cpu_bf16
from gstsn.results.timing_files import BREAKDOWN_GLOB, PAIRED_GLOB, RAW_DIR, SUMMARY_FILE, VERDICT_FILE
from gstsn.timing.stats import RatioEstimate, claim_status, paired_ratio, ratio_of_medians
from gstsn.timing.tta import THRESHOLD, time_to_accuracy
from gstsn.timing.variants import GAITSET, GSTSN_PAPER, TimingConfigError

CLAIM = "GSTSN takes 20 % less time than GaitSet (seed paper)"
PHASE_ORDER = {"inference": 0, "train_step": 1, "evaluation": 2, "data_loading": 3}


def _read_json_files(raw_dir: Path, pattern: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(raw_dir.glob(pattern))]


def _paired_records(raw_dir: Path, kind: str) -> list[dict[str, Any]]:
    """The raw paired records of ``kind`` ("models" or "precision"; a record written before the field is "models")."""
    return [r for r in _read_json_files(raw_dir, PAIRED_GLOB) if r.get("kind", "models") == kind]


def per_phase(raw_dir: Path, timing: pd.DataFrame, rng: np.random.Generator) -> list[dict[str, Any]]:
    """One entry per paired GSTSN/GaitSet comparison (or the reason it was not measured), then the data-loading note."""
    out = []
    for rec in _paired_records(raw_dir, "models"):
        entry = {k: rec[k] for k in ("phase", "device", "dtype", "a", "b", "batch", "frames")}
        if rec.get("skipped"):
            out.append({**entry, "status": f"not measured: {rec['skipped']}"})
            continue
        est = paired_ratio(rec["times_a"], rec["times_b"], rng)
        out.append({**entry, "status": "measured", **_ratio_fields(est)})
    loading = timing[timing["phase"] == "data_loading"] if not timing.empty else timing
    for device, part in loading.groupby("device", sort=True) if len(loading) else []:
        per_type = {str(r.input_type): float(r.median_s) for r in part.itertuples()}
        out.append(
            {
                "phase": "data_loading",
                "device": device,
                "dtype": "fp32",
                "status": "model-independent: GaitSet and GSTSN read the same sampler batches (ratio 1 by design)",
                "median_s_per_batch": per_type,
            }
        )
    return out


def precision_ratios(raw_dir: Path, rng: np.random.Generator) -> list[dict[str, Any]]:
    """One entry per model and phase paired with itself, bf16 (``b``) against fp32 (``a``), or the reason it was not
    measured (a CPU without bf16 in hardware)."""
    out = []
    for rec in _paired_records(raw_dir, "precision"):
        entry = {"phase": rec["phase"], "device": rec["device"], "variant": rec["b"], "batch": rec["batch"],
                 "frames": rec["frames"], "a_dtype": rec.get("a_dtype", "fp32"), "b_dtype": rec["dtype"]}  # fmt: skip
        if rec.get("skipped"):
            out.append({**entry, "status": f"not measured: {rec['skipped']}"})
            continue
        est = paired_ratio(rec["times_a"], rec["times_b"], rng)
        out.append({**entry, "status": "measured", **_ratio_fields(est, ("fp32", "bf16"))})
    return sorted(out, key=lambda e: (PHASE_ORDER.get(e["phase"], 9), e["device"], e["variant"]))


def _ratio_fields(est: RatioEstimate, sides: tuple[str, str] = ("gaitset", "gstsn")) -> dict[str, Any]:
    """The ratio ``b / a`` with its interval, and each side's median as ``<side>_median_s`` (``sides``: a, b)."""
    return {
        "ratio": est.ratio,
        "ci_low": est.low,
        "ci_high": est.high,
        "n": est.n,
        "method": est.method,
        f"{sides[0]}_median_s": est.median_a_s,
        f"{sides[1]}_median_s": est.median_b_s,
    }


def per_iteration(phases: list[dict[str, Any]]) -> dict[str, Any]:
    """Reading 1 per ``device/dtype`` from the training-step entries of :func:`per_phase`."""
    out: dict[str, Any] = {}
    for e in phases:
        if e["phase"] != "train_step":
            continue
        key = f"{e['device']}/{e['dtype']}"
        if e["status"] != "measured":
            out[key] = {"status": e["status"]}
            continue
        status = claim_status(e["ci_low"], e["ci_high"], THRESHOLD)
        out[key] = {
            "status": status,
            "ratio": e["ratio"],
            "ci_low": e["ci_low"],
            "ci_high": e["ci_high"],
            "threshold": THRESHOLD,
            "statement": (
                f"GSTSN's training step takes {e['ratio']:.2f}× GaitSet's [{e['ci_low']:.2f}, {e['ci_high']:.2f}] "
                f"on {e['device']} ({e['dtype']}): the per-iteration reading {status}"
            ),
        }
    return out


def variant_ratios(benchmark: dict[str, Any], rng: np.random.Generator) -> list[dict[str, Any]]:
    """Each GSTSN variant against GaitSet (same phase, device, precision and shape), from the benchmarks' rounds."""
    groups: dict[tuple, dict[str, list[float]]] = {}
    for b in benchmark.get("benchmarks", []):
        info = b.get("extra_info") or {}
        if info.get("model") not in MODEL_NAMES:
            continue
        key = (info["phase"], info["device"], info["dtype"], info["batch"], info["frames"])
        iterations = int(b["stats"].get("iterations", 1) or 1)
        groups.setdefault(key, {})[info["variant"]] = [t / iterations for t in b["stats"]["data"]]
    out = []
    for (phase, device, dtype, batch, frames), by_variant in sorted(groups.items()):
        base = by_variant.get(GAITSET.id)
        if base is None:
            continue
        for variant, times in sorted(by_variant.items()):
            if variant == GAITSET.id:
                continue
            est = ratio_of_medians(base, times, rng)
            out.append(
                {
                    "phase": phase,
                    "device": device,
                    "dtype": dtype,
                    "batch": batch,
                    "frames": frames,
                    "variant": variant,
                    **_ratio_fields(est),
                }
            )
    return out


def step_breakdown(raw_dir: Path) -> dict[str, Any]:
    """Per profiled label: category shares and forward scopes; for GSTSN labels, the extra over GaitSet's step."""
    records = {r["label"]: r for r in _read_json_files(raw_dir, BREAKDOWN_GLOB)}
    out: dict[str, Any] = {}
    for label, rec in sorted(records.items()):
        entry = {"categories": rec["categories"], "forward_scopes_ms": rec["scopes"], "profiled_steps": rec["steps"]}
        base = records.get(f"{GAITSET.id}-{rec['device']}-{rec['dtype']}")
        if rec["model"] == "gstsn" and base is not None:
            total, base_total = rec["categories"]["total"]["ms"], base["categories"]["total"]["ms"]
            lstm = rec["categories"]["lstm"]["ms"] - base["categories"]["lstm"]["ms"]
            median = rec["categories"]["idr_median"]["ms"] - base["categories"]["idr_median"]["ms"]
            extra = total - base_total
            entry["extra_over_gaitset_ms"] = {
                "total": extra,
                "lstm": lstm,
                "idr_median": median,
                "rest (temporal HPM/FC, loss over more parts, IDR reshapes)": extra - lstm - median,
                "note": "profiled self times per step (profiler overhead included); the paired ratios are the timing",
            }
        out[label] = entry
    return out


def build_verdict(
    out_dir: str | Path,
    results_dir: str | Path | None,
    timing: pd.DataFrame,
    benchmark: dict[str, Any],
    run_info: dict[str, Any],
    seed: int = 0,
) -> dict[str, Any]:
    """The whole verdict (JSON-ready) from the suite's raw outputs under ``out_dir`` and the ablation results."""
    rng = np.random.default_rng(seed)
    raw = Path(out_dir) / RAW_DIR
    phases = per_phase(raw, timing, rng)
    try:
        tta = time_to_accuracy(results_dir)
    except (TimingConfigError, OSError, ValueError) as exc:
        tta = {"status": f"not measured: the ablation results could not be read ({exc})", "pairs": [], "by_device": {}}
    return {
        "schema": 1,
        "claim": CLAIM,
        "threshold": THRESHOLD,
        "headline_variants": {"gaitset": GAITSET.id, "gstsn": GSTSN_PAPER.id},
        "device": run_info.get("device"),
        **{k: v for k, v in run_info.items() if k != "device"},
        "per_phase": phases,
        "per_iteration": per_iteration(phases),
        "precision_ratios": precision_ratios(raw, rng),
        "time_to_accuracy": tta,
        "variant_ratios": variant_ratios(benchmark, rng),
        "step_breakdown": step_breakdown(raw),
    }


def _fmt_ratio(e: dict[str, Any]) -> str:
    return f"{e['ratio']:.2f} [{e['ci_low']:.2f}, {e['ci_high']:.2f}]"


def _load_line(verdict: dict[str, Any]) -> str | None:
    load = verdict.get("load_average") or {}
    if not load:
        return None
    start, end = (load.get(k) or [float("nan")] for k in ("start", "end"))
    cpus = verdict.get("cpu_count")
    busy = cpus is not None and max(start[0], end[0]) > cpus
    note = "a shared, busy machine: times are noisy" if busy else "the machine looked quiet"
    threads = verdict.get("threads")
    if busy and isinstance(threads, int) and threads > 1:
        note += (
            f" (and with {threads} torch threads, OpenMP waits for cores other processes hold: rerun with "
            "--threads 1 or on a quiet machine)"
        )
    return f"load average (1 min) {start[0]:.1f} at start, {end[0]:.1f} at end, on {cpus} CPUs: {note}"


def _phase_lines(phases: list[dict[str, Any]]) -> list[str]:
    lines, unmeasured = [], {}
    for e in sorted(phases, key=lambda e: (PHASE_ORDER.get(e["phase"], 9), e["device"], e["dtype"])):
        head = f"  {e['phase']:<12} {e['device']}/{e['dtype']:<5}"
        if e["status"] == "measured":
            lines.append(
                f"{head} {_fmt_ratio(e)}  ({e['n']} pairs; GaitSet {e['gaitset_median_s']:.4g} s, "
                f"GSTSN {e['gstsn_median_s']:.4g} s)"
            )
        elif e["phase"] == "data_loading":
            per = ", ".join(f"{k} {v:.4g} s" for k, v in e["median_s_per_batch"].items())
            lines.append(f"{head} {e['status']}; per batch: {per}")
        else:
            unmeasured.setdefault((e["device"], e["status"]), []).append(f"{e['phase']}/{e['dtype']}")
    for (device, status), what in unmeasured.items():
        lines.append(f"  {device}: {', '.join(what)}: {status}")
    return lines


def _precision_lines(entries: list[dict[str, Any]], cpu_bf16: Any) -> list[str]:
    if not entries:
        return []
    lines, unmeasured = ["bf16 / fp32 time ratio, each model paired with itself in this run (< 1: bf16 is faster):"], {}
    for e in entries:
        if e["status"] == "measured":
            lines.append(
                f"  {e['phase']:<12} {e['device']} {e['variant']}: {_fmt_ratio(e)}  ({e['n']} pairs; fp32 "
                f"{e['fp32_median_s']:.4g} s, bf16 {e['bf16_median_s']:.4g} s)"
            )
        else:
            unmeasured.setdefault((e["device"], e["status"]), []).append(f"{e['phase']}/{e['variant']}")
    for (device, status), what in unmeasured.items():
        lines.append(f"  {device}: {', '.join(what)}: {status}")
    if bf16 := describe_cpu_bf16(cpu_bf16):
        lines.append(f"  ({bf16})")
    return lines


def summary_text(verdict: dict[str, Any]) -> str:
    """A plain-text summary of the verdict (printed by the driver and written to ``summary.txt``)."""
    lines = [
        f"Timing verdict on the claim: {verdict['claim']}",
        f"device: {verdict.get('device')}; timing profile {verdict.get('profile')}; torch {verdict.get('torch')}",
    ]
    load = _load_line(verdict)
    if load:
        lines.append(load)
    lines.append(
        f"GSTSN ({GSTSN_PAPER.id}) / GaitSet time ratio per phase, 95 % interval (the claim needs ≤ {THRESHOLD}):"
    )
    lines += _phase_lines(verdict["per_phase"])
    lines += _precision_lines(verdict.get("precision_ratios") or [], verdict.get("cpu_bf16"))
    lines.append("Reading 1, per iteration (training step):")
    per_it = verdict["per_iteration"]
    grouped: dict[str, list[str]] = {}
    for key, e in per_it.items():
        if "statement" in e:
            lines.append(f"  {e['statement']}")
        else:
            grouped.setdefault(e["status"], []).append(key)
    lines += [f"  {', '.join(keys)}: {status}" for status, keys in grouped.items()]
    if not per_it:
        lines.append("  not measured: no training-step pair ran")
    tta = verdict["time_to_accuracy"]
    lines.append("Reading 2, time to accuracy (GSTSN reaching GaitSet's final rank-1, from the ablation runs' curves):")
    if tta["status"] != "measured":
        lines.append(f"  {tta['status']}")
    for device, by_variant in tta.get("by_device", {}).items():
        for variant, e in by_variant.items():
            ratio = (
                f"median time ratio {e['median_ratio']:.2f} over the {e.get('reached')} pair(s) where GSTSN reached "
                "it, "
                if e.get("median_ratio") is not None
                else ""
            )
            lines.append(f"  {device}, {variant}: {e['status']} ({ratio}{e['seeds']} seed pair(s))")
    if tta.get("variants_without_curves"):
        lines.append(f"  no evaluation curves (not measured): {', '.join(tta['variants_without_curves'])}")
    breakdown = [(k, e) for k, e in verdict["step_breakdown"].items() if k.startswith("gstsn")]
    if breakdown:
        lines.append("Where GSTSN's training step goes (torch.profiler self time per step):")
    for label, e in breakdown:
        cats = e["categories"]
        text = (
            f"  {label}: LSTM (fwd+bwd) {cats['lstm']['share']:.0%}, IDR median {cats['idr_median']['share']:.1%}, "
            f"convolutions {cats['conv']['share']:.0%}, matmuls/FCs {cats['matmul_fc']['share']:.0%}"
        )
        extra = e.get("extra_over_gaitset_ms")
        if extra:
            text += f"; {extra['total']:.1f} ms/step more than GaitSet, LSTM {extra['lstm']:.1f} ms of it"
        lines.append(text)
    return "\n".join(lines)


def write_verdict(out_dir: str | Path, verdict: dict[str, Any]) -> str:
    """Write ``verdict.json`` and ``summary.txt`` under ``out_dir``; returns the summary text."""
    out_dir = Path(out_dir)
    (out_dir / VERDICT_FILE).write_text(json.dumps(verdict, indent=2, default=_json_default) + "\n")
    text = summary_text(verdict)
    (out_dir / SUMMARY_FILE).write_text(text + "\n", encoding="utf-8")
    return text


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


__all__ = [
    "CLAIM",
    "build_verdict",
    "per_iteration",
    "per_phase",
    "precision_ratios",
    "step_breakdown",
    "summary_text",
    "variant_ratios",
    "write_verdict",
]
