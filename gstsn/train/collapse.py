"""Collapse detection: a run whose BA+ loss sticks at the margin while the embedding distances shrink towards 0."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class CollapseMonitor:
    """Flags a collapsed embedding: ``window`` consecutive logged iterations with the loss within ``loss_tol``·margin of
    the margin, the mean anchor-negative distance below ``dist_tol`` and nearly every triplet active.

    In a collapse every sequence maps to (almost) the same point, so every triplet term equals the margin.
    """

    margin: float
    window: int = 5
    dist_tol: float = 1e-2
    loss_tol: float = 0.05
    streak: int = 0
    streak_start: int = -1
    first_iteration: int = -1
    collapsed_now: bool = False

    def is_collapsed(self, stats: dict[str, float]) -> bool:
        return (
            abs(stats["loss"] - self.margin) <= self.loss_tol * self.margin
            and stats["dist_an"] < self.dist_tol
            and stats["nonzero_frac"] > 0.9
        )

    def update(self, iteration: int, stats: dict[str, float]) -> bool:
        """Record one logged iteration; True when the run counts as collapsed now."""
        if self.is_collapsed(stats):
            if self.streak == 0:
                self.streak_start = iteration
            self.streak += 1
        else:
            self.streak = 0
        self.collapsed_now = self.streak >= self.window
        if self.collapsed_now and self.first_iteration < 0:
            self.first_iteration = self.streak_start
        return self.collapsed_now

    def summary(self) -> dict[str, Any]:
        return {
            "detected": self.first_iteration >= 0,
            "first_iteration": self.first_iteration if self.first_iteration >= 0 else None,
            "collapsed_at_end": self.collapsed_now,
            "criterion": (
                f"{self.window} consecutive logged iterations with |loss - margin| <= {self.loss_tol} * margin, "
                f"mean anchor-negative distance < {self.dist_tol} and > 90% of triplets active"
            ),
        }

    def state_dict(self) -> dict[str, int | bool]:
        return {
            "streak": self.streak,
            "streak_start": self.streak_start,
            "first_iteration": self.first_iteration,
            "collapsed_now": self.collapsed_now,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.streak = int(state["streak"])
        self.streak_start = int(state["streak_start"])
        self.first_iteration = int(state["first_iteration"])
        self.collapsed_now = bool(state["collapsed_now"])


__all__ = [
    "CollapseMonitor",
]
