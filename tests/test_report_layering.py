"""The report reads result files only: it imports gstsn.config, gstsn.results, gstsn.contention (the torch-free
threshold that marks a time measured under contention), gstsn.machine (the torch-free wording of a timing run's CPU
bf16 record) and itself, never torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from helpers.results_store import write_study, write_timing

REPO = Path(__file__).resolve().parents[1]

PROBE = textwrap.dedent(
    """
    import importlib.abc, sys

    class NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError(f"torch is unimportable in this test (asked for {name})")
            return None

    sys.meta_path.insert(0, NoTorch())
    from gstsn.report.render import render_report
    import gstsn.report.commands  # noqa: F401
    result = render_report(sys.argv[1], sys.argv[2])
    assert result.pages, result
    gstsn = sorted({m.split(".")[1] for m in sys.modules if m.startswith("gstsn.") and m.count(".") >= 1})
    print(" ".join(gstsn))
    """
)


def test_report_renders_with_torch_unimportable_and_imports_only_config_and_results(tmp_path):
    results = tmp_path / "results"
    write_study(results, "gaitset_vs_gstsn", {"temporal": [False, True]}, {"temporal": False}, [0, 1],
                {(True,): 1.0}, synthetic=False, gei=True, with_matches=True)  # fmt: skip
    write_timing(results)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(results), str(tmp_path / "out")],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    packages = set(proc.stdout.split())
    assert packages <= {"atomic", "config", "contention", "machine", "report", "results"}, packages
    assert {"report", "results", "config"} <= packages
    assert (tmp_path / "out" / "index.html").is_file()
