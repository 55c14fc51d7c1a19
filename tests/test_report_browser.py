"""The report in a real browser: Debian's chromium driven by playwright, every page opened from file://.

Checks: no console error or warning, no page error, no request other than the page's own file:// URL (and inline
data: images), every SVG plot rendered with a non-zero size, the tables present, the index links reachable. Saves a
full-page screenshot of every page under ``$GSTSN_ARTIFACTS/report-browser/`` (default: the test's tmp folder) as
the test artifact.

Needs ``chromium`` on PATH (``.ci/install-browser.sh``: ``apt-get install -y chromium``) and the ``playwright``
package (``pip install .[browser]``); no browser is downloaded. Skips with the reason when either is missing
(fails instead under ``CI``, which installs both).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from helpers.results_store import make_results
from helpers.waiting import PATIENCE_S

from gstsn.report.render import render_report

PATIENCE_MS = PATIENCE_S * 1000  # the bound on every launch, navigation and action: only a hung browser reaches it
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _missing(reason: str) -> None:
    """Skip on a developer machine; fail on CI, which installs chromium and playwright (a skip there would hide it)."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser test: {reason}")
    pytest.skip(reason)


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        _missing("no chromium on PATH: run .ci/install-browser.sh (apt-get install -y chromium)")
    return path


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    try:
        from playwright import sync_api
    except ImportError:
        _missing("playwright is not installed: pip install -e '.[browser]'")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True, timeout=PATIENCE_MS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    out = root / "reports"
    render_report(make_results(root / "results"), out)
    return out


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    base = os.environ.get("GSTSN_ARTIFACTS")
    folder = (Path(base) if base else tmp_path_factory.mktemp("artifacts")) / "report-browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _open(browser, url: str):
    """A fresh page at ``url`` with everything it logged and requested."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(PATIENCE_MS)  # playwright's 30 s would judge a loaded machine's speed
    seen = {"console": [], "errors": [], "requests": [], "failed": []}
    page.on("console", lambda m: seen["console"].append((m.type, m.text)))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.on("requestfailed", lambda r: seen["failed"].append(r.url))
    page.goto(url, wait_until="load")
    return page, seen


def test_every_page_renders_offline_without_errors(browser, report, artifacts):
    files = sorted(report.glob("*.html"))
    assert [f.name for f in files if f.name == "index.html"] == ["index.html"]
    for f in files:
        url = f.resolve().as_uri()
        page, seen = _open(browser, url)
        try:
            assert not seen["errors"], f"{f.name}: page errors {seen['errors']}"
            bad = [(t, m) for t, m in seen["console"] if t in ("error", "warning")]
            assert not bad, f"{f.name}: console {bad}"
            external = [u for u in seen["requests"] if u != url and not u.startswith("data:")]
            assert not external, f"{f.name}: requests other than the page itself: {external}"
            assert not seen["failed"], f"{f.name}: failed requests {seen['failed']}"
            sizes = page.eval_on_selector_all(
                "svg.plot", "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; })"
            )
            if f.name != "index.html":
                assert sizes, f"{f.name}: no plot"
            assert all(w > 50 and h > 50 for w, h in sizes), f"{f.name}: a plot rendered with no size: {sizes}"
            images = page.eval_on_selector_all(
                "svg.plot image",
                "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; })",
            )  # heatmap pixels and colour bars
            assert all(w > 0 and h > 0 for w, h in images), f"{f.name}: an inline image with no size: {images}"
            if f.name.startswith("study-"):
                assert page.locator("table.paper").count() == 2 and page.locator("table.summary").count() == 2
                assert page.locator("table.paper tbody tr").first.is_visible()
            if f.name == "timing.html":
                assert page.locator("table.timing").count() >= 3
                tta = page.locator("svg.plot[aria-label*='seeds shaded']")  # rank-1 against wall time
                assert tta.count() == 1 and tta.bounding_box()["width"] > 300
                assert page.get_by_text("Not measured: 12 seed pairs").is_visible()  # the folded line
            if f.name.startswith("study-"):
                assert page.locator("table.retrieval").count() == 2
            if f.name == "retrieval-gaitset_vs_gstsn.html":  # who matched: cases with thumbnails, heatmap, PCA
                assert page.locator("section.group").count() == 3  # GaitSet, GSTSN, GEI
                thumbs = page.eval_on_selector_all(
                    "figure.thumb svg image",
                    "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; })",
                )
                assert len(thumbs) > 20 and all(w >= 36 and h >= 52 for w, h in thumbs), thumbs[:5]
                assert page.locator("figure.thumb.wrong").count() > 0 and page.locator("figure.thumb.right").count()
                assert page.locator("table.attractors tbody tr").count() > 0
                assert len(sizes) == 6  # a failure heatmap and a projection per cell
            page.screenshot(path=str(artifacts / f"{f.stem}.png"), full_page=True)
        finally:
            page.close()
    assert (artifacts / "index.png").stat().st_size > 10_000


def test_index_links_open_the_pages(browser, report):
    page, seen = _open(browser, (report / "index.html").resolve().as_uri())
    try:
        hrefs = page.eval_on_selector_all("main a[href]", "els => els.map(e => e.getAttribute('href'))")
        assert {"timing.html", "study-gaitset_vs_gstsn.html"} <= set(hrefs)
        page.click("main a[href='study-gaitset_vs_gstsn.html']")
        page.wait_for_load_state("load")
        assert page.url.endswith("/study-gaitset_vs_gstsn.html")
        assert page.locator("h1").inner_text().startswith("Study: gaitset_vs_gstsn")
        assert page.get_by_text("published, not run here").first.is_visible()
    finally:
        page.close()
    assert not seen["errors"]


def test_print_layout_has_every_plot(browser, report, artifacts):
    page, _ = _open(browser, (report / "study-gaitset_vs_gstsn.html").resolve().as_uri())
    try:
        page.emulate_media(media="print")
        assert not page.locator("nav").is_visible()  # navigation is hidden on paper
        sizes = page.eval_on_selector_all("svg.plot", "els => els.map(e => e.getBoundingClientRect().width)")
        assert sizes and all(w > 50 for w in sizes)
        pdf = page.pdf(format="A4", landscape=True, print_background=True)
        (artifacts / "study-gaitset_vs_gstsn.pdf").write_bytes(pdf)
        assert pdf[:5] == b"%PDF-" and len(pdf) > 20_000
    finally:
        page.close()
