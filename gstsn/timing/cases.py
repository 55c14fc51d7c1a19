"""The timing suite's cases: phase × variant × device × precision × shape, each with a readable id.

The CPU is timed in ``fp32`` and ``bf16`` (autocast; the loss in fp32), the bf16 cases skipped with a reason where the
CPU has no bf16 in hardware (:func:`gstsn.machine.cpu_has_bf16`). CUDA is timed in ``fp32`` (TF32 off), ``tf32`` (TF32
matmuls and convolutions) and ``bf16`` (autocast; the loss in fp32). CUDA cases are always generated and skipped with
a reason where no GPU is present, so a CPU run's report shows what was not measured.

- ``inference`` / ``train_step`` / ``evaluation``: one case per variant at the profile's main shape; inference also at
  each of ``extra_inference``'s shapes for GaitSet and the paper's GSTSN.
- ``data_loading``: model-independent; one case per ``input_type`` (the only phase where it changes cost), fp32 only.
- paired ratios (:func:`enumerate_pairs`): GSTSN (paper setting) against GaitSet, per model phase, device, precision;
  and on the CPU each of the two models in bf16 against itself in fp32 (inference and training step), the same-run
  bf16 ÷ fp32 ratio that says what ``--precision auto`` buys where the CPU has bf16 (skipped with the reason elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass

from gstsn.config import INPUT_TYPES, resolve_profile
from gstsn.timing.profiles import PHASES, TimingProfile, resolve_timing_profile
from gstsn.timing.synthetic import evaluation_set_shape
from gstsn.timing.variants import GAITSET, GSTSN_PAPER, TimingConfigError, Variant, select_variants

DEVICES: tuple[str, ...] = ("cpu", "cuda")
DTYPES_BY_DEVICE: dict[str, tuple[str, ...]] = {"cpu": ("fp32", "bf16"), "cuda": ("fp32", "tf32", "bf16")}
MODEL_PHASES: tuple[str, ...] = ("inference", "train_step", "evaluation")
#: where a model is also paired with itself, bf16 against fp32: the CPU phases whose time CPU bf16 autocast changes in
#: every training run (evaluation embeds under the same autocast; its time is dominated by the same forward pass)
PRECISION_PAIR_DEVICES: tuple[str, ...] = ("cpu",)
PRECISION_PAIR_PHASES: tuple[str, ...] = ("inference", "train_step")


@dataclass(frozen=True)
class Case:
    """One timed configuration. ``variant`` is None for data loading (it does not depend on the model).

    ``batch`` × ``frames``: sequences per call × frames per sequence; for the evaluation phase, the number of test
    sequences × their mean length after the profile's frame cap.
    """

    phase: str
    device: str
    dtype: str
    profile: TimingProfile
    variant: Variant | None
    input_type: str
    batch: int
    frames: int

    @property
    def id(self) -> str:
        what = self.variant.id if self.variant is not None else f"data-{self.input_type}"
        return f"{what}-{self.device}-{self.dtype}-{self.batch}x{self.frames}"

    @property
    def label(self) -> str:
        """Variant, device and precision: the name of a profiler trace folder and of ``top_ops.csv``'s rows."""
        what = self.variant.id if self.variant is not None else f"data-{self.input_type}"
        return f"{what}-{self.device}-{self.dtype}"

    def run_config(self):
        """The resolved :class:`gstsn.config.RunConfig` of this case (model, input, training and evaluation sizes)."""
        overrides = self.variant.overrides() if self.variant is not None else {}
        return resolve_profile(
            self.profile.run_profile,
            **overrides,
            input_type=self.input_type,
            batch_p=self.profile.batch_p,
            batch_k=self.profile.batch_k,
            frames=self.profile.frames,
            amp=self.dtype == "bf16",
            cpu_precision="bf16" if self.dtype == "bf16" else "fp32",
        )


@dataclass(frozen=True)
class Pair:
    """A paired comparison of ``b`` against ``a``, same phase, device and shape: ``kind`` "models" is GSTSN (``b``)
    against GaitSet (``a``) in one precision; ``kind`` "precision" is one model in bf16 (``b``) against fp32 (``a``)."""

    a: Case
    b: Case

    @property
    def phase(self) -> str:
        return self.b.phase

    @property
    def kind(self) -> str:
        return "precision" if self.a.variant == self.b.variant else "models"

    @property
    def id(self) -> str:
        if self.kind == "precision":
            return f"{self.b.phase}-{self.b.variant.id}-{self.b.device}-{self.b.dtype}-vs-{self.a.dtype}"
        return f"{self.b.phase}-{self.b.variant.id}-vs-{self.a.variant.id}-{self.b.device}-{self.b.dtype}"


def _devices(devices: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    items = tuple(d.strip() for d in devices.split(",")) if isinstance(devices, str) else tuple(devices)
    bad = [d for d in items if d not in DEVICES]
    if bad or not items:
        raise TimingConfigError(f"timing devices {list(items)} are invalid; expected a subset of {list(DEVICES)}")
    return items


def _profile_variants(profile: TimingProfile, variant_spec: str | None) -> tuple[Variant, ...]:
    chosen = select_variants(variant_spec)
    if profile.variants is None:
        return chosen
    return tuple(v for v in chosen if v.id in profile.variants)


def _model_case(phase: str, device: str, dtype: str, profile: TimingProfile, v: Variant, batch: int, frames: int):
    return Case(phase, device, dtype, profile, v, "set", batch, frames)


def enumerate_cases(
    phase: str, profile_name: str = "auto", devices: str | tuple[str, ...] = DEVICES, variants: str | None = None
) -> list[Case]:
    """Every case of ``phase`` for the given timing profile, devices and variant selection (see the module doc)."""
    if phase not in PHASES:
        raise TimingConfigError(f"timing phase {phase!r} is unknown; expected one of {list(PHASES)}")
    cases: list[Case] = []
    for device in _devices(devices):
        profile = resolve_timing_profile(profile_name, device)
        if phase == "data_loading":
            cases += [Case(phase, device, "fp32", profile, None, t, profile.batch, profile.frames) for t in INPUT_TYPES]
            continue
        chosen = _profile_variants(profile, variants)
        for dtype in DTYPES_BY_DEVICE[device]:
            if phase == "evaluation":
                cap = resolve_profile(profile.run_profile).eval.max_test_frames
                n, frames = evaluation_set_shape(profile, cap)
                cases += [_model_case(phase, device, dtype, profile, v, n, frames) for v in chosen]
                continue
            cases += [_model_case(phase, device, dtype, profile, v, profile.batch, profile.frames) for v in chosen]
            if phase == "inference":
                for batch, frames in profile.extra_inference:
                    cases += [
                        _model_case(phase, device, dtype, profile, v, batch, frames) for v in (GAITSET, GSTSN_PAPER)
                    ]
    return cases


def enumerate_pairs(profile_name: str = "auto", devices: str | tuple[str, ...] = DEVICES) -> list[Pair]:
    """GSTSN (paper setting) vs GaitSet at each model phase's main shape, where the profile asks for pairs; then, on
    the devices and phases of ``PRECISION_PAIR_*``, GaitSet and GSTSN each in bf16 vs fp32 at the same shape."""
    pairs: list[Pair] = []
    for phase in MODEL_PHASES:
        for device in _devices(devices):
            profile = resolve_timing_profile(profile_name, device)
            if profile.repeats[phase].pairs == 0:
                continue
            cases = enumerate_cases(phase, profile_name, (device,), variants=None)
            main: dict[tuple[str, str], Case] = {}
            for c in cases:  # the first case of each variant is at the main shape
                if c.variant in (GAITSET, GSTSN_PAPER):
                    main.setdefault((c.dtype, c.variant.id), c)
            for dtype in DTYPES_BY_DEVICE[device]:
                pairs.append(Pair(main[(dtype, GAITSET.id)], main[(dtype, GSTSN_PAPER.id)]))
            if device in PRECISION_PAIR_DEVICES and phase in PRECISION_PAIR_PHASES:
                pairs += [Pair(main[("fp32", v.id)], main[("bf16", v.id)]) for v in (GAITSET, GSTSN_PAPER)]
    return pairs


__all__ = [
    "Case",
    "DEVICES",
    "DTYPES_BY_DEVICE",
    "MODEL_PHASES",
    "PRECISION_PAIR_DEVICES",
    "PRECISION_PAIR_PHASES",
    "Pair",
    "enumerate_cases",
    "enumerate_pairs",
]
