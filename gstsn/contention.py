"""How much of the CPUs other processes took while a run trained, from ``/proc/stat`` (torch-free).

Training times are only comparable when measured on quiet cores. :class:`ContentionMeter` samples the machine's busy
CPU time (``/proc/stat``: user, nice, system, irq, softirq and steal — steal being time the hypervisor gave to other
machines) and this process's own CPU time (``os.times``, every thread) at the start and end of each timed interval;
the difference, over the interval's wall time × CPU count, is the share of the CPUs that *other* processes took.
0.0 is a quiet machine, 0.5 on 2 cores is one other busy process. ``None`` where ``/proc/stat`` cannot be read.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas only where a results table is read: the trainer imports this module
    import pandas as pd

#: a share above this marks a training time as measured under contention (on the report pages and in summaries)
CONTENDED_SHARE = 0.10
_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)  # user nice system [idle iowait] irq softirq steal


def _machine_busy_s() -> float | None:
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            first = fh.readline().split()
    except OSError:
        return None
    if not first or first[0] != "cpu":
        return None
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    values = [int(v) for v in first[1:]]
    return sum(values[i] for i in _BUSY_FIELDS if i < len(values)) / ticks


def _own_s() -> float:
    t = os.times()
    return t.user + t.system


@dataclass
class ContentionMeter:
    """Accumulates, over the intervals between :meth:`start` and :meth:`stop`, the CPU seconds other processes used
    (``others_s``) and the CPU seconds there were (``capacity_s`` = wall × CPUs). Both survive a resume through the
    checkpoint (:class:`gstsn.train.state.TrainState`)."""

    others_s: float = 0.0
    capacity_s: float = 0.0
    _mark: tuple[float, float, float] | None = None

    def start(self) -> None:
        busy = _machine_busy_s()
        self._mark = None if busy is None else (busy, _own_s(), time.perf_counter())

    def stop(self) -> None:
        if self._mark is None:
            return
        busy, own, wall = _machine_busy_s(), _own_s(), time.perf_counter()
        if busy is None:
            self._mark = None
            return
        b0, o0, w0 = self._mark
        self._mark = None
        cpus = os.cpu_count() or 1
        # signed: at tick resolution one interval can come out slightly negative on a quiet machine; the sum does not
        self.others_s += (busy - b0) - (own - o0)
        self.capacity_s += (wall - w0) * cpus

    @property
    def share(self) -> float | None:
        """Others' share of the CPUs over the measured intervals (0..1), or None when nothing could be measured."""
        if self.capacity_s <= 0:
            return None
        return min(1.0, max(0.0, self.others_s / self.capacity_s))


def recorded_shares(runs: pd.DataFrame) -> pd.Series:
    """The recorded ``cpu_others_share`` values of a results table's runs (a pandas Series, numbers only; empty where
    the rows predate the column)."""
    import pandas as pd

    if "cpu_others_share" not in runs.columns:
        return pd.Series(dtype=float)
    return pd.to_numeric(runs["cpu_others_share"], errors="coerce").dropna()


def contended(share: float | None) -> bool:
    """Whether a training time measured with ``share`` of the CPUs taken by others is marked as contended."""
    return share is not None and share > CONTENDED_SHARE


def any_contended(runs: pd.DataFrame) -> bool:
    """Whether any run of a results table trained while other processes took over :data:`CONTENDED_SHARE` of the
    CPUs (its training time is then marked † in tables)."""
    return any(contended(v) for v in recorded_shares(runs))


#: the note under a table whose training times carry the † of :func:`any_contended`
CONTENDED_NOTE = (
    f"† measured under contention: other processes took over {CONTENDED_SHARE:.0%} of the CPUs while at least one of "
    "these runs trained (cpu_others_share); compare those times with care."
)

__all__ = ["CONTENDED_NOTE", "CONTENDED_SHARE", "ContentionMeter", "any_contended", "contended", "recorded_shares"]
