"""The issue-16 speed goals, met or not, and ``summary.txt``: the step-time table with ratios and verdicts, the
evaluation time, the curve, the goals and the phases."""

from __future__ import annotations

from typing import Any

from gstsn.gpu_check.settings import GOALS

NAN = float("nan")


def goal_checks(data: dict[str, Any]) -> dict[str, Any]:
    """Each goal with its value and ``met`` (None when the report holds nothing to decide it)."""
    cells = data.get("matrix", {}).get("cells", [])
    gs = [c for c in cells if c["model"] == "gaitset" and c["dtype"] == "bf16" and "step_ms" in c]
    best = min(gs, key=lambda c: c["step_ms"]) if gs else None
    busy = [c["busy_frac"] for c in gs if c.get("busy_frac") is not None]
    ev = data.get("eval", {}).get("best_s")
    reached = (data.get("train", {}).get("vs_reference") or {}).get("first_nm_91_4")

    def check(value: Any, ok: bool | None) -> dict[str, Any]:
        return {"value": value, "met": ok}

    return {
        "gaitset_bf16_step_le_11ms": check(
            best and {"step_ms": best["step_ms"], "setting": best["label"]},
            None if best is None else best["step_ms"] <= GOALS["gaitset_bf16_step_ms"],
        ),
        "gpu_busy_gt_80pct": check(
            max(busy) if busy else None, None if not busy else max(busy) > GOALS["gpu_busy_frac"]
        ),
        "lt_eval_le_0_3s": check(ev, None if ev is None else ev <= GOALS["lt_eval_s"]),
        "nm_91_4_within_125s": check(
            reached,
            None
            if not data.get("train", {}).get("curve")
            else bool(reached and reached["train_s"] <= GOALS["nm_within_s"]),
        ),
    }


def summary_text(data: dict[str, Any]) -> str:
    """The report as text, section after section (a section the report lacks is left out)."""
    dry = " (DRY RUN, CPU, tiny sizes: no figure here means anything)" if data.get("dry_run") else ""
    lines = [f"gstsn gpu_check{dry}", *env_lines(data.get("env", {}))]
    tests = data.get("tests")
    if tests:
        lines.append(
            f"cuda tests: {tests.get('passed')} passed, {tests.get('failures')} failed, {tests.get('errors')} errors, "
            f"{tests.get('skipped')} skipped"
        )
    if data.get("matrix"):
        lines += matrix_lines(data["matrix"], data.get("env", {}).get("device", "cuda"))
    ev = data.get("eval")
    if ev and ev.get("best_s") is not None:
        lines.append(
            f"LT evaluation: {ev['sequences']} sequences, {ev['frames']} frames: {ev['best_s']:.3f} s at "
            f"eval_batch_frames={ev['best_eval_batch_frames']} (reference 1.5 s: {ev['speedup_vs_reference']:.1f}x)"
        )
    tr = data.get("train")
    if tr and tr.get("curve"):
        lines += train_lines(tr)
    goals = data.get("goals")
    if goals:
        lines.append("goals: " + ", ".join(f"{k}: {v['met']}" for k, v in goals.items()))
    for p in data.get("budget", {}).get("phases", []):
        lines.append(f"phase {p['name']}: {p['status']} ({p['used_s']:.0f} s of {p['allowance_s']:.0f} s)")
    return "\n".join(lines)


def env_lines(env: dict[str, Any]) -> list[str]:
    lines = [
        f"device {env.get('device_name')} ({env.get('device')}), driver {env.get('driver')}, torch {env.get('torch')}, "
        f"CUDA {env.get('cuda_runtime')}, cuDNN {env.get('cudnn')}"
    ]
    for k in ("matmul_tflops_bf16_8192", "matmul_tflops_tf32_8192", "matmul_tflops_fp32_4096"):
        if env.get(k):
            lines.append(f"  {k}: {env[k]:.0f}")
    return lines


def matrix_lines(m: dict[str, Any], device: str) -> list[str]:
    """The step-time table: per setting GaitSet's and GSTSN's ms per step, their ratio, GaitSet against the plain
    reference, the GPU-busy share and the 20 % verdict; or why the setting was not measured."""
    lines = [
        f"training step ({m.get('batch')}), ms per step (median of paired rounds):",
        f"  {'setting':<22} {'GaitSet':>9} {'GSTSN':>9} {'ratio':>6}  GaitSet vs plain 33.5 ms reference",
    ]
    by: dict[str, dict[str, Any]] = {}
    for c in m["cells"]:
        by.setdefault(c["label"], {})[c["model"]] = c
    verdict = m.get("per_iteration_verdict", {})
    for label, pair in by.items():
        a, b = pair.get("gaitset", {}), pair.get("gstsn", {})
        if "step_ms" not in a or "step_ms" not in b:
            lines.append(f"  {label:<22} {a.get('status', b.get('status'))}")
            continue
        v = verdict.get(f"{device.split(':')[0]}/{label}", {})
        busy = f", GPU busy {a['busy_frac']:.0%}" if a.get("busy_frac") is not None else ""
        lines.append(
            f"  {label:<22} {a['step_ms']:9.2f} {b['step_ms']:9.2f} {b['step_ms'] / a['step_ms']:6.2f}  "
            f"{a.get('speedup_vs_plain_reference', NAN):.2f}x{busy}; 20 % claim: {v.get('status')}"
        )
    return lines


def train_lines(tr: dict[str, Any]) -> list[str]:
    """The training's rank-1 NM/BG/CL against training seconds, and when NM first reached 91.4."""
    lines = [
        f"training (GaitSet, profile {tr.get('profile')}, mode {tr.get('mode')}, "
        f"{tr.get('iterations_per_s') or 0:.1f} it/s this call): "
        "rank-1 NM/BG/CL against training seconds:"
    ]
    for p in tr["curve"]:
        lines.append(
            f"  {p['train_s']:8.1f} s  it {p['iteration']:>6}  "
            f"{p.get('NM', NAN):5.1f} {p.get('BG', NAN):5.1f} {p.get('CL', NAN):5.1f}"
        )
    lines.append(f"  NM 91.4 first reached: {tr['vs_reference']['first_nm_91_4']}")
    return lines


__all__ = ["env_lines", "goal_checks", "matrix_lines", "summary_text", "train_lines"]
