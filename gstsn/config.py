"""Typed configuration for every part of gstsn, validated on construction.

One field, one name: an ablation axis such as ``idr_stat`` is declared here once, read from TOML under that name,
passed to the model under that name, written to each results row under that name and shown in the report under that
name. ``FIELD_LABELS`` holds the human labels the report uses next to the declaration.

Every ``__post_init__`` raises :class:`ConfigError` (a ``ValueError``) naming the field, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message names the key, the value and the valid choices."""


IDR_STATS = ("median", "max", "min", "mean")
LSTM_LAYER_CHOICES = (0, 1, 2)
INPUT_TYPES = ("set", "sequence")
DISTANCES = ("per_part", "flat")

FIELD_LABELS: dict[str, str] = {
    "temporal": "temporal branch (GSTSN)",
    "idr_stat": "IDR statistic",
    "lstm_layers": "LSTM layers",
    "channels": "channel widths",
    "hpm_bins": "HPM bins",
    "embed_dim": "embedding size",
    "input_type": "input type",
}


def _fail(owner: str, name: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"{owner}.{name} = {value!r} is invalid; expected {allowed}")


def parse_idr_stat(value: str) -> tuple[str, ...]:
    """Split an IDR statistic such as ``"max+median"`` into its terms, validating each one."""
    if not isinstance(value, str) or not value:
        _fail("ModelConfig", "idr_stat", value, f"one of {IDR_STATS} or a '+'-joined sum such as 'max+median'")
    terms = tuple(t.strip() for t in value.split("+"))
    bad = [t for t in terms if t not in IDR_STATS]
    if bad:
        _fail(
            "ModelConfig",
            "idr_stat",
            value,
            f"one of {IDR_STATS} or a '+'-joined sum of them such as 'max+median' (unknown term(s): {bad})",
        )
    if len(set(terms)) != len(terms):
        _fail("ModelConfig", "idr_stat", value, "each statistic at most once in a sum")
    return terms


@dataclass(frozen=True)
class ModelConfig:
    """The GaitSet / GSTSN family. ``temporal=False`` is GaitSet exactly; ``temporal=True`` is GSTSN (our reading).

    - ``temporal``: GSTSN's temporal branch (IDR + LSTM + temporal pooling + its own HPM/FC) on or off.
    - ``idr_stat``: the Image Dimensionality Reduction statistic over the width of each set6 frame map:
      ``median`` (the paper's choice), ``max``, ``min``, ``mean`` or a ``+``-joined sum such as ``max+median``.
    - ``lstm_layers``: 0 (IDR features straight to temporal pooling), 1 or 2 (the paper).
    - ``channels``: the trunk widths (32, 64, 128) at paper scale; small profiles scale them.
    - ``hpm_bins``: Horizontal Pyramid Mapping strip counts; each must divide the final feature-map height.
    - ``embed_dim``: output size of each part's FC (256 in the paper).
    """

    temporal: bool = True
    idr_stat: str = "median"
    lstm_layers: int = 2
    channels: tuple[int, int, int] = (32, 64, 128)
    hpm_bins: tuple[int, ...] = (1, 2, 4, 8, 16)
    embed_dim: int = 256

    def __post_init__(self) -> None:
        if not isinstance(self.temporal, bool):
            _fail("ModelConfig", "temporal", self.temporal, "true or false")
        parse_idr_stat(self.idr_stat)
        if isinstance(self.lstm_layers, bool) or self.lstm_layers not in LSTM_LAYER_CHOICES:
            _fail("ModelConfig", "lstm_layers", self.lstm_layers, f"one of {LSTM_LAYER_CHOICES}")
        channels = tuple(self.channels) if isinstance(self.channels, (list, tuple)) else self.channels
        if (
            not isinstance(channels, tuple)
            or len(channels) != 3
            or not all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in channels)
        ):
            _fail("ModelConfig", "channels", self.channels, "three positive integers, e.g. (32, 64, 128)")
        object.__setattr__(self, "channels", channels)
        bins = tuple(self.hpm_bins) if isinstance(self.hpm_bins, (list, tuple)) else self.hpm_bins
        if (
            not isinstance(bins, tuple)
            or not bins
            or not all(isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in bins)
            or len(set(bins)) != len(bins)
        ):
            _fail("ModelConfig", "hpm_bins", self.hpm_bins, "distinct positive integers, e.g. (1, 2, 4, 8, 16)")
        object.__setattr__(self, "hpm_bins", bins)
        if isinstance(self.embed_dim, bool) or not isinstance(self.embed_dim, int) or self.embed_dim <= 0:
            _fail("ModelConfig", "embed_dim", self.embed_dim, "a positive integer, e.g. 256")

    @property
    def idr_terms(self) -> tuple[str, ...]:
        return parse_idr_stat(self.idr_stat)

    @property
    def parts_per_map(self) -> int:
        """Strips one feature map gives under HPM (31 for bins 1+2+4+8+16)."""
        return sum(self.hpm_bins)

    @property
    def num_parts(self) -> int:
        """Parts in the output: 2 maps (set, MGP) for GaitSet, plus the temporal map for GSTSN (62 / 93)."""
        return self.parts_per_map * (3 if self.temporal else 2)

    @property
    def model_name(self) -> str:
        return "gstsn" if self.temporal else "gaitset"


def config_from_dict(cls: type, data: Mapping[str, Any], where: str = "") -> Any:
    """Build a config dataclass from a mapping, rejecting unknown keys with the list of valid ones."""
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        loc = f" in {where}" if where else ""
        raise ConfigError(f"unknown key(s) {unknown}{loc} for {cls.__name__}; valid keys: {names}")
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items()}
    return cls(**kwargs)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (possibly nested) config dataclass; tuples become lists."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def config_hash(cfg: Any, length: int = 12) -> str:
    """A stable hash of a config's resolved values (key order and tuple/list spelling do not matter)."""
    payload = json.dumps(config_to_dict(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:length]


@dataclass(frozen=True)
class InputConfig:
    """Silhouette input shape seen by the model.

    ``height``/``width`` are the stored frame size (64×44 at paper scale); ``downsample`` average-pools the frames by
    that factor before the model (2 → 32×22, the CPU profiles' reading of the spec's reduced reference).
    """

    height: int = 64
    width: int = 44
    downsample: int = 1

    def __post_init__(self) -> None:
        for name in ("height", "width", "downsample"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                _fail("InputConfig", name, v, "a positive integer")
        if self.height % self.downsample or self.width % self.downsample:
            _fail("InputConfig", "downsample", self.downsample, "a factor that divides height and width")

    @property
    def model_hw(self) -> tuple[int, int]:
        return self.height // self.downsample, self.width // self.downsample


__all__ = [
    "ConfigError",
    "DISTANCES",
    "FIELD_LABELS",
    "IDR_STATS",
    "INPUT_TYPES",
    "InputConfig",
    "LSTM_LAYER_CHOICES",
    "ModelConfig",
    "config_from_dict",
    "config_hash",
    "config_to_dict",
    "parse_idr_stat",
]
