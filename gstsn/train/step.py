"""One optimizer step of the training loop (:class:`TrainStep`): frames to the device, forward (bf16 autocast with
AMP), the BA+ triplet loss in fp32, backward, the learning rate of the step, Adam; or the same step as one CUDA graph
(:mod:`gstsn.train.graphed`)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gstsn.config import RunConfig, learning_rate
from gstsn.models import prepare_frames
from gstsn.precision import autocast
from gstsn.train.batches import Batch
from gstsn.train.distributed import DistContext, gather_with_local_grad
from gstsn.train.errors import TrainingError
from gstsn.train.loss import batch_all_triplet_tensor, is_pk_layout, pk_triplet_indices
from gstsn.train.state import TrainState


class TrainStep:
    """``step(batch)``: one optimizer step on a global batch; returns the detached stats ``(4,)`` (still on the
    device) and advances ``state`` (iteration, the sampler and RNG state of the batch consumed).

    ``model`` is what the forward runs (DistributedDataParallel and/or compiled); ``rows`` this rank's rows of the
    batch; ``frame_source`` the frames on the device (``DeviceFrames``) when batches carry frame ids only.
    """

    def __init__(
        self,
        cfg: RunConfig,
        state: TrainState,
        model: nn.Module,
        ctx: DistContext,
        device: torch.device,
        rows: Any,
        frame_source: Any = None,
        *,
        cuda_graph: bool = False,
        cudnn_benchmark: bool = False,
    ) -> None:
        tc = cfg.train
        self.cfg, self.state, self.model, self.ctx, self.device = cfg, state, model, ctx, device
        self.rows, self.frame_source, self.cudnn_benchmark = rows, frame_source, cudnn_benchmark
        self.pk_indices = pk_triplet_indices(tc.batch_p, tc.batch_k, device)  # the loss's, built once
        self.graph_step = None
        if cuda_graph:
            from gstsn.train.graphed import GraphedStep

            shape = (tc.batch_p * tc.batch_k, tc.frames)  # one process: every row of the batch
            self.graph_step = GraphedStep(self.graph_body, state.optimizer, shape)

    def __call__(self, batch: Batch) -> torch.Tensor:
        if not self.cudnn_benchmark:
            return self._step(batch)
        saved = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = True  # fixed training shapes: let cuDNN time its algorithms once
        try:
            return self._step(batch)
        finally:
            torch.backends.cudnn.benchmark = saved  # evaluation's variable shapes would be re-timed each batch

    def _step(self, batch: Batch) -> torch.Tensor:
        tc, state = self.cfg.train, self.state
        indices = self.pk_indices if is_pk_layout(batch.labels, tc.batch_p, tc.batch_k) else None
        if self.graph_step is not None:
            if indices is None:
                raise TrainingError(f"a CUDA-graph step needs P×K batches; got labels {batch.labels.tolist()}")
            stats = self.graph_step(batch.frame_ids[self.rows])
        else:
            if batch.frame_ids is not None:  # uint8 (m, frames, H, W), unpacked on the device
                sils = self.frame_source.frames(batch.frame_ids[self.rows].to(self.device, non_blocking=True))
            else:
                sils = batch.sils[self.rows].to(self.device, non_blocking=True)
            x = prepare_frames(sils, self.cfg.input)  # float (m, frames, h, w), converted on the device
            with autocast(self.device, tc):
                emb = self.model(x)  # (m, parts, d)
            emb = gather_with_local_grad(emb.float(), self.ctx)  # (P·K, parts, d); only this rank's rows carry grad
            loss, stats = batch_all_triplet_tensor(emb, batch.labels, tc.margin, indices)
            state.optimizer.zero_grad(set_to_none=True)
            (loss * self.ctx.world_size).backward()  # undo DDP's gradient average: the update is the full-batch one
            for group in state.optimizer.param_groups:
                group["lr"] = learning_rate(tc, state.iteration + 1)
            state.optimizer.step()
        state.iteration += 1
        state.sampler_state, state.np_rng_state = batch.sampler_state, batch.np_rng_state
        return stats

    def graph_body(self, frame_ids: torch.Tensor) -> torch.Tensor:
        """The step as :class:`~gstsn.train.graphed.GraphedStep` runs and captures it: frame ids already on the
        device, P×K labels, no ``zero_grad`` (the graph rewrites the gradients it allocated at capture)."""
        tc = self.cfg.train
        x = prepare_frames(self.frame_source.frames(frame_ids), self.cfg.input)
        with autocast(self.device, tc, cache=False):
            emb = self.model(x)
        labels = torch.empty(self.pk_indices.n, dtype=torch.int64)  # only its length is read: indices are given
        loss, stats = batch_all_triplet_tensor(emb.float(), labels, tc.margin, self.pk_indices)
        loss.backward()
        self.state.optimizer.step()
        return stats


__all__ = ["TrainStep"]
