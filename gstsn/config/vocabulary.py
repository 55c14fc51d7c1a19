"""The names every layer shares (data, models, evaluation, results, report), declared once: the choices of the
ablation axes, the distances, the CASIA-B conditions and views, the model registry and the order of the studies."""

from __future__ import annotations

IDR_STATS = ("median", "max", "min", "mean")
LSTM_LAYER_CHOICES = (0, 1, 2)
INPUT_TYPES = ("set", "sequence")
LR_SCHEDULES = ("constant", "cosine")
CPU_PRECISIONS = ("fp32", "bf16")  # TrainConfig.cpu_precision: the CPU's autocast precision (docs/training.md)
DISTANCES = ("per_part", "flat")
# The CASIA-B vocabulary every layer shares (data, evaluation, results, report), declared once here:
CONDITIONS = ("NM", "BG", "CL")  # the probe sets (walking conditions), in the protocol's order
VIEWS = tuple(f"{a:03d}" for a in range(0, 181, 18))  # the 11 view angles 000..180, 18° apart
MODEL_TEMPORAL = {"gaitset": False, "gstsn": True}  # the model registry: name -> ModelConfig.temporal (one family)
MODEL_NAMES = tuple(MODEL_TEMPORAL)  # the learned models, in display order


def model_name(temporal: bool) -> str:
    """The registry name of the family member with ``ModelConfig.temporal = temporal``."""
    return next(name for name, flag in MODEL_TEMPORAL.items() if flag is bool(temporal))


__all__ = [
    "CONDITIONS",
    "CPU_PRECISIONS",
    "DISTANCES",
    "IDR_STATS",
    "INPUT_TYPES",
    "LR_SCHEDULES",
    "LSTM_LAYER_CHOICES",
    "MODEL_NAMES",
    "MODEL_TEMPORAL",
    "VIEWS",
    "model_name",
]
