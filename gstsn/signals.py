"""Stopping cleanly on SIGTERM and SIGINT (a scheduler's preemption, a time limit's warning, Ctrl-C).

While :func:`stop_on_signals` is active, SIGTERM and SIGINT only *record* the request; the code that owns the work polls
:func:`stop_requested` at safe points. The trainer does so after every optimizer step: it finishes the step, writes a
checkpoint and raises :class:`TrainingInterrupted`; the ablation runner stops between runs and tells its worker
processes to do the same. The ``gstsn`` command turns the exception into one line on stderr and the exit status
``128 + signal number`` (the shell's convention): **143 for SIGTERM, 130 for SIGINT**. A later ``--resume`` (``gstsn
train``) or a plain re-run (``gstsn ablations run``) continues from the checkpoint. SIGKILL cannot be caught: after it
a run resumes from its previous checkpoint. Ctrl-C after the work is done and saved, while a command only reports on it
(:func:`reporting_after`, ``gstsn data import``'s summary), says that the work was completed.

The request is process-wide state by nature (a signal is delivered to a process), so it lives here and nowhere else.
Handlers are installed only in the main thread (Python allows no other), and nested activations share one request: the
runner's and the trainer's activations see the same signal. The previous handlers come back when the outermost
activation ends.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

_requested: int | None = None
_depth = 0


class TrainingInterrupted(BaseException):  # noqa: N818 - like KeyboardInterrupt: a stop request, not an error
    """Work stopped on a signal after saving what it had. A ``BaseException`` (like ``KeyboardInterrupt``), so that no
    ``except Exception`` on the way up counts it as a failed run."""

    def __init__(self, signum: int, iteration: int | None = None, checkpoint: Path | None = None) -> None:
        self.signum, self.iteration, self.checkpoint = int(signum), iteration, checkpoint
        where = f" at iteration {iteration}" if iteration is not None else ""
        saved = f"; checkpoint {checkpoint}" if checkpoint is not None else ""
        super().__init__(f"stopped by {signal_name(signum)}{where}{saved}")

    def __reduce__(self) -> tuple:  # pickles across processes with its fields, not its message
        return type(self), (self.signum, self.iteration, self.checkpoint)

    @property
    def exit_code(self) -> int:
        return exit_code(self.signum)


class InterruptedAfterWork(BaseException):  # noqa: N818 - a stop request, like TrainingInterrupted
    """Ctrl-C arrived after the work was complete and saved, while the command was only reporting on it (``gstsn data
    import``'s summary after the cache is in place). ``done`` says what was completed; nothing needs to run again.
    The exit status stays the signal's (130): the output was cut short."""

    def __init__(self, signum: int, done: str) -> None:
        self.signum, self.done = int(signum), done
        super().__init__(f"interrupted by {signal_name(signum)} after {done}; nothing needs to be run again")

    def __reduce__(self) -> tuple:
        return type(self), (self.signum, self.done)

    @property
    def exit_code(self) -> int:
        return exit_code(self.signum)


@contextlib.contextmanager
def reporting_after(done: str) -> Iterator[None]:
    """Around the reporting that follows completed work: Ctrl-C (``KeyboardInterrupt``) there becomes
    :class:`InterruptedAfterWork` saying ``done``, so that the user learns the work itself is complete."""
    try:
        yield
    except KeyboardInterrupt:
        raise InterruptedAfterWork(signal.SIGINT, done) from None


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def exit_code(signum: int) -> int:
    """The documented exit status after stopping on ``signum``: 128 + its number (143 SIGTERM, 130 SIGINT)."""
    return 128 + int(signum)


def stop_requested() -> int | None:
    """The signal number of a pending stop request, or None."""
    return _requested


def request_stop(signum: int) -> None:
    """Record a stop request as a signal would (the ablation runner's workers are told this way in tests)."""
    global _requested
    if _requested is None:
        _requested = int(signum)


def _handler(signum: int, frame: FrameType | None) -> None:
    request_stop(signum)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Record SIGTERM / SIGINT instead of dying, for the duration of the block (see the module doc). The outermost
    activation starts with no pending request and restores the previous handlers at its end."""
    global _depth, _requested
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    if _depth == 0:
        _requested = None
        previous = {s: signal.signal(s, _handler) for s in STOP_SIGNALS}
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0:
            for s, h in previous.items():
                signal.signal(s, h)


def install_for_process() -> None:
    """Record SIGTERM / SIGINT for the rest of this process's life (the runner's worker processes: a signal that
    arrives while a worker evaluates or waits for work must not kill it half-way)."""
    global _depth
    if threading.current_thread() is threading.main_thread() and _depth == 0:
        for s in STOP_SIGNALS:
            signal.signal(s, _handler)
        _depth = 1


__all__ = [
    "STOP_SIGNALS",
    "InterruptedAfterWork",
    "TrainingInterrupted",
    "exit_code",
    "install_for_process",
    "reporting_after",
    "request_stop",
    "signal_name",
    "stop_on_signals",
    "stop_requested",
]
