"""Data spec strings (``synth``, ``synth:key=value,...``, ``casia-b:PATH``, a cache folder): their forms, the synthetic
generator's knobs they carry, and one canonical spelling per dataset (so that equal data give equal run ids).

Torch-free and light (the synthetic generator's config only): the study loader canonicalises specs without opening data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from gstsn.config import ConfigError, config_from_dict
from gstsn.data.synth.config import SynthConfig

SPEC_FORMS = "'synth', 'synth:key=value,...', 'casia-b:PATH' (an npz or a CASIA-B tree) or a cache directory"


class DataSpecError(ValueError):
    """A data spec string is not one of the accepted forms; the message lists them."""


def _coerce(name: str, text: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
    except ValueError:
        raise ConfigError(f"SynthConfig.{name} = {text!r} is not a {type(default).__name__}") from None
    return text


def synth_config_from_pairs(pairs: dict[str, str], where: str = "") -> Any:
    """A ``SynthConfig`` from string values (``{"subjects": "20"}``), converted by each field's default type."""
    defaults = SynthConfig()
    values = {}
    for raw_key, text in pairs.items():
        key = raw_key.strip().replace("-", "_")
        default = getattr(defaults, key, None)
        values[key] = text if default is None else _coerce(key, text.strip(), default)
    return config_from_dict(SynthConfig, values, where)


def parse_spec_pairs(text: str, spec: str) -> dict[str, str]:
    pairs = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise DataSpecError(f"data spec {spec!r}: {item!r} is not key=value (e.g. 'synth:subjects=20,seed=1')")
        pairs[key.strip()] = value
    return pairs


def is_synth(source: str) -> bool:
    """Whether ``source`` names the synthetic generator (``synth`` or ``synth:...``)."""
    kind, _, _ = source.strip().partition(":")
    return kind == "synth"


def synth_pairs(source: str) -> dict[str, str]:
    """The ``key=value`` pairs of a ``synth:...`` spec, as strings."""
    _, _, rest = source.strip().partition(":")
    return parse_spec_pairs(rest, source)


def synth_config(source: str) -> Any:
    """The :class:`~gstsn.data.synth.SynthConfig` of a ``synth[:key=value,...]`` spec (validated)."""
    return synth_config_from_pairs(synth_pairs(source), where=f"data spec {source!r}")


def canonical_source(source: str, synth_overrides: Mapping[str, Any] | None = None) -> str:
    """A data spec in one spelling, so that equal data give equal run ids.

    ``synth`` specs become ``synth`` or ``synth:k=v,...`` with only the fields that differ from the generator's
    defaults, sorted (``synth:identity_cue=0.5`` is ``synth``); ``synth_overrides`` (``{"identity_cue": 0.0}``) are
    folded in first. Other specs are returned stripped; overrides on them raise :class:`DataSpecError`.
    """
    source = source.strip()
    overrides = dict(synth_overrides or {})
    if not is_synth(source):
        if overrides:
            raise DataSpecError(
                f"{sorted(overrides)} set(s) the synthetic generator, but the data is {source!r}; "
                "these fields only exist for 'synth' data"
            )
        return source
    pairs = synth_pairs(source)
    pairs.update({k: repr(v) if isinstance(v, float) else str(v) for k, v in overrides.items()})
    cfg = synth_config_from_pairs(pairs, where=f"data spec {source!r}")
    default = type(cfg)()
    changed = {
        f.name: getattr(cfg, f.name)
        for f in dataclasses.fields(cfg)
        if getattr(cfg, f.name) != getattr(default, f.name)
    }
    if not changed:
        return "synth"
    return "synth:" + ",".join(f"{k}={v}" for k, v in sorted(changed.items()))


__all__ = [
    "SPEC_FORMS",
    "DataSpecError",
    "canonical_source",
    "is_synth",
    "parse_spec_pairs",
    "synth_config",
    "synth_config_from_pairs",
    "synth_pairs",
]
