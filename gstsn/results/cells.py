"""Cell labels in result rows (the ``cell`` key): ``idr_stat=median``, ``temporal=false, input_type=set`` — the axis
values in axis order, each spelled as in the study's TOML file (booleans ``true`` / ``false``, lists in brackets,
``null`` for no value). Written by the ablation runner, read back by the report's "missing runs" list."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def cell_value(value: Any) -> str:
    """A value as it is written in cell labels."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(cell_value(v) for v in value) + "]"
    if value is None:
        return "null"
    return str(value)


def cell_label(values: Mapping[str, Any]) -> str:
    """``idr_stat=median`` / ``temporal=false, input_type=set``: the axis values in axis order."""
    return ", ".join(f"{k}={cell_value(v)}" for k, v in values.items())


__all__ = ["cell_label", "cell_value"]
