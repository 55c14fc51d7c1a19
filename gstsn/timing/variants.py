"""The model variants the timing suite compares: GaitSet and GSTSN for each ablation axis value that changes cost,
read from the component registries (:mod:`gstsn.config.registry`).

- GaitSet (``temporal=False``): the baseline.
- GSTSN at the paper's setting (the ``ModelConfig`` defaults: median IDR, the 2-layer LSTM): the headline comparison.
- GSTSN for each other registered IDR statistic, and for the sums the ``idr_statistic`` study tries
  (:data:`IDR_SUMS`), with the paper's temporal module.
- GSTSN for each registered temporal module (median IDR), at each value of the fields it reads that has a closed
  list of choices (the LSTM at 0, 1 and 2 layers); a module marked ``timed=False`` times the same computation as
  another variant and is left out.

A variant's id is the registry's :func:`~gstsn.config.registry.timing_id` (``gaitset``, ``gstsn-median-L2``,
``gstsn-median-tconv``). ``input_type`` (``set`` / ``sequence``) changes only which frames the sampler draws, never
the shapes the models see, so it is a variant of the data-loading phase only (see ``gstsn.timing.cases``).
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Any

from gstsn.config import FIELD_CHOICES, ModelConfig, model_name
from gstsn.config.registry import IDR_STATISTICS, TEMPORAL_MODULES, model_reads, timing_id

IDR_SUMS = ("max+median",)  # IDR sums timed besides the single statistics


class TimingConfigError(ValueError):
    """A timing profile, variant, phase, device or precision name is unknown or invalid; the message lists the valid
    choices."""


@dataclass(frozen=True)
class Variant:
    """One member of the model family: the ``ModelConfig`` fields that tell the variants apart (the others come from
    the timing profile), named by its timing id."""

    temporal: bool
    idr_stat: str = ModelConfig.idr_stat  # the model's own defaults (the paper's setting)
    lstm_layers: int = ModelConfig.lstm_layers
    temporal_module: str = ModelConfig.temporal_module

    def __post_init__(self) -> None:
        _ = self.config  # validates

    @property
    def config(self) -> ModelConfig:
        return ModelConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)})

    @property
    def model(self) -> str:
        """``gaitset`` or ``gstsn`` (the ``model`` column of ``timing.csv``; :func:`gstsn.config.model_name`)."""
        return model_name(self.temporal)

    @property
    def id(self) -> str:
        return timing_id(self.config)

    def overrides(self) -> dict[str, Any]:
        """``resolve_profile`` field overrides selecting this variant: the fields its model reads."""
        reads = model_reads(self.config)
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name in reads}

    def columns(self) -> dict[str, Any]:
        """The variant's ``timing.csv`` columns: ``model`` and :data:`VARIANT_FIELDS`, each empty (None) where the
        model does not read it (GSTSN-only fields for GaitSet, ``lstm_layers`` for another temporal module)."""
        reads = model_reads(self.config)
        fields = {f: getattr(self, f) if f in reads else None for f in VARIANT_FIELDS}
        return {"model": self.model, **fields}


VARIANT_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Variant))


def _module_variants(module: str) -> list[Variant]:
    """The variants of one temporal module: each combination of the closed choices of the fields it reads."""
    reads = [f for f in TEMPORAL_MODULES[module].reads if f in FIELD_CHOICES and f in VARIANT_FIELDS]
    combos = itertools.product(*(FIELD_CHOICES[f] for f in reads))
    return [Variant(True, temporal_module=module, **dict(zip(reads, c, strict=True))) for c in combos]


GAITSET = Variant(temporal=False)
GSTSN_PAPER = Variant(temporal=True)
_IDR = [Variant(True, stat) for stat in (*IDR_STATISTICS.names, *IDR_SUMS)]
_MODULES = [v for m in TEMPORAL_MODULES if m.timed for v in _module_variants(m.name)]
VARIANTS: tuple[Variant, ...] = tuple(dict.fromkeys([GAITSET, GSTSN_PAPER, *_IDR, *_MODULES]))
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
    "IDR_SUMS",
    "TimingConfigError",
    "VARIANTS",
    "VARIANT_FIELDS",
    "VARIANT_IDS",
    "Variant",
    "select_variants",
    "variant_by_id",
]
