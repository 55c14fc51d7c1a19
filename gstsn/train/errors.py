"""The trainer's errors (raised by the loop, its state and its logs) and those of the ``train`` / ``eval`` commands."""

from __future__ import annotations

from pathlib import Path


class TrainingError(ValueError):
    """The run cannot start or continue as configured (device, data, resume); the message says what to change."""


class CommandError(ValueError):
    """A command cannot run as asked (missing checkpoint, data mismatch); the message says what to do."""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the run stopped and the last good checkpoint was kept."""

    def __init__(self, iteration: int, stats: dict[str, float], checkpoint: Path | None) -> None:
        kept = f"the last good checkpoint is {checkpoint}" if checkpoint else "no checkpoint had been written yet"
        super().__init__(
            f"loss is {stats['loss']} at iteration {iteration} (stats {stats}); training stopped and {kept}. "
            "Lower the learning rate (--lr) or resume from that checkpoint with another seed."
        )
        self.iteration = iteration
        self.stats = stats
        self.checkpoint = checkpoint


__all__ = ["CommandError", "TrainingDiverged", "TrainingError"]
