"""Human labels for config fields, timing variants and shapes, shared by the tables and the figures."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from gstsn.config.registry import FIELD_REGISTRIES, MODEL_FAMILY, model_label

#: the report's label of each config field (gstsn.config), by field name
FIELD_LABELS: dict[str, str] = {
    "temporal": "temporal branch (GSTSN)",
    "idr_stat": "IDR statistic",
    "temporal_module": "temporal module",
    "lstm_layers": "LSTM layers",
    "channels": "channel widths",
    "hpm_bins": "HPM bins",
    "embed_dim": "embedding size",
    "input_type": "input type",
    "source": "data source",
    "split": "split",
    "batch_p": "subjects per batch (P)",
    "batch_k": "sequences per subject (K)",
    "frames": "frames per training sequence",
    "iterations": "iterations",
    "lr": "learning rate",
    "margin": "triplet margin",
    "distance": "distance",
    "max_test_frames": "test frames per sequence (cap)",
    "downsample": "input downsampling",
    "seed": "seed",
}
_EXTRA_LABELS = {
    "identity_cue": "identity cue (synthetic: body shape ↔ motion)",
    "method": "method",
    "profile": "profile",
}
METHOD_NAMES = {**{m.name: m.label for m in MODEL_FAMILY}, "gei": "GEI (non-learned)"}


def field_label(name: str) -> str:
    """The report's label of a config field (:data:`FIELD_LABELS`), falling back to the field name."""
    return FIELD_LABELS.get(name) or _EXTRA_LABELS.get(name) or name


def show(value: Any) -> str:
    """A config value in words: booleans as true/false, lists in brackets, integral floats without ``.0``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def value_label(name: str, value: Any, fields: Mapping[str, Any] | None = None) -> str:
    """A config value in words (:func:`show`), followed by its registered component's label where that says more
    than the name (``tconv (temporal conv)``, ``lstm (LSTM×2)`` with ``fields`` giving the other config values)."""
    text = show(value)
    registry = FIELD_REGISTRIES.get(name)
    if registry is None or value not in registry:
        return text
    label = registry[value].label_for({**(fields or {}), name: value}, show)
    return f"{text} ({label})" if label and label != text else text


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true") or value == 1


def variant_label(row: dict[str, Any]) -> str:
    """A timing row's model variant: ``GaitSet`` or ``GSTSN median, LSTM×2`` (:func:`gstsn.config.registry.model_label`,
    plus ``, sequence`` input)."""
    model = str(row.get("model") or "")
    if model.lower() not in METHOD_NAMES and isinstance(row.get("variant"), str) and row["variant"]:
        return row["variant"]  # a model-independent row such as data loading ("data-set", "data-sequence")
    temporal = row.get("temporal")
    is_gstsn = model.lower() == "gstsn" or (temporal is not None and _is_true(temporal) and model.lower() != "gaitset")
    if not is_gstsn:
        name = METHOD_NAMES.get(model.lower(), model or "model?")
    else:
        name = model_label({**row, "temporal": True}, show)
    input_type = row.get("input_type")
    if isinstance(input_type, str) and input_type and input_type != "set":
        name += f", {input_type}"
    return name


def shape_label(row: dict[str, Any]) -> str:
    """``batch 16 × 30 frames @ 32×22`` from a timing row's shape columns (missing parts left out)."""
    out = f"batch {show(row.get('batch'))} × {show(row.get('frames'))} frames"
    if row.get("height") is not None and row.get("width") is not None:
        out += f" @ {show(row.get('height'))}×{show(row.get('width'))}"
    return out


def mpl_text(text: str) -> str:
    """Text safe for matplotlib (a ``$`` would start mathtext and can fail on arbitrary labels)."""
    return str(text).replace("$", r"\$")


def wrap_cell(label: str) -> str:
    """A cell label broken at commas for tick labels (``a=1, b=2`` → two lines)."""
    return "\n".join(part.strip() for part in str(label).split(","))
