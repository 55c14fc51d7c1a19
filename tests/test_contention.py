"""The share of the CPUs other processes took while a run trained (``gstsn.contention``): arithmetic on scripted
``/proc/stat`` readings, a real busy child process counted as others' time, and the trainer carrying it across a
resume into its result."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gstsn import contention
from gstsn.contention import ContentionMeter, contended


def test_the_share_is_others_busy_time_over_wall_times_cpus(monkeypatch):
    busy = iter([100.0, 103.0, 200.0, 200.5])  # machine busy seconds at start / stop of two intervals
    own = iter([10.0, 11.0, 20.0, 20.5])  # this process's CPU seconds
    wall = iter([0.0, 2.0, 5.0, 6.0])
    monkeypatch.setattr(contention, "_machine_busy_s", lambda: next(busy))
    monkeypatch.setattr(contention, "_own_s", lambda: next(own))
    monkeypatch.setattr(contention.time, "perf_counter", lambda: next(wall))
    monkeypatch.setattr(contention.os, "cpu_count", lambda: 2)
    meter = ContentionMeter()
    for _ in range(2):
        meter.start()
        meter.stop()
    assert meter.others_s == pytest.approx(2.0 + 0.0) and meter.capacity_s == pytest.approx(4.0 + 2.0)
    assert meter.share == pytest.approx(2.0 / 6.0) and contended(meter.share)
    assert not contended(0.05) and not contended(None)


def test_unreadable_proc_stat_gives_no_share(monkeypatch):
    monkeypatch.setattr(contention, "_machine_busy_s", lambda: None)
    meter = ContentionMeter()
    meter.start()
    meter.stop()
    assert meter.share is None


def test_a_busy_child_process_counts_as_others(tmp_path):
    """A child that burns 0.5 s of CPU (by its own CPU clock, whatever the machine's speed) is others' time."""
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5:\n    pass\n"
    meter = ContentionMeter()
    meter.start()
    subprocess.run([sys.executable, "-c", burn], check=True, timeout=300)
    meter.stop()
    assert meter.others_s >= 0.4, meter  # the child's 0.5 s, less tick rounding; any other load only adds
    assert meter.share is not None and 0.0 < meter.share <= 1.0
