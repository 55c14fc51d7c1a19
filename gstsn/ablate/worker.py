"""Where runs execute: torch threads for the runs of this process (``--jobs 1``), the worker processes of
``--jobs N`` (threads, dying with the parent) and :func:`attempt_run`, one run's outcome as the runner settles it."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gstsn.ablate.execute import execute_run
from gstsn.ablate.spec import RunSpec


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Runs in this process use ``threads`` torch threads (None: leave torch's setting); restored afterwards."""
    if not threads:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(threads)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


_PR_SET_PDEATHSIG = 1


def worker_init(threads: int, parent_pid: int) -> None:
    """Per worker: ``threads`` torch threads; die with the runner (``PR_SET_PDEATHSIG`` on Linux, and a watchdog
    thread that exits when the parent is gone), so a killed runner never leaves a worker training a run."""
    import torch

    from gstsn.heap import retain_freed_memory
    from gstsn.signals import install_for_process

    retain_freed_memory()  # a spawned process starts with glibc's defaults again
    install_for_process()  # a stop signal is recorded, never fatal: the run in progress checkpoints and returns
    torch.set_num_threads(max(1, int(threads)))
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    def watchdog() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(1.0)

    threading.Thread(target=watchdog, name="gstsn-parent-watchdog", daemon=True).start()


def attempt_run(
    spec: RunSpec,
    work_root: str,
    run_id: str,
    executor: Callable[..., dict[str, Any]] | None,
    device: str,
    cache_root: str | Path | None,
    progress: bool,
) -> dict[str, Any]:
    """Run one spec under its lock, in the runner's process or in a worker (one code path for 1 and N jobs). The
    outcome: the ``{"row", "tables"}`` result, ``{"busy": holder}`` when another process holds the run,
    ``{"interrupted": message}`` after a stop signal (a checkpoint is written), or ``{"error": message}``."""
    from gstsn.ablate.store import RunBusy, WorkDir
    from gstsn.signals import TrainingInterrupted, signal_name, stop_requested

    run = executor or execute_run
    signum = stop_requested()
    if signum is not None:  # a worker told to stop before it took this run
        return {"interrupted": f"not started ({signal_name(signum)})"}
    try:
        return WorkDir(work_root).run_once(
            run_id, lambda run_dir: run(spec, run_dir, device=device, cache_root=cache_root, progress=progress)
        )
    except RunBusy as exc:
        return {"busy": exc.holder or "holder unknown"}
    except TrainingInterrupted as exc:
        return {"interrupted": str(exc)}
    except Exception as exc:  # one failed run (diverged, bad data) must not stop the others
        return {"error": f"{type(exc).__name__}: {exc}"}


__all__ = ["attempt_run", "torch_threads", "worker_init"]
