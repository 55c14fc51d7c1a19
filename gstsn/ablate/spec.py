"""What a study expands into: its runs (:class:`RunSpec`: a method, a resolved config, a seed, a stable id), its cells
and the validated :class:`Study` with the ``study.json`` it writes; the study errors; data specs as a study sees them
(their errors as :class:`StudyError`). :mod:`gstsn.ablate.study` reads the TOML files into these."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gstsn.config import (
    FIELD_SECTIONS,
    MODEL_NAMES,
    ConfigError,
    RunConfig,
    config_hash,
    config_to_dict,
    portable_source,
)
from gstsn.data.specs import is_synth

SYNTH_FIELDS = ("identity_cue",)  # SynthConfig fields a study may set (folded into the synthetic data spec)
REFERENCE_METHODS = ("gei",)  # non-learned reference rows
MODEL_METHODS = MODEL_NAMES  # the learned models: trained, on the axis grid


def section_fields(section: str) -> list[str]:
    """The config fields of one RunConfig section (``model``, ``train``, ...)."""
    return [name for name, owner in FIELD_SECTIONS.items() if owner == section]


class StudyError(ValueError):
    """A study file (or a command-line override) is invalid; the message names the file, the key and what is valid."""


class StudyNotApplicable(StudyError):
    """The study varies a synthetic generator field (``identity_cue``) but the data is not synthetic."""


def plain_value(value: Any) -> Any:
    """JSON-ready spelling of a field value (tuples → lists), used for hashing and study.json."""
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    return value


# ----------------------------------------------------------------------------------------------------------------------
# Data specs: the synthetic generator's knobs live in the data spec string


def _spec_errors() -> tuple[type[Exception], ...]:
    from gstsn.data.specs import DataSpecError

    return (DataSpecError, ConfigError)


def synth_config(source: str) -> Any:
    """:func:`gstsn.data.specs.synth_config`, its errors as :class:`StudyError`."""
    from gstsn.data import specs

    try:
        return specs.synth_config(source)
    except _spec_errors() as exc:
        raise StudyError(str(exc)) from None


def canonical_source(source: str, synth_overrides: Mapping[str, Any] | None = None) -> str:
    """:func:`gstsn.data.specs.canonical_source` (one spelling per dataset), its errors as :class:`StudyError`."""
    from gstsn.data import specs

    try:
        return specs.canonical_source(source, synth_overrides)
    except _spec_errors() as exc:
        raise StudyError(str(exc)) from None


# ----------------------------------------------------------------------------------------------------------------------
# Runs


@dataclass(frozen=True)
class RunSpec:
    """One run: a method, its fully resolved config and seed. ``run_id`` is a stable hash of all of it.

    For ``gaitset`` / ``gstsn`` the id is ``config_hash(config)`` (the config holds the seed and the canonical data
    spec). For the ``gei`` reference only the data, split and input size matter; the id hashes those and the seed.
    """

    method: str
    config: RunConfig
    profile: str

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def run_id(self) -> str:
        if self.method in MODEL_METHODS:
            return config_hash(self.config)
        payload = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:12]

    def identity(self) -> dict[str, Any]:
        """What the run id hashes (the whole resolved config for the models)."""
        if self.method in MODEL_METHODS:
            return config_to_dict(self.config)
        cfg = self.config
        return {
            "method": self.method,
            "data": {**config_to_dict(cfg.data), "source": portable_source(cfg.data.source)},
            "input": {"height": cfg.input.height, "width": cfg.input.width},
            "seed": cfg.seed,
        }

    @property
    def synthetic(self) -> bool:
        return is_synth(self.config.data.source)

    @property
    def identity_cue(self) -> float | None:
        """The synthetic generator's identity cue of this run's data (None for real data)."""
        return float(synth_config(self.config.data.source).identity_cue) if self.synthetic else None

    def fields(self) -> dict[str, Any]:
        """The config fields of a results row under their own names (model fields are None for a reference)."""
        flat = self.config.flat()
        if self.method not in MODEL_METHODS:  # no model, no training; every frame at the stored size
            model_and_training = [*section_fields("model"), *section_fields("train"), "eval_batch_frames"]
            flat.update(dict.fromkeys(model_and_training), downsample=1, max_test_frames=None)
        flat["identity_cue"] = self.identity_cue
        flat["source"] = portable_source(self.config.data.source)  # rows travel: no machine-local path
        return {k: plain_value(v) for k, v in flat.items()}


@dataclass(frozen=True)
class StudyCell:
    """One point of a study's grid (or a reference row): its axis values, its label and its method."""

    label: str
    values: dict[str, Any]
    method: str
    is_baseline: bool = False


@dataclass(frozen=True)
class StudyRun:
    """A run as one study sees it: the study, the cell and the (possibly shared) run."""

    study: str
    cell: StudyCell
    spec: RunSpec

    @property
    def run_id(self) -> str:
        return self.spec.run_id


@dataclass
class Study:
    """A validated study: its definition and its runs (cells × seeds, then reference rows × seeds)."""

    name: str
    source_file: str
    description: str
    profile: str
    seeds: list[int]
    base: dict[str, Any]
    axes: dict[str, list[Any]]
    baseline: dict[str, Any]
    references: list[str]
    question: str = ""  # the question the study asks of the paper (shown with its verdict)
    paper_choice: dict[str, Any] = field(default_factory=dict)  # the paper's setting on the axes, if it makes one
    order: int | None = None  # position among the studies (run and report order), None: after those with one
    cells: list[StudyCell] = field(default_factory=list)
    runs: list[StudyRun] = field(default_factory=list)
    base_config: RunConfig | None = None

    @property
    def needs_synthetic(self) -> bool:
        """True when an axis or the base sets a synthetic generator field (the study means nothing on real data)."""
        return any(f in self.axes or f in self.base for f in SYNTH_FIELDS)

    def definition(self) -> dict[str, Any]:
        """``study.json`` (schema v1): the resolved definition the report reads."""
        base = self.base_config.flat() if self.base_config is not None else {}
        base = {k: plain_value(v) for k, v in base.items() if k != "seed" and k not in self.axes}  # axes: per cell
        if "source" in base:
            base["source"] = portable_source(base["source"])  # study files travel: no machine-local path
        cue = None
        if self.base_config is not None and "identity_cue" not in self.axes and is_synth(self.base_config.data.source):
            cue = float(synth_config(self.base_config.data.source).identity_cue)
        base["identity_cue"] = cue  # None when it is an axis (or the data is real)
        base["profile"] = self.profile
        return {
            "study": self.name,
            "description": self.description,
            **({"question": self.question} if self.question else {}),
            **(
                {"paper_choice": {k: plain_value(v) for k, v in self.paper_choice.items()}} if self.paper_choice else {}
            ),
            **({"order": self.order} if self.order is not None else {}),
            "axes": {k: [plain_value(v) for v in vs] for k, vs in self.axes.items()},
            "baseline": {k: plain_value(v) for k, v in self.baseline.items()},
            "seeds": list(self.seeds),
            "base": base,
            "references": list(self.references),
            "source_file": self.source_file,
        }


__all__ = [
    "MODEL_METHODS",
    "REFERENCE_METHODS",
    "RunSpec",
    "SYNTH_FIELDS",
    "Study",
    "StudyCell",
    "StudyError",
    "StudyNotApplicable",
    "StudyRun",
    "canonical_source",
    "plain_value",
    "section_fields",
    "synth_config",
]
