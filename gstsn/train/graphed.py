"""The whole training step as one CUDA graph: frame unpacking, forward, loss, backward and the Adam update.

A GaitSet step launches several hundred small kernels; from Python each launch costs microseconds of host time, and
at the speeds a GPU reaches on this model the host, not the GPU, sets the pace. A captured graph replays all of them
with one launch. The recipe is PyTorch's "whole network capture":

1. the first ``warmup`` steps run eagerly on a side stream (real steps, each on its own batch), so that cuDNN picks
   its algorithms and the allocator and Adam's state exist before the capture;
2. the next step is captured (gradients set to ``None`` first, so the backward allocates them inside the graph's
   memory pool and every replay rewrites them: no ``zero_grad`` is needed) and then replayed;
3. every later step copies its frame ids into the static input buffer and replays.

The step function (``body``) must be capturable: no host synchronisation, no host-to-device copy of pageable memory,
no data-dependent shapes, autocast without its weight cache, and a ``capturable`` optimizer. The trainer's
``TrainStep.graph_body`` is that function; CPU tests run ``body`` eagerly through :meth:`GraphedStep.run_eager`, and a
``cuda``-marked test checks that replays give the eager step's numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


class GraphedStep:
    """Call with the step's frame ids (host or device, int64 ``shape``); returns the step's stats ``(4,)``, a fresh
    device tensor per call (the graph's own output buffer is overwritten by the next replay)."""

    def __init__(
        self,
        body: Callable[[torch.Tensor], torch.Tensor],
        optimizer: torch.optim.Optimizer,
        shape: tuple[int, ...],
        warmup: int = 3,
    ) -> None:
        if not torch.cuda.is_available():
            raise RuntimeError("a CUDA graph step needs a CUDA device; none is available")
        self.body, self.optimizer, self.warmup = body, optimizer, int(warmup)
        device = next(p.device for g in optimizer.param_groups for p in g["params"])
        self.static_ids = torch.zeros(shape, dtype=torch.int64, device=device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_stats: torch.Tensor | None = None
        self.calls = 0
        self._side = torch.cuda.Stream(device=device)

    def run_eager(self, ids: torch.Tensor) -> torch.Tensor:
        """One eager step through ``body`` (what the warm-up steps run), on the current stream."""
        self.optimizer.zero_grad(set_to_none=True)
        return self.body(ids)

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        self.static_ids.copy_(ids, non_blocking=True)
        self.calls += 1
        if self.calls <= self.warmup:
            self._side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self._side):
                stats = self.run_eager(self.static_ids)
            torch.cuda.current_stream().wait_stream(self._side)
            stats.record_stream(torch.cuda.current_stream())  # read on this stream, allocated on the side one
            return stats
        if self.graph is None:
            self._capture()
        self.graph.replay()
        return self.static_stats.clone()

    def _capture(self) -> None:
        torch.cuda.synchronize()
        self.optimizer.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        # thread_local: the trainer's prefetch thread keeps pinning host memory during the capture, which the
        # default (global) capture mode forbids in every thread
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            self.static_stats = self.body(self.static_ids)
        self.graph = graph


__all__ = ["GraphedStep"]
