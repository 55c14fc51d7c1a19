"""Timing profiles: the shapes, repeat counts and synthetic data sizes of one timing run.

A timing profile names a training profile of ``gstsn.config.PROFILES`` (model widths, input size, HPM bins, learning
rate, evaluation caps) and sets the timed shapes and repeats on top of it:

- ``tiny``: the ``smoke`` model at a few frames; seconds. For the suite's own test, never for numbers.
- ``cpu``: the ``quick`` model (channels 16/32/64, 32×22 input, HPM bins 1/2/4/8) the CPU ablation runs train, with a
  P×K = 8×4 batch of 16 frames (half the ``quick`` batch, so that the whole suite fits in ≤10 minutes on 2 cores).
- ``paper``: the paper's model at 64×44 with P×K = 8×16 batches of 30 frames, plus 60- and 90-frame (about a whole
  CASIA-B sequence) inference shapes; for a GPU.

``auto`` (the default) picks ``cpu`` for the CPU and ``paper`` for CUDA.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gstsn.timing.variants import TimingConfigError

PHASES: tuple[str, ...] = ("inference", "train_step", "evaluation", "data_loading")
PROFILE_NAMES: tuple[str, ...] = ("tiny", "cpu", "paper")


@dataclass(frozen=True)
class Repeats:
    """Untimed warm-up calls, timed rounds of the benchmark, and GSTSN/GaitSet pairs of the paired ratio (0: none)."""

    warmup: int
    rounds: int
    pairs: int

    def __post_init__(self) -> None:
        for name in ("warmup", "rounds", "pairs"):
            v = getattr(self, name)
            low = 1 if name == "rounds" else 0
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise TimingConfigError(f"Repeats.{name} = {v!r} is invalid; expected an integer ≥ {low}")


@dataclass(frozen=True)
class TimingProfile:
    """One timing run's sizes (see the module docstring).

    - ``run_profile``: the ``gstsn.config`` training profile the models, input size and evaluation caps come from.
    - ``batch_p`` × ``batch_k`` sequences of ``frames`` frames: the training-step batch, also the main inference shape.
    - ``extra_inference``: more ``(batch, frames)`` inference shapes, timed for GaitSet and the paper's GSTSN only.
    - ``train_subjects``, ``test_subjects``: synthetic subjects (each with the full CASIA-B grid of 110 sequences) for
      data loading and for the full-test-set evaluation; sequence lengths are drawn from ``train_lengths`` /
      ``test_lengths`` (inclusive ranges).
    - ``repeats``: per phase.
    - ``profiler_warmup``, ``profiler_active``: ``torch.profiler`` schedule of the training-step traces.
    - ``matmul_size``: side of the square matmul whose GFLOP/s is the same-run "peak".
    - ``variants``: variant ids timed (``None``: all).
    """

    name: str
    run_profile: str
    batch_p: int
    batch_k: int
    frames: int
    extra_inference: tuple[tuple[int, int], ...]
    train_subjects: int
    test_subjects: int
    train_lengths: tuple[int, int]
    test_lengths: tuple[int, int]
    repeats: dict[str, Repeats] = field(default_factory=dict)
    profiler_warmup: int = 1
    profiler_active: int = 3
    matmul_size: int = 1024
    variants: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        missing = [p for p in PHASES if p not in self.repeats]
        if missing:
            raise TimingConfigError(f"TimingProfile {self.name!r}: repeats lack the phase(s) {missing}")
        if self.train_subjects < self.batch_p:
            raise TimingConfigError(
                f"TimingProfile {self.name!r}: train_subjects = {self.train_subjects} < batch_p = {self.batch_p}"
            )
        for name in ("train_lengths", "test_lengths"):
            lo, hi = getattr(self, name)
            if not 1 <= lo <= hi:
                raise TimingConfigError(f"TimingProfile {self.name!r}: {name} = {(lo, hi)} must satisfy 1 ≤ low ≤ high")

    @property
    def batch(self) -> int:
        return self.batch_p * self.batch_k


PROFILES: dict[str, TimingProfile] = {
    "tiny": TimingProfile(
        name="tiny",
        run_profile="smoke",
        batch_p=4,
        batch_k=2,
        frames=4,
        extra_inference=((4, 8),),
        train_subjects=4,
        test_subjects=2,
        train_lengths=(5, 10),
        test_lengths=(5, 8),
        repeats={
            "inference": Repeats(1, 3, 3),
            "train_step": Repeats(1, 3, 3),
            "evaluation": Repeats(1, 2, 2),
            "data_loading": Repeats(1, 3, 0),
        },
        profiler_warmup=1,
        profiler_active=2,
        matmul_size=256,
        variants=("gaitset", "gstsn-median-L2"),
    ),
    "cpu": TimingProfile(
        name="cpu",
        run_profile="quick",
        batch_p=8,
        batch_k=4,
        frames=16,
        extra_inference=((32, 32),),
        train_subjects=8,
        test_subjects=2,
        train_lengths=(20, 60),
        test_lengths=(10, 14),
        repeats={
            "inference": Repeats(1, 7, 10),
            "train_step": Repeats(2, 7, 10),
            "evaluation": Repeats(1, 3, 5),
            "data_loading": Repeats(2, 20, 0),
        },
        profiler_warmup=1,
        profiler_active=3,
        matmul_size=1024,
    ),
    "paper": TimingProfile(
        name="paper",
        run_profile="paper",
        batch_p=8,
        batch_k=16,
        frames=30,
        extra_inference=((128, 60), (128, 90)),
        train_subjects=16,
        test_subjects=10,
        train_lengths=(60, 110),
        test_lengths=(60, 110),
        repeats={
            "inference": Repeats(3, 20, 20),
            "train_step": Repeats(5, 20, 20),
            "evaluation": Repeats(1, 5, 5),
            "data_loading": Repeats(3, 20, 0),
        },
        profiler_warmup=2,
        profiler_active=5,
        matmul_size=8192,
    ),
}


def resolve_timing_profile(name: str, device_type: str) -> TimingProfile:
    """The profile ``name`` (``auto``: ``cpu`` on the CPU, ``paper`` on CUDA); raises naming the valid choices."""
    if name == "auto":
        name = "paper" if device_type == "cuda" else "cpu"
    if name not in PROFILES:
        raise TimingConfigError(f"timing profile {name!r} is unknown; expected one of {['auto', *PROFILE_NAMES]}")
    return PROFILES[name]


__all__ = ["PHASES", "PROFILES", "PROFILE_NAMES", "Repeats", "TimingProfile", "resolve_timing_profile"]
