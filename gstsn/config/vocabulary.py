"""The names every layer shares (data, models, evaluation, results, report), declared once: the choices of the
ablation axes, the distances, the CASIA-B conditions and views, and the model names (from the model family's registry,
:mod:`gstsn.config.registry`, which also lists the IDR statistics and the temporal modules)."""

from __future__ import annotations

from gstsn.config.registry import MODEL_FAMILY, FamilyMember, family_member

LSTM_LAYER_CHOICES = (0, 1, 2)
INPUT_TYPES = ("set", "sequence")
LR_SCHEDULES = ("constant", "cosine")
CPU_PRECISIONS = ("fp32", "bf16")  # TrainConfig.cpu_precision: the CPU's autocast precision (docs/training.md)
DISTANCES = ("per_part", "flat")
#: the config fields whose values are a closed list: the CLI offers them as choices, and the timing suite times each
#: value of those a temporal module reads
FIELD_CHOICES: dict[str, tuple] = {
    "input_type": INPUT_TYPES,
    "distance": DISTANCES,
    "lstm_layers": LSTM_LAYER_CHOICES,
    "lr_schedule": LR_SCHEDULES,
}
# The CASIA-B vocabulary every layer shares (data, evaluation, results, report), declared once here:
CONDITIONS = ("NM", "BG", "CL")  # the probe sets (walking conditions), in the protocol's order
VIEWS = tuple(f"{a:03d}" for a in range(0, 181, 18))  # the 11 view angles 000..180, 18° apart
#: the model family's registry as name -> ``ModelConfig.temporal`` (:data:`gstsn.config.registry.MODEL_FAMILY`)
MODEL_TEMPORAL = {m.name: m.temporal for m in MODEL_FAMILY if isinstance(m, FamilyMember)}
MODEL_NAMES = tuple(MODEL_TEMPORAL)  # the learned models, in display order


def model_name(temporal: bool) -> str:
    """The registry name of the family member with ``ModelConfig.temporal = temporal``."""
    return family_member({"temporal": temporal}).name


__all__ = [
    "CONDITIONS",
    "CPU_PRECISIONS",
    "DISTANCES",
    "FIELD_CHOICES",
    "INPUT_TYPES",
    "LR_SCHEDULES",
    "LSTM_LAYER_CHOICES",
    "MODEL_NAMES",
    "MODEL_TEMPORAL",
    "VIEWS",
    "model_name",
]
