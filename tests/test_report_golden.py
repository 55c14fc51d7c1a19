"""The report of a fixed results store is fixed: a smoke-scale run of every study (``tests/fixtures/smoke-store``,
made by ``gstsn ablations run --profile smoke --seeds 0,1``) renders to the pages recorded in
``tests/fixtures/smoke-pages.json``, byte for byte except the render-date line and the line that names the results
folder and the renderer's library versions.

The SVG figures depend on the matplotlib / seaborn versions, so the full pages are compared only when those match the
recorded ones; the text of the pages (everything outside ``<svg>…</svg>``: tables, numbers, verdicts, notes, links)
is compared always. After a deliberate change of the pages, record them again with
``python tests/test_report_golden.py --record`` and say why in the commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import sys
from importlib.metadata import version
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
STORE = FIXTURES / "smoke-store"
EXPECTED = FIXTURES / "smoke-pages.json"
WHEN = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
# what differs between machines by design: the render date, and the line naming the results folder (its absolute path)
# and the renderer's library versions
DATE_LINE = re.compile(r'<p class="render-date">[^<]*</p>\n|<p>Results read from <code>.*</p>\n')
SVG = re.compile(r"<svg\b.*?</svg>", re.S)
LIBRARIES = ("matplotlib", "seaborn")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def page_digests(out: Path) -> dict[str, dict[str, str]]:
    """Per page: the SHA-256 of the page and of its text outside the SVG figures, render-date line removed."""
    pages = {}
    for path in sorted(out.glob("*.html")):
        page = DATE_LINE.sub("", path.read_text(encoding="utf-8"))
        pages[path.name] = {"page": _digest(page), "text": _digest(SVG.sub("<svg/>", page))}
    return pages


def render(out: Path) -> dict[str, dict[str, str]]:
    """The pages of the fixed store, read by its path relative to ``tests/fixtures`` (so no page names where the
    checkout is)."""
    import os

    from gstsn.report.render import render_report

    here = Path.cwd()
    os.chdir(FIXTURES)
    try:
        render_report(Path(STORE.name), out, now=WHEN)
    finally:
        os.chdir(here)
    return page_digests(out)


def test_the_fixed_store_renders_the_recorded_pages(tmp_path):
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    got = render(tmp_path / "out")
    assert sorted(got) == sorted(expected["pages"]), "the set of pages changed"
    same_libraries = all(version(lib) == expected["libraries"][lib] for lib in LIBRARIES)
    key = "page" if same_libraries else "text"
    changed = [name for name, d in got.items() if d[key] != expected["pages"][name][key]]
    assert not changed, f"pages changed ({key} compared): {changed}; see this module's docstring"


if __name__ == "__main__" and sys.argv[1:] == ["--record"]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        record = {"libraries": {lib: version(lib) for lib in LIBRARIES}, "pages": render(Path(tmp))}
    EXPECTED.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"recorded {len(record['pages'])} pages in {EXPECTED}")
