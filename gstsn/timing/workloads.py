"""The timed callables of each phase, built from a :class:`~gstsn.timing.cases.Case`.

Every callable does one unit of work and, on CUDA, synchronises the device before it returns, so that a wall-clock
timer around it measures the work and not the kernel launches:

- ``inference``: ``model(x)`` under ``torch.inference_mode`` on a fixed batch ``x (batch, frames, h, w)`` float.
- ``train_step``: forward, BA+ triplet loss (``batch_all_triplet_tensor``, fp32), ``zero_grad``, backward and an Adam
  step on a fixed P×K batch, as the trainer's step does (the batch comes ready on the device: data loading is its own
  phase).
- ``evaluation``: ``gstsn.eval.embed.evaluate_model``: every test sequence embedded (packed batches, frames capped as
  the training profile says) and scored by the CASIA-B rank-1 protocol.
- ``data_loading``: one ``TripletSampler.next_batch()`` from the memory-mapped cache, the uint8 tensor moved to the
  device and converted by ``prepare_frames``.

Precision (``dtype``): ``fp32`` (TF32 off), ``tf32`` (TF32 on for matmuls and cuDNN convolutions) or ``bf16`` (autocast
on CUDA); the backend flags are set inside the callable and restored after it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from gstsn.models import build_model, prepare_frames
from gstsn.precision import autocast_to
from gstsn.timing.cases import Case
from gstsn.timing.flops import synchronize
from gstsn.timing.variants import TimingConfigError

DTYPES: tuple[str, ...] = ("fp32", "tf32", "bf16")
MATMUL_DTYPE = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16}


class PhaseUnavailable(RuntimeError):
    """A phase cannot run here (a device or a project module is missing); the message says which and why."""


def device_unavailable(device: str) -> str | None:
    """Why ``device`` cannot be timed here, or None when it can."""
    if device == "cuda" and not torch.cuda.is_available():
        return "no CUDA device is available on this machine (CUDA cases are measured where a GPU is present)"
    return None


def evaluation_unavailable() -> str | None:
    """Why the evaluation phase cannot run, or None: it needs ``gstsn.eval.embed.evaluate_model`` and
    ``gstsn.eval.protocol.evaluate_rank1``."""
    try:
        from gstsn.eval.embed import evaluate_model  # noqa: F401
        from gstsn.eval.protocol import evaluate_rank1  # noqa: F401
    except ImportError as exc:
        return f"the evaluation code is not available yet ({exc}); the evaluation phase is not measured"
    return None


def precision_unavailable(device: str, dtype: str) -> str | None:
    """Why ``dtype`` cannot be timed on ``device`` here (bf16 on a CPU without it in hardware), or None."""
    from gstsn.machine import BF16_CPU_FLAGS, cpu_has_bf16

    if device == "cpu" and dtype == "bf16" and not cpu_has_bf16():
        return (
            f"this CPU has no bf16 in hardware ({' / '.join(BF16_CPU_FLAGS)} absent): CPU bf16 is timed where the CPU "
            "has it"
        )
    return None


def skip_reason(case: Case) -> str | None:
    """Why ``case`` cannot run here (absent device, CPU bf16 without hardware support, evaluation code not available
    yet), or None."""
    reason = device_unavailable(case.device) or precision_unavailable(case.device, case.dtype)
    if reason is None and case.phase == "evaluation":
        reason = evaluation_unavailable()
    return reason


@contextlib.contextmanager
def precision(dtype: str, device: torch.device) -> Iterator[None]:
    """Run the block in ``dtype`` (``fp32`` / ``tf32`` / ``bf16``), restoring the TF32 flags afterwards."""
    if dtype not in DTYPES:
        raise TimingConfigError(f"precision {dtype!r} is unknown; expected one of {list(DTYPES)}")
    if dtype == "tf32" and device.type != "cuda":
        raise TimingConfigError("precision 'tf32' is timed on CUDA only; the CPU is timed in fp32 and bf16")
    with tf32(dtype == "tf32", device), autocast_to("bf16" if dtype == "bf16" else "fp32", device):
        yield


@contextlib.contextmanager
def tf32(enabled: bool, device: torch.device) -> Iterator[None]:
    """TF32 on or off for matmuls and cuDNN convolutions inside the block (CUDA; nothing elsewhere), restored
    afterwards."""
    if device.type != "cuda":
        yield
        return
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@dataclass
class Workload:
    """A timed callable and what the results row needs to describe it.

    ``fn()`` runs one unit of the phase (synchronised); ``model`` is the module it runs (None for data loading), for
    profiler scopes; ``height``×``width`` is the model input size after ``prepare_frames``.
    """

    case: Case
    fn: Callable[[], Any]
    device: torch.device
    height: int
    width: int
    model: nn.Module | None = None


def seeded_model(case: Case, device: torch.device, seed: int = 0) -> nn.Module:
    """The case's model (channels-last conv weights, as trained) on ``device``, its weights drawn from ``seed`` without
    touching the global RNG state."""
    cfg = case.run_config()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(cfg.model)
    return model.to(device)


def random_frames(batch: int, frames: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """uint8 silhouettes in {0, 1}, shape ``(batch, frames, height, width)``, from a seeded CPU generator."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, frames, height, width, generator=g) < 0.5).to(torch.uint8)


def _device(case: Case) -> torch.device:
    reason = device_unavailable(case.device)
    if reason:
        raise PhaseUnavailable(reason)
    return torch.device(case.device)


def inference_workload(case: Case, seed: int = 0) -> Workload:
    device = _device(case)
    cfg = case.run_config()
    model = seeded_model(case, device, seed).eval()
    x = prepare_frames(
        random_frames(case.batch, case.frames, cfg.input.height, cfg.input.width, seed).to(device), cfg.input
    )

    def fn() -> torch.Tensor:
        with torch.inference_mode(), precision(case.dtype, device):
            out = model(x)
        synchronize(device)
        return out

    return Workload(case, fn, device, *cfg.input.model_hw, model=model)


def train_step_workload(case: Case, seed: int = 0) -> Workload:
    from gstsn.train.loss import batch_all_triplet_tensor

    device = _device(case)
    cfg = case.run_config()
    tc = cfg.train
    model = seeded_model(case, device, seed).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=tc.lr)
    sils = random_frames(tc.batch_p * tc.batch_k, tc.frames, cfg.input.height, cfg.input.width, seed)
    x = prepare_frames(sils.to(device), cfg.input)
    labels = torch.arange(tc.batch_p, device=device).repeat_interleave(tc.batch_k)  # P subjects × K sequences

    def fn() -> torch.Tensor:
        with precision(case.dtype, device):
            emb = model(x)  # (P·K, parts, d)
        loss, stats = batch_all_triplet_tensor(emb.float(), labels, tc.margin)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        synchronize(device)
        return stats

    return Workload(case, fn, device, *cfg.input.model_hw, model=model)


def evaluation_workload(case: Case, dataset: Any, test_subjects: list[str], seed: int = 0) -> Workload:
    """``dataset``: the synthetic cache (:func:`gstsn.timing.synthetic.write_synthetic_cache`), opened."""
    reason = evaluation_unavailable()
    if reason:
        raise PhaseUnavailable(reason)
    from gstsn.eval.embed import evaluate_model

    device = _device(case)
    cfg = case.run_config()
    model = seeded_model(case, device, seed).eval()

    def fn() -> Any:
        # bf16: the run config's amp / cpu_precision autocasts the embedding (gstsn.precision), as in a real run
        with precision("fp32" if case.dtype == "bf16" else case.dtype, device):
            result, _ = evaluate_model(model, dataset, test_subjects, cfg, device)
        synchronize(device)
        return result

    return Workload(case, fn, device, *cfg.input.model_hw, model=model)


def data_loading_workload(case: Case, dataset: Any, train_subjects: list[str], seed: int = 0) -> Workload:
    from gstsn.data.sampling import TripletSampler

    device = _device(case)
    cfg = case.run_config()
    tc = cfg.train
    sampler = TripletSampler(
        dataset,
        subjects=train_subjects,
        p=tc.batch_p,
        k=tc.batch_k,
        frames=tc.frames,
        input_type=case.input_type,
        rng=np.random.default_rng(seed),
    )

    def fn() -> torch.Tensor:
        sils, labels = sampler.next_batch()  # uint8 (P·K, frames, H, W), int64 (P·K,)
        x = prepare_frames(torch.from_numpy(np.ascontiguousarray(sils)).to(device), cfg.input)
        torch.as_tensor(labels).to(device)
        synchronize(device)
        return x

    return Workload(case, fn, device, *cfg.input.model_hw, model=None)


def build_workload(case: Case, dataset: Any = None, subjects: tuple[list[str], list[str]] | None = None) -> Workload:
    """The workload of ``case``; ``dataset`` and ``subjects`` (train, test) are needed by evaluation and data loading.

    Raises :class:`PhaseUnavailable` with the reason when the case cannot run here.
    """
    if case.phase == "inference":
        return inference_workload(case)
    if case.phase == "train_step":
        return train_step_workload(case)
    if dataset is None or subjects is None:
        raise TimingConfigError(f"the {case.phase} phase needs the synthetic dataset and its subjects")
    if case.phase == "evaluation":
        return evaluation_workload(case, dataset, subjects[1])
    if case.phase == "data_loading":
        return data_loading_workload(case, dataset, subjects[0])
    raise TimingConfigError(f"timing phase {case.phase!r} is unknown")


__all__ = [
    "DTYPES",
    "MATMUL_DTYPE",
    "PhaseUnavailable",
    "Workload",
    "build_workload",
    "data_loading_workload",
    "device_unavailable",
    "evaluation_unavailable",
    "evaluation_workload",
    "inference_workload",
    "precision",
    "random_frames",
    "seeded_model",
    "precision_unavailable",
    "skip_reason",
    "tf32",
    "train_step_workload",
]
