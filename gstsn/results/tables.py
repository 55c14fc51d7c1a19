"""``tables.csv``: the 11×11 probe × gallery rank-1 cells of every run of a study, one row per cell."""

from __future__ import annotations

import math

import pandas as pd

from gstsn.results.files import TABLES_FILE

TABLES_COLUMNS = ("run_id", "distance", "condition", "probe_view", "gallery_view", "value")


def parse_value(text: str) -> float | None:
    """A cell's value as written (``repr`` of a float, ``nan`` for an empty cell); None when it is not a number."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def numeric_values(tables: pd.DataFrame, problems: list[str], name: str = TABLES_FILE) -> pd.DataFrame:
    """``tables`` with ``value`` as floats; a value that is not a number is named in ``problems`` (file, line,
    value) and its row left out, never turned into NaN silently."""
    values = [parse_value(v) if not isinstance(v, float) else v for v in tables["value"]]
    bad = [i for i, v in enumerate(values) if v is None]
    for i in bad[:5]:
        problems.append(f"{name} line {i + 2}: value {tables['value'].iloc[i]!r} is not a number; the cell is left out")
    if len(bad) > 5:
        problems.append(f"{name}: {len(bad) - 5} more non-numeric value(s) left out")
    out = tables.assign(value=[math.nan if v is None else v for v in values])
    return out.drop(index=out.index[bad]) if bad else out


__all__ = ["TABLES_COLUMNS", "TABLES_FILE", "numeric_values", "parse_value"]
