"""Data-parallel training with ``torch.distributed``: process-group setup, batch sharding, embedding gathering.

How a P×K batch is split (documented choice):

- Every rank builds the same sampler from the same seed, so every rank sees the same global P×K batch; rank ``r`` of
  ``W`` keeps rows ``[r·n/W, (r+1)·n/W)`` of it (``n = P·K``, which must divide by ``W``) and embeds only those.
- BA+ is computed over the **gathered global batch**: each rank all-gathers the (detached) embeddings of the other
  ranks and puts its own, differentiable slice in its place. Every rank then computes the same loss as a single
  process would; gradients flow only into the rank's own slice, and DistributedDataParallel's gradient average
  (÷ W) is undone by scaling the loss by W for the backward pass. The update therefore equals the single-process one
  up to floating-point summation order: a 2-process run follows the 1-process loss curve.

A plain single process needs no launcher and no environment variables: :meth:`DistContext.from_env` returns the
single-process context when ``WORLD_SIZE`` is unset or 1. Under ``torchrun`` it reads ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist


class DistributedSetupError(ValueError):
    """Inconsistent distributed environment or a batch that cannot be split across the ranks."""


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in a data-parallel job (``world_size == 1``: a plain single process)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DistContext:
        """The context ``torchrun`` describes through ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` (single when unset)."""
        env = os.environ if env is None else env
        values = {}
        for key, default in (("RANK", "0"), ("WORLD_SIZE", "1"), ("LOCAL_RANK", None)):
            raw = env.get(key, default if default is not None else env.get("RANK", "0"))
            try:
                values[key] = int(raw)
            except ValueError as exc:
                raise DistributedSetupError(f"environment variable {key}={raw!r} is not an integer") from exc
        ctx = cls(rank=values["RANK"], world_size=values["WORLD_SIZE"], local_rank=values["LOCAL_RANK"])
        if ctx.world_size < 1 or not 0 <= ctx.rank < ctx.world_size or ctx.local_rank < 0:
            raise DistributedSetupError(
                f"RANK={ctx.rank}, WORLD_SIZE={ctx.world_size}, LOCAL_RANK={ctx.local_rank} are inconsistent; "
                "expected 0 <= RANK < WORLD_SIZE and LOCAL_RANK >= 0"
            )
        return ctx


def device_for_rank(device: torch.device, ctx: DistContext) -> torch.device:
    """One GPU per rank (``cuda:LOCAL_RANK``); CPU ranks share the CPU."""
    if device.type == "cuda" and ctx.enabled:
        return torch.device("cuda", ctx.local_rank)
    return device


def init_process_group(ctx: DistContext, device: torch.device, init_method: str | None = None) -> None:
    """Join the job's process group (``nccl`` on CUDA, ``gloo`` on the CPU); a no-op for a single process.

    ``init_method`` defaults to ``env://`` (what ``torchrun`` sets up); tests pass a ``file://`` rendezvous.
    """
    if not ctx.enabled or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)  # NCCL uses the current device of each rank
    dist.init_process_group(
        backend=backend, init_method=init_method or "env://", rank=ctx.rank, world_size=ctx.world_size
    )


def shard_rows(n: int, ctx: DistContext) -> slice:
    """The rows of an ``n``-row global batch that rank ``ctx.rank`` embeds."""
    if n % ctx.world_size:
        raise DistributedSetupError(
            f"the P×K batch of {n} sequences does not split evenly over WORLD_SIZE={ctx.world_size} ranks; "
            "choose batch_p × batch_k divisible by the number of processes"
        )
    share = n // ctx.world_size
    return slice(ctx.rank * share, (ctx.rank + 1) * share)


def gather_with_local_grad(local: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Concatenate every rank's ``local (m, ...)`` in rank order → ``(W·m, ...)``; only this rank's slice has grad."""
    if not ctx.enabled:
        return local
    parts = [torch.empty_like(local) for _ in range(ctx.world_size)]
    dist.all_gather(parts, local.detach().contiguous())
    parts[ctx.rank] = local
    return torch.cat(parts, dim=0)


def barrier(ctx: DistContext) -> None:
    """Wait for every rank (a no-op for a single process)."""
    if ctx.enabled and dist.is_initialized():
        dist.barrier()


def agree_on_stop(local: int | None, device: torch.device, ctx: DistContext) -> int | None:
    """A stop request (a signal number) seen by any rank, agreed by all of them, so that every rank stops after the
    same step (a signal may reach the ranks one step apart). A no-op for a single process."""
    if not (ctx.enabled and dist.is_initialized()):
        return local
    flag = torch.tensor([local or 0], dtype=torch.int64, device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return int(flag.item()) or None


__all__ = [
    "agree_on_stop",
    "barrier",
    "DistContext",
    "DistributedSetupError",
    "device_for_rank",
    "gather_with_local_grad",
    "init_process_group",
    "shard_rows",
]
