"""Phase ``tests``: ``pytest -m cuda`` in a subprocess, its JUnit XML kept and summarised."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from gstsn.gpu_check.report import TESTS_XML_FILE, Report
from gstsn.timing.budget import Phase

OUTCOME_OF_TAG = {"failure": "failed", "error": "error", "skipped": "skipped"}
TAIL_CHARS = 1500


def junit_summary(path: Path) -> dict[str, Any]:
    """Counts and per-test outcomes of a pytest JUnit XML file."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    cases = [junit_case(case) for case in root.iter("testcase")]
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return {**counts, "cases": cases}


def junit_case(case: ET.Element) -> dict[str, Any]:
    """One ``<testcase>``: its name, outcome, time and (when it did not pass) the first 300 characters of why."""
    outcome, detail = "passed", ""
    for tag, name in OUTCOME_OF_TAG.items():
        el = case.find(tag)
        if el is not None:
            outcome, detail = name, (el.get("message") or "")[:300]
            break
    return {
        "test": f"{case.get('classname')}::{case.get('name')}",
        "outcome": outcome,
        "time_s": float(case.get("time", 0)),
        **({"detail": detail} if detail else {}),
    }


def run_cuda_tests(ph: Phase, rep: Report, tests: list[str], data: Path, repo: Path) -> dict[str, Any]:
    """``pytest -m cuda TESTS`` in ``repo`` within the phase's allowance (``data``: the real npz, for the tests that
    read it); exit code, output tail and the JUnit summary."""
    xml = rep.out / TESTS_XML_FILE
    cmd = [sys.executable, "-m", "pytest", "-m", "cuda", "-p", "no:cacheprovider", "-q", f"--junitxml={xml}", *tests]
    env = {**os.environ, "PYTHONPATH": str(repo), "GSTSN_CASIA_B_NPZ": str(data)}
    timeout = max(5.0, ph.left())
    rep.log(f"tests: {' '.join(cmd[1:])} (timeout {timeout:.0f} s)")
    try:
        proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=timeout)
        rep.raw(proc.stdout + proc.stderr)
        result: dict[str, Any] = {"exit_code": proc.returncode, "tail": (proc.stdout + proc.stderr)[-TAIL_CHARS:]}
    except subprocess.TimeoutExpired as exc:
        ph.cut("the cuda tests (pytest killed at the phase allowance)")
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        rep.raw(out)
        result = {"exit_code": None, "tail": out[-TAIL_CHARS:]}
    if xml.is_file():
        result.update(junit_summary(xml))
    rep.log(
        f"tests: {result.get('passed', '?')} passed, {result.get('failures', '?')} failed, "
        f"{result.get('errors', '?')} errors, {result.get('skipped', '?')} skipped (exit {result['exit_code']})"
    )
    return result


__all__ = ["junit_case", "junit_summary", "run_cuda_tests"]
