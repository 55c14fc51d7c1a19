"""Metric names in result rows: ``KIND.DISTANCE.CONDITION`` and ``KIND_view.DISTANCE.CONDITION.VIEW``, built and
read here only (docs/results.md).

``KIND`` is ``rank1`` (identical views excluded: the headline), ``rank1_incl`` (included), ``rank5``, ``map``,
``minp``, ``cv_rank1`` or ``cv_map``; ``DISTANCE`` one of :data:`gstsn.config.DISTANCES`; ``CONDITION`` one of
:data:`gstsn.config.CONDITIONS`; ``VIEW`` one of :data:`gstsn.config.VIEWS`.

Every one of these kinds is a percentage (:data:`PERCENT_KINDS`): a value is possible only when it is a finite number
in [0, 100], or null (not measured). :func:`impossible_percentage` is that rule, the one place every reader of result
rows takes it from (:func:`gstsn.results.runs.read_runs` leaves such a value out of the rows and names it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from gstsn.config import CONDITIONS, DISTANCES

HEADLINE = "rank1"
#: metric kinds whose values are percentages (and their per-view variants ``KIND_view``)
PERCENT_KINDS = ("rank1", "rank1_incl", "rank5", "map", "minp", "cv_rank1", "cv_map")
PERCENT_RANGE = (0.0, 100.0)
PERCENT_RULE = "a metric in percent must be a finite number in [0, 100] or null"


def metric_key(kind: str, distance: str, condition: str, view: str | None = None) -> str:
    """The row key of a metric: ``metric_key("rank1", "per_part", "NM")`` → ``rank1.per_part.NM``; per probe view,
    ``metric_key("rank1_view", "flat", "CL", "090")`` → ``rank1_view.flat.CL.090``."""
    return f"{kind}.{distance}.{condition}" + (f".{view}" if view else "")


def headline_metrics(distances: Sequence[str] = DISTANCES, conditions: Sequence[str] = CONDITIONS) -> list[str]:
    """The headline metric names ``rank1.<distance>.<COND>`` (identical views excluded)."""
    return [metric_key(HEADLINE, d, c) for d in distances for c in conditions]


def is_percentage_key(key: str) -> bool:
    """Whether the row key ``key`` holds a percentage: ``rank1.per_part.NM``, ``map_view.flat.CL.090``, ..."""
    kind, dot, _ = key.partition(".")
    return bool(dot) and kind.removesuffix("_view") in PERCENT_KINDS


def impossible_percentage(value: Any) -> str | None:
    """Why ``value`` cannot be a percentage (``"not finite"``, ``"outside [0, 100]"``, ``"not a number"``), or None
    when it can (null, not measured, included)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "not a number"
    if isinstance(value, float) and not math.isfinite(value):
        return "not finite"
    low, high = PERCENT_RANGE
    if not low <= value <= high:
        return f"outside [{low:g}, {high:g}]"
    return None


__all__ = [
    "HEADLINE",
    "PERCENT_KINDS",
    "PERCENT_RANGE",
    "PERCENT_RULE",
    "headline_metrics",
    "impossible_percentage",
    "is_percentage_key",
    "metric_key",
]
