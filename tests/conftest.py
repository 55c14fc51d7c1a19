"""Shared fixtures: the real CASIA-B copy beside the checkout (skipped cleanly when absent), deterministic torch,
running a ``bench/`` script, and a file on a disk that fills up."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_NPZ = Path(os.environ.get("GSTSN_CASIA_B_NPZ", REPO_ROOT.parent / "shared/data/casia-b/casia-b-sil-64x44.npz"))


@pytest.fixture(scope="session")
def real_npz() -> Path:
    """Path of the compact real CASIA-B npz; the test is skipped with the reason when it is absent."""
    if not REAL_NPZ.is_file():
        pytest.skip(f"real CASIA-B copy not found at {REAL_NPZ} (set GSTSN_CASIA_B_NPZ to point at it)")
    return REAL_NPZ


@pytest.fixture
def run_bench():
    """``run_bench(script, *args)``: run ``bench/<script>`` in a fresh interpreter; fails the test with the output's
    tail when it exits non-zero, else returns its stdout."""

    def run(script: str, *args: str) -> str:
        cmd = [sys.executable, str(REPO_ROOT / "bench" / script), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc.stdout

    return run


class FullDiskFile:
    """Wraps an open binary file on a disk with ``room`` bytes left: a write past them raises ENOSPC, and so do a
    flush and the close after it, as a buffered file's do (its close flushes the pending bytes again)."""

    def __init__(self, inner, room: int) -> None:
        self._inner, self._room, self._full = inner, room, False

    def _no_space(self) -> OSError:
        self._full = True
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def write(self, data) -> int:
        n = memoryview(data).nbytes
        if n > self._room:
            raise self._no_space()
        self._room -= n
        return self._inner.write(data)

    def flush(self) -> None:
        if self._full:
            raise self._no_space()
        self._inner.flush()

    def close(self) -> None:
        self._inner.close()
        if self._full:
            raise self._no_space()

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@pytest.fixture
def full_disk_file():
    """``full_disk_file(file, room)``: ``file`` as if its disk had ``room`` bytes left (see :class:`FullDiskFile`)."""
    return FullDiskFile


@pytest.fixture(autouse=True)
def _torch_threads():
    torch.manual_seed(0)
    yield


def pytest_collection_modifyitems(config, items):
    has_cuda = torch.cuda.is_available()
    for item in items:
        if "real_data" in item.keywords:
            item.add_marker(pytest.mark.usefixtures("real_npz"))
        if "cuda" in item.keywords and not has_cuda:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA device; none is available"))
