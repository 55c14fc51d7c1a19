"""Same inputs → byte-identical pages except the render-date line, also across processes and hash seeds."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.results_store import write_study, write_timing

from gstsn.report.render import render_report

DATE_LINE = re.compile(r'<p class="render-date">[^<]*</p>\n')


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("det") / "results"
    write_study(results, "gaitset_vs_gstsn", {"temporal": [False, True]}, {"temporal": False}, [0, 1, 2],
                {(True,): 1.0}, synthetic=False, gei=True)  # fmt: skip
    write_timing(results)
    return results


def _pages(out: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(out.glob("*.html"))}


WHEN = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def first(store) -> dict[str, str]:
    """The pages of one render at ``WHEN``."""
    render_report(store, store.parent / "a", now=WHEN)
    return _pages(store.parent / "a")


def test_two_renders_differ_only_in_the_date_line(store, first):
    render_report(store, store.parent / "b", now=dt.datetime(2026, 2, 3, 4, 5, tzinfo=dt.UTC))
    a, b = first, _pages(store.parent / "b")
    assert set(a) == set(b) == {"index.html", "study-gaitset_vs_gstsn.html", "timing.html"}
    for name in a:
        assert a[name] != b[name], f"{name}: the date line should differ"
        assert len(DATE_LINE.findall(a[name])) == 1, name
        assert DATE_LINE.sub("", a[name]) == DATE_LINE.sub("", b[name]), name
        assert "2026-01-01 12:00 UTC" in a[name] and "2026-02-03 04:05 UTC" in b[name]


def test_a_fresh_process_with_another_hash_seed_writes_the_same_bytes(store, first):
    out_c = store.parent / "c"
    code = (
        "import datetime as dt\n"
        "from gstsn.report.render import render_report\n"
        f"render_report({str(store)!r}, {str(out_c)!r}, now=dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC))\n"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for name, text in first.items():
        assert (out_c / name).read_bytes() == text.encode("utf-8"), f"{name} differs between processes"
