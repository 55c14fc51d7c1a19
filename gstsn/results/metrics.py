"""Metric names in result rows: ``KIND.DISTANCE.CONDITION`` and ``KIND_view.DISTANCE.CONDITION.VIEW``, built and
read here only (docs/results.md).

``KIND`` is ``rank1`` (identical views excluded: the headline), ``rank1_incl`` (included), ``rank5``, ``map``,
``minp``, ``cv_rank1`` or ``cv_map``; ``DISTANCE`` one of :data:`gstsn.config.DISTANCES`; ``CONDITION`` one of
:data:`gstsn.config.CONDITIONS`; ``VIEW`` one of :data:`gstsn.config.VIEWS`.
"""

from __future__ import annotations

from collections.abc import Sequence

from gstsn.config import CONDITIONS, DISTANCES

HEADLINE = "rank1"


def metric_key(kind: str, distance: str, condition: str, view: str | None = None) -> str:
    """The row key of a metric: ``metric_key("rank1", "per_part", "NM")`` → ``rank1.per_part.NM``; per probe view,
    ``metric_key("rank1_view", "flat", "CL", "090")`` → ``rank1_view.flat.CL.090``."""
    return f"{kind}.{distance}.{condition}" + (f".{view}" if view else "")


def metric_condition(key: str) -> str:
    """The condition of a summary metric key: ``rank1.per_part.NM`` → ``NM``."""
    return key.rsplit(".", 1)[-1]


def headline_metrics(distances: Sequence[str] = DISTANCES, conditions: Sequence[str] = CONDITIONS) -> list[str]:
    """The headline metric names ``rank1.<distance>.<COND>`` (identical views excluded)."""
    return [metric_key(HEADLINE, d, c) for d in distances for c in conditions]


__all__ = ["HEADLINE", "headline_metrics", "metric_condition", "metric_key"]
