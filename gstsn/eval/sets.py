"""The CASIA-B protocol's gallery and probe sets (``shared/spec/protocol.md``), keyed by ``gstsn.config.CONDITIONS``."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from gstsn.config import CONDITIONS

#: gallery sequence types (every probe set is matched against these)
GALLERY_TYPES: tuple[str, ...] = ("nm-01", "nm-02", "nm-03", "nm-04")
#: probe sets: name -> probe sequence types
PROBE_SETS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    dict(zip(CONDITIONS, (("nm-05", "nm-06"), ("bg-01", "bg-02"), ("cl-01", "cl-02")), strict=True))
)  # keyed by gstsn.config.CONDITIONS, in its order

__all__ = ["GALLERY_TYPES", "PROBE_SETS"]
