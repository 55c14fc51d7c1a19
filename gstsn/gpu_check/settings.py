"""What the GPU check runs at, the real check and its dry run, and the reference figures it compares against."""

from __future__ import annotations

from typing import Any

PHASES: tuple[str, ...] = ("env", "tests", "matrix", "eval", "train")
DATA_SOURCE_LABEL = "casia-b:casia-b-sil-64x44.npz"  # the config's source field: the same in every call, for resume
FILE_LIMIT_BYTES = 16 * 2**20  # the most a returned file may hold

# The spec's plain reference on one H200 (shared/spec/models.md): GaitSet, no compile, no CUDA graphs.
REFERENCE_STEP_MS = {("fp32", False): 105.0, ("tf32", False): 56.0, ("bf16", False): 40.0, ("bf16", True): 33.5}
REFERENCE_PLAIN_MS = 33.5  # bf16 autocast + channels_last, the reference's fastest
REFERENCE_EVAL_S = 1.5
REFERENCE_CURVE = [  # training seconds, iterations, NM, BG, CL (bf16, no channels_last, 24.4 it/s)
    (63, 1475, 82.9, 70.9, 47.6),
    (125, 3011, 87.6, 75.6, 54.8),
    (188, 4550, 91.0, 79.2, 58.6),
    (250, 6093, 91.4, 81.4, 61.8),
]
PUBLISHED_GAITSET = {"NM": 95.0, "BG": 87.2, "CL": 70.4}
GOALS = {"gaitset_bf16_step_ms": 11.0, "gpu_busy_frac": 0.8, "lt_eval_s": 0.3, "nm_target": 91.4, "nm_within_s": 125.0}


class Sizes:
    """What each phase runs at; ``dry`` is the same code at tiny size on the CPU."""

    def __init__(self, dry: bool) -> None:
        self.dry = dry
        self.run_profile = "smoke" if dry else "paper"
        self.timing_profile = "tiny" if dry else "paper"
        self.dtypes = ("fp32",) if dry else ("bf16", "tf32", "fp32")
        self.compile_backend: str | bool = "eager" if dry else True  # dry: dynamo traces, no code generation
        self.warmup_steps = 2 if dry else 6  # > GraphedStep's 3 eager steps, so the capture happens in warm-up
        self.pairs = 2 if dry else 5
        self.round_s = 0.0 if dry else 0.25  # each timed round runs enough steps to take this long
        self.profile_steps = 2 if dry else 5
        self.eval_batch_frames = (64, 256) if dry else (4096, 16384, 65536)
        self.eval_repeats = 1 if dry else 2
        self.eval_interval_s = 0.0 if dry else 20.0  # periodic evaluation while training, in training seconds
        self.checkpoint_interval_s = 0.0 if dry else 60.0
        self.compile_estimate_s = 5.0 if dry else 60.0  # per model, before the first compile is measured
        self.allowance = {"tests": 100.0, "matrix": 170.0, "eval": 35.0} if not dry else {}
        self.reserve_s = 20.0 if not dry else 0.0
        self.train_overrides: dict[str, Any] = {"iterations": 6, "log_every": 1} if dry else {"log_every": 50}


__all__ = [
    "DATA_SOURCE_LABEL",
    "FILE_LIMIT_BYTES",
    "GOALS",
    "PHASES",
    "PUBLISHED_GAITSET",
    "REFERENCE_CURVE",
    "REFERENCE_EVAL_S",
    "REFERENCE_PLAIN_MS",
    "REFERENCE_STEP_MS",
    "Sizes",
]
