"""One prepared GPU check: environment, CUDA tests, the step-time matrix, LT evaluation time, paper GaitSet training.

    python bench/gpu_check.py                                   # on a GPU: everything into $OUT (or --out), ≤ 9 min
    python bench/gpu_check.py --phases train --resume-from DIR  # a later call: train only, resumed from DIR's files
    python bench/gpu_check.py --dry-run --out /tmp/gc           # the same at tiny size on the CPU (the test suite)

The entry point of :mod:`gstsn.gpu_check` (the phases, their allowances and the output files are described there and
in docs/gpu.md, with the exact device call). It puts this checkout on ``sys.path`` first, so that the device machine
runs it with the image's Python and nothing installed.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gstsn.gpu_check.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(repo=REPO))
