"""Phase ``train``: ``paper``-profile GaitSet on the real data in the fastest step mode of the matrix, with a time
limit that fills what is left, a final evaluation at the stop, and the compact checkpoint a later call resumes from.

A fresh machine resumes from a previous call's returned files (``--resume-from``: the compact checkpoint and the two
logs), a warm one from the run folder it left (``--resume``). If the chosen mode fails, training retries eagerly.
"""

from __future__ import annotations

import shutil
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gstsn.config import resolve_profile
from gstsn.gpu_check.curve import compare_curve, eval_curve
from gstsn.gpu_check.data import lt_split
from gstsn.gpu_check.report import Report
from gstsn.gpu_check.settings import DATA_SOURCE_LABEL, FILE_LIMIT_BYTES, PUBLISHED_GAITSET, Sizes
from gstsn.gpu_check.step_bench import free_memory
from gstsn.results.files import EVAL_LOG_FILE, TRAIN_LOG_FILE
from gstsn.timing.budget import Phase

#: the run folder's checkpoints (the trainer's ``ckpt_dir``)
CHECKPOINTS_DIR = "checkpoints"
COMPACT_NOTE = (
    "weights, sampler and RNG states exact (fp32); Adam's two moments rounded to bf16 (gstsn.train.compact): the full "
    "31 MB checkpoint fits neither the 16 MiB per returned file nor, beside the 42.5 MB npz, the 64 MiB carried tree"
)


@dataclass(frozen=True)
class TrainPlan:
    """How the phase trains: the step mode and why; the step and evaluation times the matrix and the evaluation phase
    measured (None: not measured), which set the evaluation interval; where it resumes from."""

    mode: str
    why: str
    step_s: float | None = None
    eval_s: float | None = None
    eval_batch_frames: int | None = None
    resume_from: Path | None = None
    resume_local: bool = False

    def step_or_guess(self, device: torch.device) -> float:
        # unknown step time: assume a fast one (fewer evaluations than planned, never more: the budget stays safe)
        return self.step_s or (0.01 if device.type == "cuda" else 0.05)

    def eval_or_guess(self, device: torch.device) -> float:
        return self.eval_s or (2.0 if device.type == "cuda" else 1.0)


def choose_train_mode(matrix: dict[str, Any] | None, requested: str) -> tuple[str, str]:
    """The step mode for training: ``requested`` unless ``auto``; auto = the fastest measured GaitSet bf16
    channels-last setting among eager, compile and graph (eager when the matrix did not run)."""
    if requested != "auto":
        return requested, "asked for"
    cells = [
        c
        for c in (matrix or {}).get("cells", [])
        if c["model"] == "gaitset" and c["channels_last"] and c["dtype"] == "bf16" and "step_ms" in c
    ]
    if not cells:
        return "eager", "no bf16 channels-last GaitSet timing in this run"
    best = min(cells, key=lambda c: c["step_ms"])
    mode = best["mode"] + ("+bench" if best.get("cudnn_benchmark") else "")
    return mode, f"fastest GaitSet bf16 channels-last step in the matrix ({best['label']}, {best['step_ms']:.2f} ms)"


def step_estimate(matrix: dict[str, Any] | None, mode: str) -> float | None:
    """Seconds per GaitSet bf16 channels-last step of ``mode`` (``eager``, ``graph+bench``, ...) in the matrix."""
    for c in (matrix or {}).get("cells", []):
        if c["model"] == "gaitset" and c["dtype"] == "bf16" and c["channels_last"] and c["label"].endswith(mode):
            return c.get("step_ms", None) and c["step_ms"] / 1e3
    return None


def plan_training(
    data: dict[str, Any], earlier: dict[str, Any], requested: str, resume_from: Path | None, resume_local: bool
) -> TrainPlan:
    """The plan from this call's report ``data`` so far, else from the ``earlier`` report of the call it resumes."""
    matrix = data.get("matrix") or earlier.get("matrix")
    mode, why = choose_train_mode(matrix, requested)
    if matrix is not None and "matrix" not in data:
        why += " (the matrix of the call this one resumes)"
    ev = data.get("eval") or earlier.get("eval") or {}
    return TrainPlan(
        mode, why, step_estimate(matrix, mode), ev.get("best_s"), ev.get("best_eval_batch_frames"), resume_from,
        resume_local,
    )  # fmt: skip


def prepare_run_dir(run_dir: Path, resume_from: Path | None, rep: Report, resume_local: bool = False) -> bool:
    """Make ``run_dir`` ready: a fresh start, or a resume (from its own newer checkpoint, else from the compact
    files and logs in ``resume_from``; ``resume_local``: from its own checkpoint only). True when the run resumes."""
    from gstsn.train.checkpoint import list_checkpoints
    from gstsn.train.compact import MOMENTS_FILE, STATE_FILE, has_compact, read_compact, restore_compact

    own = list_checkpoints(run_dir / CHECKPOINTS_DIR)
    if resume_local and resume_from is None:
        if not own:
            raise RuntimeError(f"--resume: {run_dir / CHECKPOINTS_DIR} holds no checkpoint (a fresh machine? use "
                               "--resume-from with the returned files)")  # fmt: skip
        rep.log(f"train: resuming from {own[-1][1]} (this machine's own checkpoint)")
        return True
    if resume_from is None:
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        return False
    if not has_compact(resume_from):
        raise RuntimeError(f"--resume-from {resume_from} lacks {STATE_FILE} / {MOMENTS_FILE}")
    wanted = int(read_compact(resume_from)["iteration"])
    if own and own[-1][0] >= wanted:
        rep.log(f"train: resuming from {own[-1][1]} (this machine's own checkpoint, iteration >= {wanted})")
        return True
    shutil.rmtree(run_dir, ignore_errors=True)
    (run_dir / CHECKPOINTS_DIR).mkdir(parents=True)
    for name in (TRAIN_LOG_FILE, EVAL_LOG_FILE):
        if (resume_from / name).is_file():
            shutil.copy2(resume_from / name, run_dir / name)
    path = restore_compact(resume_from, run_dir / CHECKPOINTS_DIR)
    rep.log(f"train: resuming from the compact checkpoint in {resume_from} (iteration {wanted}) -> {path}")
    return True


def train_config(sizes: Sizes, device: torch.device, plan: TrainPlan) -> Any:
    """The run's config: the profile, the evaluation and checkpoint intervals from the plan's times (every 3
    iterations in the dry run), one checkpoint kept."""
    overrides = dict(sizes.train_overrides)
    if sizes.eval_interval_s:
        step_s = plan.step_or_guess(device)
        overrides["eval_every"] = max(1, round(sizes.eval_interval_s / step_s))
        overrides["checkpoint_every"] = max(1, round(sizes.checkpoint_interval_s / step_s))
    else:
        overrides.update(eval_every=3, checkpoint_every=3)
    if plan.eval_batch_frames:
        overrides["eval_batch_frames"] = plan.eval_batch_frames
    return resolve_profile(
        sizes.run_profile, temporal=False, source=DATA_SOURCE_LABEL, keep_checkpoints=1, prefetch=2, **overrides
    )


def run_train(
    ph: Phase, rep: Report, sizes: Sizes, device: torch.device, dataset: Any, run_dir: Path, plan: TrainPlan
) -> dict[str, Any]:
    """The ``train`` phase: train, evaluate at the stop, write the compact checkpoint and the logs into the output."""
    split = lt_split(dataset)
    cfg = train_config(sizes, device, plan)
    resumed = prepare_run_dir(run_dir, plan.resume_from, rep, plan.resume_local)
    out: dict[str, Any] = {
        "profile": sizes.run_profile,
        "mode": plan.mode,
        "mode_reason": plan.why,
        "resumed": resumed,
        "config": cfg.flat(),
        "attempts": [],
    }
    eval_s = plan.eval_or_guess(device)
    trainer = None
    for attempt_mode in [plan.mode] + (["eager"] if plan.mode != "eager" else []):
        reserve = 3 * eval_s + 10.0
        allot = (ph.left() - reserve) / (1 + (eval_s / sizes.eval_interval_s if sizes.eval_interval_s else 0.0))
        if allot < (10.0 if not sizes.dry else 0.0):
            ph.cut(f"training in mode {attempt_mode}", reserve + 10)
            break
        try:
            trainer = train_in_mode(rep, sizes, device, dataset, split, cfg, run_dir, resumed, attempt_mode, allot, out)
            break
        except Exception as exc:
            rep.raw(traceback.format_exc())
            rep.log(f"train: mode {attempt_mode} failed: {type(exc).__name__}: {exc}")
            out["attempts"].append({"mode": attempt_mode, "status": f"error: {type(exc).__name__}: {exc}"})
            free_memory(device)
    if trainer is None:
        raise RuntimeError(f"training did not run: {out['attempts']}")
    out["curve"] = curve = final_curve(trainer, dataset, split.test, cfg, device, run_dir, out)
    out["final"] = curve[-1] if curve else None
    out["vs_reference"] = compare_curve(curve)
    out["published_gaitset"] = dict(PUBLISHED_GAITSET)
    if trainer.last_ckpt is not None:
        out["checkpoint"] = compact_checkpoint(trainer, rep.out)
    for name in (TRAIN_LOG_FILE, EVAL_LOG_FILE):
        if (run_dir / name).is_file():
            shutil.copy2(run_dir / name, rep.out / name)
    return out


def train_in_mode(
    rep: Report, sizes: Sizes, device, dataset, split, cfg, run_dir: Path, resumed: bool, mode: str, allot: float,
    out: dict[str, Any],
) -> Any:  # fmt: skip
    """Train in step ``mode`` (``eager``, ``graph+bench``, ...) for ``allot`` more training seconds (the dry run: to
    its end); the outcome goes into ``out``. Returns the trainer that ran."""
    from gstsn.train.trainer import Trainer

    step_mode, bench = mode.split("+")[0], mode.endswith("+bench")
    trainer = Trainer(
        cfg,
        run_dir,
        dataset=dataset,
        train_subjects=split.train,
        test_subjects=split.test,
        device=device,
        resume=resumed or (run_dir / CHECKPOINTS_DIR).is_dir(),
        progress=False,
        compile_model=sizes.compile_backend if step_mode == "compile" else False,
        cuda_graph=step_mode == "graph",
        cudnn_benchmark=bench,
    )
    start_train_s = trainer.state.train_time
    trainer.time_limit_s = None if sizes.dry else start_train_s + allot
    limit = "none (dry run: to the end)" if sizes.dry else f"{allot:.0f} s more"
    rep.log(
        f"train: mode {mode}, from iteration {trainer.state.iteration} ({start_train_s:.1f} s "
        f"trained), time limit {limit}, eval every {cfg.train.eval_every} iterations"
    )
    res = trainer.run()
    out["attempts"].append({"mode": mode, "status": res.status})
    out.update(
        mode=mode,
        status=res.status,
        iteration=res.iteration,
        train_s_total=res.train_time,
        train_s_this_call=res.train_time - start_train_s,
        sec_per_iter_this_call=res.sec_per_iter,
        iterations_per_s=1.0 / res.sec_per_iter if res.sec_per_iter > 0 else None,
        last_stats=res.last_stats,
        collapse=res.collapse,
    )
    return trainer


def final_curve(trainer, dataset, test, cfg, device, run_dir: Path, out: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's curve, its last point at the last iteration: when the time limit stopped training between two
    evaluations, one more evaluation now (its time in ``out``), appended to the run's evaluation log."""
    from gstsn.eval.embed import evaluate_model
    from gstsn.train.logs import EVAL_COLUMNS, CsvLog, summary_rows

    curve = eval_curve(run_dir)
    iteration = trainer.state.iteration
    if curve and curve[-1]["iteration"] == iteration:
        return curve
    t = time.perf_counter()
    result, _ = evaluate_model(trainer.module, dataset, test, cfg, device, frame_source=trainer.frame_source)
    out["final_eval_s"] = time.perf_counter() - t
    log = CsvLog(run_dir / EVAL_LOG_FILE, EVAL_COLUMNS, resume_from=iteration)  # keeps every row so far
    try:
        for row in summary_rows(result, iteration, trainer.state.train_time, cfg.eval.distance):
            log.write(row)
    finally:
        log.close()
    return eval_curve(run_dir)


def compact_checkpoint(trainer: Any, out_dir: Path) -> dict[str, Any]:
    """The trainer's newest checkpoint in its compact form (two files in ``out_dir``), with the sizes."""
    from gstsn.train.compact import write_compact

    sizes_b = write_compact(trainer.last_ckpt, out_dir)
    return {
        "full_bytes": trainer.last_ckpt.stat().st_size,
        "compact_files": sizes_b,
        "under_16_mib": all(v < FILE_LIMIT_BYTES for v in sizes_b.values()),
        "iteration": trainer.state.iteration,
        "note": COMPACT_NOTE,
    }


__all__ = [
    "TrainPlan",
    "choose_train_mode",
    "compact_checkpoint",
    "final_curve",
    "plan_training",
    "prepare_run_dir",
    "run_train",
    "step_estimate",
    "train_config",
    "train_in_mode",
]
