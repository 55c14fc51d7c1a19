"""The model variants the timing suite compares: GaitSet and GSTSN for each ablation axis value that changes cost.

- GaitSet (``temporal=False``): the baseline.
- GSTSN at the paper's setting (``idr_stat="median"``, ``lstm_layers=2``): the headline comparison.
- GSTSN for each other IDR statistic (``max``, ``min``, ``mean``, ``max+median``) with 2 LSTM layers.
- GSTSN with 0 and 1 LSTM layers (median IDR).

``input_type`` (``set`` / ``sequence``) changes only which frames the sampler draws, never the shapes the models see,
so it is a variant of the data-loading phase only (see ``gstsn.timing.cases``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gstsn.config import ModelConfig, model_name


class TimingConfigError(ValueError):
    """A timing profile, variant, phase, device or precision name is unknown or invalid; the message lists the valid
    choices."""


@dataclass(frozen=True)
class Variant:
    """One member of the model family, named by a readable id (``gaitset``, ``gstsn-median-L2``, ...)."""

    temporal: bool
    idr_stat: str = ModelConfig.idr_stat  # the model's own defaults (the paper's setting)
    lstm_layers: int = ModelConfig.lstm_layers

    def __post_init__(self) -> None:
        ModelConfig(temporal=self.temporal, idr_stat=self.idr_stat, lstm_layers=self.lstm_layers)  # validates

    @property
    def model(self) -> str:
        """``gaitset`` or ``gstsn`` (the ``model`` column of ``timing.csv``; :func:`gstsn.config.model_name`)."""
        return model_name(self.temporal)

    @property
    def id(self) -> str:
        return f"gstsn-{self.idr_stat}-L{self.lstm_layers}" if self.temporal else "gaitset"

    def overrides(self) -> dict[str, Any]:
        """``resolve_profile`` field overrides selecting this variant."""
        if not self.temporal:
            return {"temporal": False}
        return {"temporal": True, "idr_stat": self.idr_stat, "lstm_layers": self.lstm_layers}

    def columns(self) -> dict[str, Any]:
        """The variant's ``timing.csv`` columns; GSTSN-only fields are empty (None) for GaitSet."""
        return {
            "model": self.model,
            "temporal": self.temporal,
            "idr_stat": self.idr_stat if self.temporal else None,
            "lstm_layers": self.lstm_layers if self.temporal else None,
        }


GAITSET = Variant(temporal=False)
GSTSN_PAPER = Variant(temporal=True, idr_stat="median", lstm_layers=2)
VARIANTS: tuple[Variant, ...] = (
    GAITSET,
    GSTSN_PAPER,
    Variant(True, "max", 2),
    Variant(True, "min", 2),
    Variant(True, "mean", 2),
    Variant(True, "max+median", 2),
    Variant(True, "median", 0),
    Variant(True, "median", 1),
)
VARIANT_IDS: tuple[str, ...] = tuple(v.id for v in VARIANTS)


def variant_by_id(variant_id: str) -> Variant:
    """The variant named ``variant_id``; raises :class:`TimingConfigError` listing the known ids."""
    for v in VARIANTS:
        if v.id == variant_id:
            return v
    raise TimingConfigError(f"unknown timing variant {variant_id!r}; known variants: {list(VARIANT_IDS)}")


def select_variants(spec: str | None) -> tuple[Variant, ...]:
    """Variants from a comma-separated list of ids (``None``, ``""`` or ``"all"``: every variant), in suite order.

    GaitSet and the paper's GSTSN are always included: every ratio in the verdict needs both.
    """
    if spec is None or spec.strip() in ("", "all"):
        return VARIANTS
    wanted = {variant_by_id(s.strip()).id for s in spec.split(",") if s.strip()}
    wanted |= {GAITSET.id, GSTSN_PAPER.id}
    return tuple(v for v in VARIANTS if v.id in wanted)


__all__ = [
    "GAITSET",
    "GSTSN_PAPER",
    "TimingConfigError",
    "VARIANTS",
    "VARIANT_IDS",
    "Variant",
    "select_variants",
    "variant_by_id",
]
