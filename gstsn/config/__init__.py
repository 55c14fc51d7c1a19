"""Typed configuration for every part of gstsn, validated on construction.

One field, one name: an ablation axis such as ``idr_stat`` is declared here once, read from TOML under that name,
passed to the model under that name, written to each results row under that name and shown in the report under that
name (the report's human labels for them are in ``gstsn.report.labels``).

Every ``__post_init__`` raises :class:`ConfigError` (a ``ValueError``) naming the field, the value and what is allowed.

The package's modules: :mod:`~gstsn.config.vocabulary`, :mod:`~gstsn.config.checks`, :mod:`~gstsn.config.model`,
:mod:`~gstsn.config.hashing`, :mod:`~gstsn.config.run`, :mod:`~gstsn.config.profiles`; everything is imported from
``gstsn.config``.
"""

from __future__ import annotations

from gstsn.config.checks import (
    ConfigError,
    check_int,
    check_number,
    check_positive_float,
    fail_field,
)
from gstsn.config.hashing import (
    HASHED_WHEN_SET,
    config_from_dict,
    config_hash,
    config_to_dict,
    portable_source,
)
from gstsn.config.model import (
    InputConfig,
    ModelConfig,
    parse_idr_stat,
    trunk_output_height,
)
from gstsn.config.profiles import (
    PROFILES,
    resolve_profile,
)
from gstsn.config.run import (
    FIELD_SECTIONS,
    RUN_SECTIONS,
    DataConfig,
    EvalConfig,
    RunConfig,
    TrainConfig,
    learning_rate,
)
from gstsn.config.vocabulary import (
    CONDITIONS,
    CPU_PRECISIONS,
    DISTANCES,
    FIELD_CHOICES,
    INPUT_TYPES,
    LR_SCHEDULES,
    LSTM_LAYER_CHOICES,
    MODEL_NAMES,
    MODEL_TEMPORAL,
    VIEWS,
    model_name,
)

__all__ = [
    "CPU_PRECISIONS",
    "CONDITIONS",
    "ConfigError",
    "DISTANCES",
    "DataConfig",
    "FIELD_CHOICES",
    "EvalConfig",
    "FIELD_SECTIONS",
    "HASHED_WHEN_SET",
    "INPUT_TYPES",
    "InputConfig",
    "LR_SCHEDULES",
    "LSTM_LAYER_CHOICES",
    "MODEL_NAMES",
    "MODEL_TEMPORAL",
    "ModelConfig",
    "PROFILES",
    "RUN_SECTIONS",
    "RunConfig",
    "TrainConfig",
    "VIEWS",
    "check_int",
    "check_number",
    "check_positive_float",
    "config_from_dict",
    "config_hash",
    "config_to_dict",
    "fail_field",
    "learning_rate",
    "model_name",
    "parse_idr_stat",
    "portable_source",
    "resolve_profile",
    "trunk_output_height",
]
