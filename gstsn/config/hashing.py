"""Configs as plain dicts and their stable hashes (the run ids): canonical, portable, unchanged by fields added later
while they keep their defaults (:data:`HASHED_WHEN_SET`)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from gstsn.config.checks import ConfigError


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


#: fields added after results were stored: hashed only when set to another value than this, so that every run id
#: computed before they existed stays the same
HASHED_WHEN_SET: dict[str, Any] = {
    "lr_schedule": "constant",
    "warmup": 0,
    "temporal_module": "lstm",
    "cpu_precision": "fp32",
}


def portable_source(source: str) -> str:
    """A data spec without machine-local folders: ``casia-b:/data/x/casia-b-sil-64x44.npz`` →
    ``casia-b:casia-b-sil-64x44.npz``, a cache folder ``/data/cache-b`` → ``cache-b``; synthetic specs as they are.
    Run ids, results rows and study files use it, so none depends on where the data lives on a machine (the data's
    content is identified by its fingerprint)."""
    text = source.strip()
    if text == "synth" or text.startswith("synth:"):
        return text
    kind, sep, rest = text.partition(":")
    if sep and kind == "casia-b":
        return f"casia-b:{PurePath(rest.rstrip('/')).name}"
    return PurePath(text.rstrip("/")).name or text


def config_hash(cfg: Any, length: int = 12) -> str:
    """A stable hash of a config's resolved values (key order and tuple/list spelling do not matter), with the data
    spec in its :func:`portable_source` form."""
    values = config_to_dict(cfg)
    if isinstance(values.get("data"), dict) and isinstance(values["data"].get("source"), str):
        values["data"]["source"] = portable_source(values["data"]["source"])
    elif isinstance(values.get("source"), str):  # a DataConfig on its own
        values["source"] = portable_source(values["source"])
    for section in values.values():
        if isinstance(section, dict):
            for name, default in HASHED_WHEN_SET.items():
                if name in section and section[name] == default:
                    del section[name]
    payload = json.dumps(values, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:length]


__all__ = [
    "HASHED_WHEN_SET",
    "config_from_dict",
    "config_hash",
    "config_to_dict",
    "portable_source",
]
