"""A wall-clock budget split into phases, for jobs that must end on time (a GPU lease of a few minutes).

Each phase gets an allowance; its deadline is the earlier of its allowance and what the whole budget has left after a
final reserve. A phase asks :meth:`Phase.fits` before each unit of work and stops, saying why, when the next unit
does not fit. An exception inside a phase is recorded (with its traceback) and does not stop the later phases.
"""

from __future__ import annotations

import contextlib
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Phase:
    """One phase's allowance and outcome; ``status`` is ``done``, ``cut: ...``, ``skipped: ...`` or ``error: ...``."""

    name: str
    allowance_s: float
    deadline: float = 0.0
    used_s: float = 0.0
    status: str = "not run"
    notes: list[str] = field(default_factory=list)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def left(self) -> float:
        """Seconds until this phase's deadline (0 when past it)."""
        return max(0.0, self.deadline - self.clock())

    def fits(self, seconds: float) -> bool:
        """True when ``seconds`` more of work end before the deadline."""
        return self.left() >= seconds

    def cut(self, what: str, needed_s: float | None = None) -> None:
        """Record that ``what`` was left out for lack of time; the phase ends ``cut``."""
        need = f" (needed ~{needed_s:.0f} s, {self.left():.0f} s left)" if needed_s is not None else ""
        self.notes.append(f"left out for time: {what}{need}")
        self.status = "cut: phase allowance reached"

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("clock")
        out.pop("deadline")
        return out


class Budget:
    """``total_s`` seconds from construction; ``reserve_s`` of them are kept for the end (writing the results)."""

    def __init__(self, total_s: float, reserve_s: float = 0.0, clock: Callable[[], float] = time.monotonic) -> None:
        if not total_s > 0 or not 0 <= reserve_s < total_s:
            raise ValueError(f"budget total {total_s!r} s must be > 0 and its reserve {reserve_s!r} s in [0, total)")
        self.total_s, self.reserve_s, self.clock = float(total_s), float(reserve_s), clock
        self.start = clock()
        self.phases: list[Phase] = []

    def elapsed(self) -> float:
        return self.clock() - self.start

    def remaining(self) -> float:
        """Seconds left of the whole budget, the reserve included."""
        return max(0.0, self.total_s - self.elapsed())

    def available(self) -> float:
        """Seconds a phase may still use: the remaining budget less the reserve."""
        return max(0.0, self.remaining() - self.reserve_s)

    @contextlib.contextmanager
    def phase(self, name: str, allowance_s: float | None = None) -> Iterator[Phase]:
        """Run a phase of at most ``allowance_s`` (default: everything available). Exceptions are recorded."""
        start = self.clock()
        allowed = self.available() if allowance_s is None else min(float(allowance_s), self.available())
        ph = Phase(name, round(allowed, 3), deadline=start + allowed, status="running", clock=self.clock)
        self.phases.append(ph)
        try:
            yield ph
            if ph.status == "running":
                ph.status = "done"
        except Exception as exc:  # recorded; the next phases still run
            ph.status = f"error: {type(exc).__name__}: {exc}"
            ph.notes.append(traceback.format_exc())
        finally:
            ph.used_s = round(self.clock() - start, 3)

    def skip(self, name: str, reason: str) -> Phase:
        """Record a phase that does not run, with the reason."""
        ph = Phase(name, 0.0, status=f"skipped: {reason}", clock=self.clock)
        self.phases.append(ph)
        return ph

    def as_dict(self) -> dict[str, Any]:
        return {
            "total_s": self.total_s,
            "reserve_s": self.reserve_s,
            "elapsed_s": round(self.elapsed(), 3),
            "phases": [p.as_dict() for p in self.phases],
        }


__all__ = ["Budget", "Phase"]
