"""The real CASIA-B npz imported in the background while the GPU phases run, the LT split of what it holds, and the
dry run's tiny npz of random silhouettes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from gstsn.gpu_check.report import Report


class DataImport:
    """``gstsn data import NPZ CACHE`` in a subprocess (no GIL shared with the timing), unless the cache exists."""

    def __init__(self, npz: Path, cache: Path, rep: Report, repo: Path) -> None:
        from gstsn.data.cache import is_cache

        self.npz, self.cache, self.rep = npz, cache, rep
        self.proc: subprocess.Popen | None = None
        self.error: str | None = None
        self.t0 = time.monotonic()
        if is_cache(cache):
            rep.log(f"data: cache {cache} already there")
        elif not npz.is_file():
            self.error = f"no data at {npz} (copy the real npz there and name its folder in carry)"
            rep.log(f"data: {self.error}")
        else:
            cmd = [sys.executable, "-m", "gstsn", "data", "import", str(npz), str(cache), "--overwrite"]
            cmd.append("--no-progress")
            self.proc = subprocess.Popen(
                cmd,
                cwd=repo,
                env={**os.environ, "PYTHONPATH": str(repo)},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            rep.log(f"data: importing {npz} into {cache} in the background")

    def wait(self, timeout: float) -> Any:
        """The opened cache, or raise with the reason."""
        from gstsn.data.cache import SilhouetteCache

        if self.error:
            raise RuntimeError(self.error)
        if self.proc is not None:
            try:
                out, _ = self.proc.communicate(timeout=max(1.0, timeout))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.error = f"the import of {self.npz} did not finish within {timeout:.0f} s"
                raise RuntimeError(self.error) from None
            self.rep.raw(out or "")
            if self.proc.returncode != 0:
                self.error = f"gstsn data import exited {self.proc.returncode}: {(out or '')[-500:]}"
                raise RuntimeError(self.error)
            self.rep.log(f"data: imported in {time.monotonic() - self.t0:.1f} s")
            self.proc = None
        return SilhouetteCache.open(self.cache)


def lt_split(dataset: Any) -> Any:
    """The LT split of the subjects ``dataset`` holds."""
    from gstsn.data.splits import load_split

    return load_split("LT", sorted(set(dataset.index["subject"])))


def write_tiny_npz(path: Path, subjects: int = 10, seed: int = 0) -> Path:
    """A compact-format npz of random silhouettes (CASIA-B names, 64×44, 6-9 frames), for the dry run."""
    from gstsn.data.cache_format import packed_width
    from gstsn.data.naming import full_grid

    rng = np.random.default_rng(seed)
    grid = full_grid([f"{i:03d}" for i in range(1, subjects + 1)])
    lengths = rng.integers(6, 10, size=len(grid)).astype(np.int64)
    packed = rng.integers(0, 256, size=(int(lengths.sum()), 64, packed_width(44)), dtype=np.uint8)
    packed[..., -1] &= np.uint8(0xF0)  # the 4 pad bits of each row stay zero
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        frames=packed,
        subject=np.array([g[0] for g in grid]),
        seq_type=np.array([g[1] for g in grid]),
        view=np.array([g[2] for g in grid]),
        start=np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64),
        length=lengths,
    )
    return path


__all__ = ["DataImport", "lt_split", "write_tiny_npz"]
