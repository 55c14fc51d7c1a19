"""FLOPs measured, never written down: ``FlopCounterMode`` over one call of a function (:func:`count_flops`), or over
a built model on a probe input (:func:`model_flops`, cached per config). The timing suite's FLOP columns and the
ablation suite's cost estimates come from here, so a newly registered component is costed by what it runs."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator

import torch
from torch.utils.flop_counter import FlopCounterMode

from gstsn.config import ModelConfig


@contextlib.contextmanager
def _composite_rnn_kernels() -> Iterator[None]:
    """oneDNN and cuDNN off while inside: a recurrent layer (``aten.lstm``, ``aten.gru``, ...) then runs as the
    matmuls FlopCounterMode counts, instead of one fused kernel it cannot see into. Convolutions and matmuls are
    counted at the aten level whatever the backend, so the count is complete and no layer needs a formula of ours."""
    saved = torch.backends.mkldnn.enabled, torch.backends.cudnn.enabled
    torch.backends.mkldnn.enabled = torch.backends.cudnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled, torch.backends.cudnn.enabled = saved


def count_flops(fn: Callable[[], object]) -> int:
    """Total FLOPs (multiply-add = 2) that one call of ``fn()`` runs, measured by ``FlopCounterMode`` (recurrent layers
    included: see :func:`_composite_rnn_kernels`; the call is an extra one, never a timed one)."""
    with _composite_rnn_kernels(), FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


PROBE_FRAMES = 8  # frames of the probe sequence :func:`model_flops` measures a model on


@functools.cache
def model_flops(cfg: ModelConfig, height: int, width: int) -> dict[str, float]:
    """The forward FLOPs of the model ``cfg`` builds, measured on a probe sequence of :data:`PROBE_FRAMES` frames at
    ``height``×``width`` (the model input, after downsampling) and given per frame: ``total`` and each module path
    that runs any (``spatial``, ``temporal``, ``temporal.lstm``, ...). Cached per config; the global random state is
    left as it was."""
    from gstsn.models import build_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_model(cfg, channels_last=False).eval()
        probe = (torch.rand(1, PROBE_FRAMES, height, width) > 0.5).float()
    with _composite_rnn_kernels(), FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(probe)
    by_module = counter.get_flop_counts()  # keyed "<class>.<module path>"
    prefix = type(model).__name__ + "."
    parts = {k.removeprefix(prefix): sum(v.values()) for k, v in by_module.items() if k.startswith(prefix)}
    return {"total": counter.get_total_flops() / PROBE_FRAMES, **{k: v / PROBE_FRAMES for k, v in parts.items()}}


__all__ = ["PROBE_FRAMES", "count_flops", "model_flops"]
