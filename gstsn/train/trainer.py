"""The training loop: BA+ triplet loss, Adam, P×K batches; checkpoints, bit-identical resume, NaN stop, collapse flag.

One explicit loop (:func:`train`) serves the CPU, one GPU and ``torchrun`` with DistributedDataParallel:

- Batches come from :class:`gstsn.data.sampling.TripletSampler` as uint8 ``(P·K, frames, H, W)``; a background
  thread (``TrainConfig.prefetch`` batches ahead) draws and, on CUDA, pins them, so the GPU does not wait for data.
  Frames travel to the device as uint8 (non-blocking) and become float there (``prepare_frames``).
- The forward pass runs under the run's autocast (:mod:`gstsn.precision`: bf16 with ``amp`` on CUDA, with
  ``cpu_precision = "bf16"`` on the CPU); the loss is always computed in fp32.
- On CUDA the packed frames live on the GPU (:class:`gstsn.data.device_frames.DeviceFrames`, ``device_frames``): the
  background thread draws only frame ids and the frames are unpacked on the device. The loss's P×K index tensors are
  built once, Adam is the fused CUDA kernel, and the loop synchronises only at log, checkpoint and evaluation points.
  ``compile_model`` runs the model through ``torch.compile``; ``cuda_graph`` captures the whole step (frames, forward,
  loss, backward, Adam) in one CUDA graph (:mod:`gstsn.train.graphed`); ``cudnn_benchmark`` times cuDNN's
  convolution algorithms for the training shapes.
- :class:`gstsn.train.state.TrainState` holds everything a resume needs: model, optimizer, sampler state, numpy RNG
  state, the iteration, the cumulative training time and the collapse monitor. Every ``checkpoint_every`` iterations
  it is written atomically; ``resume=True`` continues from the newest checkpoint, bit-identically on the CPU (the
  sampler state saved is the one right after the last *consumed* batch, whatever the prefetch thread drew ahead).
- A non-finite loss stops the run with :class:`TrainingDiverged`; no checkpoint is written after the last good one.
- SIGTERM / SIGINT (:mod:`gstsn.signals`): the step in progress finishes, a checkpoint is written and
  :class:`~gstsn.signals.TrainingInterrupted` is raised (the ``gstsn`` command exits 143 / 130); ``resume=True``
  continues from there as from any checkpoint.
- One process trains in a run folder at a time (its ``.train.lock``); a second trainer fails at once, naming the holder.
- A collapsed embedding (loss stuck at the margin, distances → 0) is flagged in the CSV log (``collapsed`` column),
  in the Python log and in the returned summary.

Outputs in the run directory: ``config.json`` (resolved config), ``train_log.csv`` (one row per logged iteration:
iteration, loss, dist_ap, dist_an, nonzero_frac, wall_time, lr, collapsed), ``eval_log.csv`` (rank-1 rows of the
periodic evaluations, with the training wall time), ``checkpoints/`` and, when asked for, ``tensorboard/`` (the same
scalars as TensorBoard events). ``wall_time`` is the cumulative training time in seconds across resumes, periodic
evaluations and checkpoint writes excluded: the x axis of a time-to-accuracy curve; over the same time
:class:`gstsn.contention.ContentionMeter` measures the share of the CPUs other processes took.

Beside the loop: :mod:`gstsn.train.batches` (batches, the prefetch thread), :mod:`gstsn.train.state` (what a resume
restores), :mod:`gstsn.train.logs` (CSV, TensorBoard, progress), :mod:`gstsn.train.collapse` (the collapse monitor),
:mod:`gstsn.train.setup` (device, seeded weights, Adam options), :mod:`gstsn.train.errors` and
:mod:`gstsn.train.provenance` (what a result records about where it came from).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gstsn.config import RunConfig, config_hash, config_to_dict, learning_rate
from gstsn.models import build_model
from gstsn.results.files import CHECKPOINTS_DIR
from gstsn.signals import TrainingInterrupted, stop_on_signals, stop_requested
from gstsn.train.batches import Batch, BatchStream
from gstsn.train.checkpoint import CHECKPOINT_FORMAT, CheckpointError, save_checkpoint
from gstsn.train.collapse import CollapseMonitor
from gstsn.train.distributed import (
    DistContext,
    agree_on_stop,
    barrier,
    device_for_rank,
    init_process_group,
    shard_rows,
)
from gstsn.train.errors import TrainingDiverged, TrainingError
from gstsn.train.logs import RunLogs, TensorBoardLog, progress_bar, summary_rows
from gstsn.train.loss import STAT_NAMES
from gstsn.train.result import TrainResult
from gstsn.train.setup import (
    adam_options,
    apply_adam_options,
    check_options,
    lock_run_folder,
    resolve_device,
    seeded_model,
)
from gstsn.train.state import TrainState, restore_newest
from gstsn.train.step import TrainStep

log = logging.getLogger("gstsn.train")


# ----------------------------------------------------------------------------------------------------------------------
# The loop


class Trainer:
    """One run's loop. Build it, then :meth:`run`; :func:`train` does both.

    See :func:`train` for the arguments. The constructor sets everything up (device, process group, model, optimizer,
    sampler, resume); :meth:`run` trains up to ``cfg.train.iterations`` or the time limit.
    """

    def __init__(
        self,
        cfg: RunConfig,
        out_dir: str | Path,
        *,
        dataset: Any,
        train_subjects: list[str],
        test_subjects: list[str] | None = None,
        device: str | torch.device = "auto",
        resume: bool = False,
        progress: bool = True,
        time_limit_s: float | None = None,
        tensorboard: bool = False,
        dist_ctx: DistContext | None = None,
        dist_init_method: str | None = None,
        model_factory: Callable[[Any], nn.Module] = build_model,
        sampler_factory: Callable[..., Any] | None = None,
        device_frames: bool | None = None,
        compile_model: bool | str = False,
        cuda_graph: bool = False,
        cudnn_benchmark: bool = False,
    ) -> None:
        tc = cfg.train
        self.cfg, self.out, self.dataset = cfg, Path(out_dir), dataset
        self.train_subjects = sorted(str(s) for s in train_subjects)
        self.test_subjects = test_subjects
        self.progress, self.time_limit_s, self.tensorboard = progress, time_limit_s, tensorboard
        if tensorboard:
            TensorBoardLog.writer_class()  # a missing package fails here, before any work
        self.ctx = dist_ctx or DistContext.from_env()
        self.device = device_for_rank(resolve_device(device), self.ctx)
        self.use_device_frames = self.device.type == "cuda" if device_frames is None else bool(device_frames)
        check_options(cfg, dataset, self.device, self.ctx.enabled, cuda_graph, self.use_device_frames)
        self.cudnn_benchmark = bool(cudnn_benchmark) and self.device.type == "cuda"
        init_process_group(self.ctx, self.device, dist_init_method)
        self.rows = shard_rows(tc.batch_p * tc.batch_k, self.ctx)
        self.ckpt_dir = self.out / CHECKPOINTS_DIR
        self._held = contextlib.ExitStack()  # the run folder's lock, from here to the end of run()
        if self.ctx.is_main:
            self._held.enter_context(lock_run_folder(self.out))
        try:
            self._build(cfg, resume, model_factory, sampler_factory, train_subjects, compile_model, cuda_graph)
        except BaseException:
            self.close()
            raise

    def _build(
        self,
        cfg: RunConfig,
        resume: bool,
        model_factory: Callable[[Any], nn.Module],
        sampler_factory: Callable[..., Any] | None,
        train_subjects: list[str],
        compile_model: bool | str,
        cuda_graph: bool,
    ) -> None:
        """Model, optimizer, sampler and the state to resume, under the run folder's lock."""
        tc, dataset = cfg.train, self.dataset
        model = seeded_model(cfg, model_factory).to(self.device)
        optimizer = torch.optim.Adam(model.parameters(), lr=tc.lr, **adam_options(self.device, cuda_graph))
        rng = np.random.default_rng(cfg.seed)
        if sampler_factory is None:
            from gstsn.data.sampling import TripletSampler as sampler_factory  # noqa: N813
        sampler = sampler_factory(
            dataset,
            subjects=list(train_subjects),
            p=tc.batch_p,
            k=tc.batch_k,
            frames=tc.frames,
            input_type=tc.input_type,
            rng=rng,
        )
        # The global torch RNG is left alone: the weights are seeded by seeded_model (in a forked RNG), the batches by
        # ``rng``, and no layer of the family draws random numbers (tests/test_train_trainer.py checks both).
        self.state = TrainState(model, optimizer, sampler, rng, CollapseMonitor(margin=tc.margin))

        self.resumed_from: int | None = None
        self.last_eval: tuple[int, Any] | None = None  # (iteration, Rank1Result) of the newest evaluation
        self.last_ckpt = restore_newest(self.state, self.ckpt_dir, cfg, resume)
        if self.last_ckpt is not None:
            self.resumed_from = self.state.iteration
            if self.device.type == "cuda":  # the checkpoint's own Adam flags (fused, capturable) give way to ours
                apply_adam_options(optimizer, adam_options(self.device, cuda_graph))
        self.module = model  # the plain module: evaluation, checkpoints
        self.model = model
        if self.ctx.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
            self.state.model = self.model
        if compile_model:  # the training forward only; evaluation runs self.module. A str names the backend.
            backend = compile_model if isinstance(compile_model, str) else "inductor"
            self.model = torch.compile(self.model, backend=backend)
        self.frame_source = None
        if self.use_device_frames:
            from gstsn.data.device_frames import DeviceFrames

            self.frame_source = DeviceFrames.from_cache(dataset, self.device)
        self.train_step = TrainStep(cfg, self.state, self.model, self.ctx, self.device, self.rows, self.frame_source,
                                    cuda_graph=cuda_graph, cudnn_benchmark=self.cudnn_benchmark)  # fmt: skip

    def close(self) -> None:
        """Release the run folder (:meth:`run` does this at its end; call it when a built trainer is not run)."""
        self._held.close()

    # -- pieces of the loop ------------------------------------------------------------------------------------------

    def batch_stream(self) -> BatchStream:
        """The loop's batch stream (prefetch thread, pinned on CUDA, frame ids only with device frames); close it."""
        return BatchStream(
            self.state.sampler,
            self.state.rng,
            self.cfg.train.prefetch,
            self.device.type == "cuda",
            ids_only=self.use_device_frames,
        )

    def step(self, batch: Batch) -> torch.Tensor:
        """One training step as :meth:`run` takes it (for benchmarks); the stats ``(4,)`` stay on the device."""
        return self.train_step(batch)

    def _record(self, pending: list[tuple[int, torch.Tensor]]) -> dict[str, float]:
        """Check and log the stats of the steps since the last flush (one device sync); returns the newest."""
        tc = self.cfg.train
        values = torch.stack([s for _, s in pending]).cpu().tolist()
        row_stats: dict[str, float] = {}
        for (i, _), vals in zip(pending, values, strict=True):
            row_stats = dict(zip(STAT_NAMES, vals, strict=True))
            if not all(math.isfinite(v) for v in vals):
                raise TrainingDiverged(i, row_stats, self.last_ckpt)
            if i % tc.log_every and i != tc.iterations:
                continue
            was_collapsed = self.state.collapse.collapsed_now
            collapsed = self.state.collapse.update(i, row_stats)
            if collapsed and not was_collapsed:
                log.warning("embedding collapsed at iteration %d (%s)", i, row_stats)
            self.logs.train_row(i, row_stats, self.state.train_time, learning_rate(tc, i), collapsed)
        return row_stats

    def _save(self) -> None:
        if not self.ctx.is_main:
            return
        payload = self.state.state_dict()
        payload.update(
            format=CHECKPOINT_FORMAT,
            config=config_to_dict(self.cfg),
            config_hash=config_hash(self.cfg),
            data_fingerprint=str(getattr(self.dataset, "fingerprint", "")),
            train_subjects=list(self.train_subjects),  # `gstsn eval` refuses to score a model on these
        )
        self.last_ckpt = save_checkpoint(payload, self.ckpt_dir, keep=self.cfg.train.keep_checkpoints)

    def _evaluate(self) -> list[dict[str, Any]]:
        """Rank-1 on the test subjects (main rank only), as rows for ``eval_log.csv``; the other ranks wait."""
        if not self.ctx.is_main or self.test_subjects is None:
            barrier(self.ctx)
            return []
        from gstsn.eval.embed import evaluate_model

        module = self.module
        result, feats = evaluate_model(
            module, self.dataset, self.test_subjects, self.cfg, self.device, frame_source=self.frame_source
        )
        module.train()
        self.last_eval = (self.state.iteration, result)
        self.last_eval_features = (self.state.iteration, feats)  # one copy kept: the final one feeds gstsn train
        barrier(self.ctx)
        rows = summary_rows(result, self.state.iteration, self.state.train_time, self.cfg.eval.distance)
        self.logs.eval_rows(rows)
        return rows

    # -- the loop ----------------------------------------------------------------------------------------------------

    def run(self) -> TrainResult:
        tc, state = self.cfg.train, self.state
        main_rank = self.ctx.is_main
        self.logs = RunLogs(self.out, self.cfg, self.resumed_from, tensorboard=self.tensorboard, enabled=main_rank)
        stream = self.batch_stream()
        bar = progress_bar(self.progress and self.ctx.is_main, state.iteration, tc.iterations)
        pending: list[tuple[int, torch.Tensor]] = []
        last_stats: dict[str, float] = {}
        eval_rows: list[dict[str, Any]] = []
        step_times: list[float] = []
        status = "completed"
        sync_every_step = self.device.type == "cpu"  # free on the CPU; on a GPU flush at log/checkpoint points only
        stop: int | None = None  # signal number of a stop request (SIGTERM / SIGINT), acted on after the step
        try:
            self._held.enter_context(stop_on_signals())
            self.model.train()
            t_mark = time.perf_counter()
            state.contention.start()
            while state.iteration < tc.iterations:
                stats = self.train_step(stream.next())
                it = state.iteration
                pending.append((it, stats))
                due_ckpt = it % tc.checkpoint_every == 0 or it == tc.iterations
                due_eval = self.test_subjects is not None and (
                    (tc.eval_every > 0 and it % tc.eval_every == 0) or it == tc.iterations
                )
                elapsed = state.train_time + time.perf_counter() - t_mark
                over_time = self.time_limit_s is not None and elapsed >= self.time_limit_s
                # Under DDP every rank must stop at the same step: the request is agreed at the sync points only.
                stop = stop_requested() if not self.ctx.enabled else stop
                sync_point = sync_every_step or it % tc.log_every == 0 or due_ckpt or due_eval or over_time
                if not (sync_point or stop):
                    continue
                if self.ctx.enabled:
                    stop = agree_on_stop(stop_requested(), self.device, self.ctx)
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
                now = time.perf_counter()
                state.contention.stop()
                step_times.append((now - t_mark) / len(pending))
                state.train_time += now - t_mark
                n_done = len(pending)
                last_stats = self._record(pending)
                pending.clear()
                bar.update(n_done)
                bar.set_postfix(loss=f"{last_stats['loss']:.4f}", nz=f"{last_stats['nonzero_frac']:.2f}", refresh=False)
                if due_ckpt or over_time or stop:
                    self._save()
                if stop:
                    break
                if due_eval:
                    eval_rows.extend(self._evaluate())
                if over_time and it < tc.iterations:
                    status = "time_limit"
                    break
                t_mark = time.perf_counter()
                state.contention.start()
        finally:
            stream.close()
            bar.close()
            self.logs.close()
            self.close()
        if stop:
            raise TrainingInterrupted(stop, state.iteration, self.last_ckpt)
        return self._result(status, last_stats, eval_rows, step_times)

    def _result(
        self, status: str, last_stats: dict[str, float], eval_rows: list[dict[str, Any]], step_times: list[float]
    ) -> TrainResult:
        state = self.state
        timed = step_times[1:] or step_times  # the first step includes warm-up
        return TrainResult(
            out_dir=self.out,
            iteration=state.iteration,
            status=status,
            train_time=state.train_time,
            last_stats=last_stats,
            collapse=state.collapse.summary(),
            checkpoint=self.last_ckpt,
            device=str(self.device),
            world_size=self.ctx.world_size,
            resumed_from=self.resumed_from,
            sec_per_iter=float(np.mean(timed)) if timed else float("nan"),
            cpu_others_share=state.contention.share,
            eval_rows=eval_rows,
            final_eval=self.last_eval[1] if self.last_eval and self.last_eval[0] == state.iteration else None,
            final_features=_features_at(getattr(self, "last_eval_features", None), state.iteration),
        )


def _features_at(kept: tuple[int, Any] | None, iteration: int) -> Any:
    return kept[1] if kept is not None and kept[0] == iteration else None


def train(cfg: RunConfig, out_dir: str | Path, **kwargs: Any) -> TrainResult:
    """Train ``cfg``; write logs and checkpoints under ``out_dir``. Keyword arguments (all optional but the data):

    - ``dataset``: an opened silhouette cache (``SilhouetteCache`` interface); ``train_subjects``: the subjects to
      train on; ``test_subjects``: when given, rank-1 is evaluated every ``cfg.train.eval_every`` iterations (if > 0)
      and at the final one (``TrainResult.final_eval``), each written to ``eval_log.csv`` with the training time.
    - ``device``: ``auto`` / ``cpu`` / ``cuda`` or a ``torch.device``.
    - ``resume``: continue from the newest checkpoint in ``out_dir/checkpoints`` (fresh start when there is none).
      Without it an existing checkpoint is an error, so a run is never silently overwritten.
    - ``time_limit_s``: stop cleanly after this much training time, with a checkpoint (status ``time_limit``), so a
      long run can be spread over short jobs.
    - ``dist_ctx`` / ``dist_init_method``: data-parallel placement (default: from ``torchrun``'s environment).
    - ``model_factory`` / ``sampler_factory``: replace ``build_model`` / ``TripletSampler`` (tests).
    - ``device_frames``: keep the packed frames on the device and unpack batches there (default: on CUDA only).
    - ``compile_model``: ``torch.compile`` the model for the training forward (evaluation runs it uncompiled).
    - ``cuda_graph``: capture the whole step in a CUDA graph after a few eager steps (one CUDA device, device frames).
    - ``cudnn_benchmark``: cuDNN times its algorithms for the (fixed) training shapes (evaluation keeps the global).
    - ``progress``: tqdm bar; ``tensorboard``: the logged scalars also as events in ``out_dir/tensorboard``.
    """
    return Trainer(cfg, out_dir, **kwargs).run()


__all__ = [
    "CheckpointError",
    "TrainResult",
    "Trainer",
    "TrainingDiverged",
    "TrainingError",
    "train",
]
