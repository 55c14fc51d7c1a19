"""The training area's configuration: data, training and evaluation, composed into :class:`RunConfig`."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gstsn.config.checks import ConfigError, check_int, check_positive_float, fail_field
from gstsn.config.hashing import config_from_dict, config_to_dict
from gstsn.config.model import InputConfig, ModelConfig, trunk_output_height
from gstsn.config.vocabulary import CPU_PRECISIONS, DISTANCES, INPUT_TYPES, LR_SCHEDULES


@dataclass(frozen=True)
class DataConfig:
    """Where the silhouettes come from.

    - ``source``: a data spec understood by ``gstsn.data.open_dataset`` (``synth`` = the procedural CASIA-B-like
      generator; or a cache directory / the real CASIA-B npz). On the command line: ``--data``.
    - ``split``: ``LT`` / ``MT`` / ``ST`` or a path to a split JSON (``TRAIN_SET`` / ``TEST_SET``).
    """

    source: str = "synth"
    split: str = "LT"

    def __post_init__(self) -> None:
        for name in ("source", "split"):
            v = getattr(self, name)
            if not isinstance(v, str) or not v.strip():
                fail_field("DataConfig", name, v, "a non-empty string")


@dataclass(frozen=True)
class TrainConfig:
    """The training loop: batch-all triplet loss (BA+), Adam, P×K batches.

    - ``input_type``: frame sampling, ``set`` (random unordered frames, GaitSet) or ``sequence`` (a contiguous ordered
      clip, looped when short).
    - ``batch_p`` × ``batch_k``: subjects per batch × sequences per subject; ``frames``: frames per sequence.
    - ``iterations``: optimizer steps in total (a resumed run continues up to this number).
    - ``lr``: Adam learning rate (constant, no schedule); ``margin``: BA+ margin.
    - ``amp``: bf16 autocast on CUDA (ignored on the CPU, see ``cpu_precision``).
    - ``cpu_precision``: the CPU's autocast precision for the forward passes of training and test embedding, ``fp32``
      (the default) or ``bf16`` (the loss stays fp32). ``gstsn ablations run`` and ``gstsn train`` choose ``bf16``
      where the CPU computes bf16 in hardware (``--precision auto``, :func:`gstsn.machine.cpu_has_bf16`). Hashed only
      when ``bf16``, so the run id names the precision and every fp32 run id from before the field is unchanged.
    - ``log_every``: one CSV row every this many iterations (every iteration's loss is still checked for NaN/inf).
    - ``checkpoint_every``: write a checkpoint every this many iterations (and at the end); ``keep_checkpoints``: how
      many of the newest to keep.
    - ``eval_every``: evaluate rank-1 on the test subjects every this many iterations (0 = only at the end), for
      time-to-accuracy curves.
    - ``prefetch``: batches drawn ahead by a background thread (0 = draw in the training thread).
    - ``lr_schedule``: ``constant`` (the spec's: Adam at ``lr`` throughout) or ``cosine`` (decay from ``lr`` to 0 over
      the iterations after the warm-up); ``warmup``: iterations of linear warm-up from ``lr / warmup`` to ``lr``
      (0 = none). The rate of every step is a function of its number (:func:`learning_rate`), so a resume needs no
      scheduler state.
    """

    input_type: str = "set"
    batch_p: int = 8
    batch_k: int = 16
    frames: int = 30
    iterations: int = 80_000
    lr: float = 1e-4
    lr_schedule: str = "constant"
    warmup: int = 0
    margin: float = 0.2
    amp: bool = True
    cpu_precision: str = "fp32"
    log_every: int = 10
    checkpoint_every: int = 1_000
    keep_checkpoints: int = 2
    eval_every: int = 0
    prefetch: int = 2

    def __post_init__(self) -> None:
        if self.input_type not in INPUT_TYPES:
            fail_field("TrainConfig", "input_type", self.input_type, f"one of {INPUT_TYPES}")
        check_int("TrainConfig", "batch_p", self.batch_p, 2)  # BA+ needs negatives
        check_int("TrainConfig", "batch_k", self.batch_k, 2)  # and positives
        for name in ("frames", "iterations", "log_every", "checkpoint_every", "keep_checkpoints"):
            check_int("TrainConfig", name, getattr(self, name), 1)
        for name in ("eval_every", "prefetch", "warmup"):
            check_int("TrainConfig", name, getattr(self, name), 0)
        if self.lr_schedule not in LR_SCHEDULES:
            fail_field("TrainConfig", "lr_schedule", self.lr_schedule, f"one of {LR_SCHEDULES}")
        if self.warmup >= self.iterations:
            fail_field("TrainConfig", "warmup", self.warmup, f"fewer iterations than iterations = {self.iterations}")
        check_positive_float("TrainConfig", "lr", self.lr)
        check_positive_float("TrainConfig", "margin", self.margin)
        object.__setattr__(self, "lr", float(self.lr))
        object.__setattr__(self, "margin", float(self.margin))
        if not isinstance(self.amp, bool):
            fail_field("TrainConfig", "amp", self.amp, "true or false")
        if self.cpu_precision not in CPU_PRECISIONS:
            fail_field("TrainConfig", "cpu_precision", self.cpu_precision, f"one of {CPU_PRECISIONS}")


def learning_rate(tc: TrainConfig, step: int) -> float:
    """The learning rate of optimizer step ``step`` (1-based) under ``tc``'s schedule and warm-up."""
    if tc.warmup and step <= tc.warmup:
        return tc.lr * step / tc.warmup
    if tc.lr_schedule == "cosine":
        progress = min(1.0, (step - tc.warmup) / max(1, tc.iterations - tc.warmup))
        return tc.lr * 0.5 * (1.0 + math.cos(math.pi * progress))
    return tc.lr


@dataclass(frozen=True)
class EvalConfig:
    """Test-time embedding and the rank-1 protocol.

    - ``distance``: ``per_part`` (OpenGait, the default) or ``flat`` (GaitSet's original code).
    - ``max_test_frames``: cap on the frames embedded per test sequence (a centred contiguous clip, in order);
      ``None`` = every frame (the protocol). CPU profiles cap it to budget the evaluation.
    - ``eval_batch_frames``: frames per embedding forward (whole sequences are packed up to this budget; results do not
      depend on it).
    """

    distance: str = "per_part"
    max_test_frames: int | None = None
    eval_batch_frames: int = 4096

    def __post_init__(self) -> None:
        if self.distance not in DISTANCES:
            fail_field("EvalConfig", "distance", self.distance, f"one of {DISTANCES}")
        if self.max_test_frames is not None:
            check_int("EvalConfig", "max_test_frames", self.max_test_frames, 1)
        check_int("EvalConfig", "eval_batch_frames", self.eval_batch_frames, 1)


@dataclass(frozen=True)
class RunConfig:
    """One training run: every sub-config plus the seed. Its :func:`config_hash` identifies the run.

    Field names are unique across the sub-configs, so a flat ``name=value`` override (CLI, ablation TOML,
    :func:`resolve_profile`) reaches exactly one field.
    """

    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    input: InputConfig = dataclasses.field(default_factory=InputConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        for name, cls in RUN_SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                fail_field("RunConfig", name, getattr(self, name), f"a {cls.__name__}")
        check_int("RunConfig", "seed", self.seed, 0)
        h, w = self.input.model_hw
        if h < 4 or w < 4:
            allowed = f"a factor leaving at least 4×4 pixels, got {h}×{w}"
            fail_field("InputConfig", "downsample", self.input.downsample, allowed)
        final_h = trunk_output_height(self.input)
        bad = [b for b in self.model.hpm_bins if final_h % b]
        if bad:
            fail_field(
                "ModelConfig",
                "hpm_bins",
                self.model.hpm_bins,
                f"bins dividing the final feature-map height {final_h} (input {h}×{w} after two 2×2 pools); "
                f"not dividing: {bad}",
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "") -> RunConfig:
        """Inverse of :func:`config_to_dict` (unknown keys are rejected, naming the valid ones)."""
        names = list(RUN_SECTIONS) + ["seed"]
        unknown = sorted(set(data) - set(names))
        if unknown:
            loc = f" in {where}" if where else ""
            raise ConfigError(f"unknown key(s) {unknown}{loc} for RunConfig; valid keys: {names}")
        parts = {
            name: config_from_dict(sub, data[name], f"{where}.{name}" if where else name)
            for name, sub in RUN_SECTIONS.items()
            if name in data
        }
        return cls(**parts, **({"seed": data["seed"]} if "seed" in data else {}))

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RunConfig:
        """The config of a results row (inverse of :meth:`flat`): each field from its own column, other keys ignored;
        a field the row lacks (written before the field existed) takes its default, as its run id assumed."""
        parts = {
            name: config_from_dict(sub, {f.name: row[f.name] for f in dataclasses.fields(sub) if f.name in row}, name)
            for name, sub in RUN_SECTIONS.items()
        }
        return cls(**parts, seed=int(row["seed"]))

    def flat(self) -> dict[str, Any]:
        """Every field by its own name (``temporal``, ``input_type``, ``lr``, ..., ``seed``): results-row columns."""
        out: dict[str, Any] = {}
        for name in RUN_SECTIONS:
            out.update(config_to_dict(getattr(self, name)))
        out["seed"] = self.seed
        return out


RUN_SECTIONS: dict[str, type] = {
    "model": ModelConfig,
    "input": InputConfig,
    "data": DataConfig,
    "train": TrainConfig,
    "eval": EvalConfig,
}


def _field_owners() -> dict[str, str]:
    owners: dict[str, str] = {}
    for section, cls in RUN_SECTIONS.items():
        for f in dataclasses.fields(cls):
            if f.name in owners or f.name == "seed":
                raise RuntimeError(f"config field name {f.name!r} is declared twice ({owners.get(f.name)}, {section})")
            owners[f.name] = section
    return owners


FIELD_SECTIONS: dict[str, str] = _field_owners()  # field name -> RunConfig section ("seed" is RunConfig's own)


__all__ = [
    "DataConfig",
    "EvalConfig",
    "FIELD_SECTIONS",
    "RUN_SECTIONS",
    "RunConfig",
    "TrainConfig",
    "learning_rate",
]
