"""Phase ``eval``: ``evaluate_model`` over the LT test set (every frame, unpacked on the device) at several
``eval_batch_frames``, a warm-up run first, then timed runs and one embedding-only run per batch size."""

from __future__ import annotations

import time
from typing import Any

import torch

from gstsn.config import resolve_profile
from gstsn.gpu_check.data import lt_split
from gstsn.gpu_check.report import Report
from gstsn.gpu_check.settings import DATA_SOURCE_LABEL, REFERENCE_EVAL_S, Sizes
from gstsn.gpu_check.step_bench import free_memory
from gstsn.timing.budget import Phase
from gstsn.timing.flops import synchronize


def run_eval(ph: Phase, rep: Report, sizes: Sizes, device: torch.device, dataset: Any) -> dict[str, Any]:
    """The ``eval`` phase: the LT test set's size, its upload, and per batch size the times that fit."""
    from gstsn.data.device_frames import DeviceFrames
    from gstsn.eval.embed import rows_of_subjects
    from gstsn.train.setup import seeded_model

    split = lt_split(dataset)
    rows, _ = rows_of_subjects(dataset, split.test)
    t = time.perf_counter()
    frames = DeviceFrames.from_cache(dataset, device)
    synchronize(device)
    out: dict[str, Any] = {
        "sequences": int(rows.size),
        "frames": int(dataset.lengths[rows].sum()),
        "test_subjects": len(split.test),
        "upload_s": time.perf_counter() - t,
        "upload_bytes": frames.nbytes,
        "model": "gaitset (paper profile, seeded initial weights: the cost does not depend on the weights)",
        "runs": [],
    }
    model = seeded_model(resolve_profile(sizes.run_profile, temporal=False, source=DATA_SOURCE_LABEL)).to(device)
    for bf in sizes.eval_batch_frames:
        entry = time_batch_size(ph, sizes, device, dataset, split.test, rows, model, frames, bf)
        out["runs"].append(entry)
        if "best_s" in entry:
            rep.log(f"eval: {rows.size} sequences, eval_batch_frames={bf}: {entry['best_s']:.3f} s")
    timed = [r for r in out["runs"] if "best_s" in r]
    if timed:
        best = min(timed, key=lambda r: r["best_s"])
        out.update(best_s=best["best_s"], best_eval_batch_frames=best["eval_batch_frames"])
        out["speedup_vs_reference"] = REFERENCE_EVAL_S / best["best_s"]
    del frames, model
    free_memory(device)
    return out


def time_batch_size(ph: Phase, sizes: Sizes, device, dataset, test, rows, model, frames, bf: int) -> dict[str, Any]:
    """The evaluation at ``eval_batch_frames = bf``: a warm-up run (cuDNN plans for new shapes), then the timed runs
    and the embedding alone, each while it fits."""
    from gstsn.eval.embed import embed_for_run, evaluate_model

    cfg = resolve_profile(sizes.run_profile, temporal=False, source=DATA_SOURCE_LABEL, eval_batch_frames=bf)
    times: list[float] = []
    for i in range(sizes.eval_repeats + 1):
        last = times[-1] if times else 10.0
        if not ph.fits(1.5 * last):
            ph.cut(f"evaluation at eval_batch_frames={bf}, run {i}", 1.5 * last)
            break
        synchronize(device)
        t = time.perf_counter()
        evaluate_model(model, dataset, test, cfg, device, frame_source=frames)
        synchronize(device)
        times.append(time.perf_counter() - t)
    if len(times) < 2:
        return {"eval_batch_frames": bf, "warmup_s": times[0] if times else None}
    entry = {"eval_batch_frames": bf, "warmup_s": times[0], "times_s": times[1:], "best_s": min(times[1:])}
    if ph.fits(2 * entry["best_s"]):
        synchronize(device)
        t = time.perf_counter()
        embed_for_run(model, dataset, rows, cfg, device, frame_source=frames, as_tensor=True)
        synchronize(device)
        entry["embed_only_s"] = time.perf_counter() - t
    return entry


__all__ = ["run_eval", "time_batch_size"]
