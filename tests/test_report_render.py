"""The rendered report: pages and links, paper tables, published numbers only beside real data, no external URL,
autoescaping, provenance on every page, the CLI, and no torch / models / train import in the report package."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path

import pytest
from helpers.results_store import VIEWS, make_results, write_study

from gstsn.report import commands
from gstsn.report.published import PUBLISHED_LABEL
from gstsn.report.render import render_report

URL_ATTRS = {"src", "href", "xlink:href", "action", "data", "poster", "srcset", "formaction", "background"}


class _Collector(HTMLParser):
    """Tags and every URL-carrying attribute of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, value)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in URL_ATTRS and value is not None:
                self.urls.append((tag, name, value))


def parse(html: str) -> _Collector:
    c = _Collector()
    c.feed(html)
    return c


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    results = make_results(root / "results")
    write_study(results, "mixed_data", {"temporal": [False, True]}, {"temporal": False}, [0, 1], {(True,): 2.0},
                synthetic=False, with_tables=False, with_eval=False)  # fmt: skip
    synth = write_study(root / "other", "mixed_data", {"temporal": [False, True]}, {"temporal": False}, [0, 1], {},
                        synthetic=True, with_tables=False, with_eval=False, with_logs=False)  # fmt: skip
    with (results / "mixed_data" / "runs.jsonl").open("a") as f:  # the same study also ran on synthetic data
        f.write((synth / "runs.jsonl").read_text())
    for run_dir in (synth / "runs").iterdir():
        run_dir.rename(results / "mixed_data" / "runs" / run_dir.name)
    out = root / "reports"
    result = render_report(results, out)
    pages = {p.name: p.read_text(encoding="utf-8") for p in result.pages}
    return out, result, pages


def test_index_links_every_page_and_every_link_resolves(rendered):
    out, result, pages = rendered
    assert [p.name for p in result.pages][0] == "index.html"
    assert set(pages) == {"index.html", "timing.html", "study-gaitset_vs_gstsn.html", "study-idr_statistic.html",
                          "study-input_type.html", "study-mixed_data.html",
                          "retrieval-gaitset_vs_gstsn.html"}  # fmt: skip
    index_links = {v for _, a, v in parse(pages["index.html"]).urls if a == "href"}
    assert set(pages) - {"index.html"} <= index_links
    for name, html in pages.items():
        for tag, attr, value in parse(html).urls:
            if value.startswith(("data:image/png;base64,", "#")):
                continue
            assert (out / value).resolve().exists(), f"{name}: <{tag} {attr}={value!r}> does not resolve"


def test_no_external_url_script_or_stylesheet(rendered):
    _, _, pages = rendered
    for name, html in pages.items():
        page = parse(html)
        for tag, attr, value in page.urls:
            if value.startswith("data:"):  # an inline image inside an SVG: no request
                assert value.startswith("data:image/png;base64,"), f"{name}: <{tag} {attr}={value[:40]!r}>"
                continue
            assert urllib.parse.urlsplit(value).scheme == "", f"{name}: <{tag} {attr}={value!r}>"
            assert "http" not in value.lower() and "//" not in value, f"{name}: <{tag} {attr}={value!r}>"
        assert not {"script", "link", "iframe", "object", "embed", "img"} & set(page.tags), name
        assert "@import" not in html and "url(http" not in html and "<!DOCTYPE svg" not in html, name
        assert html.count("<style>") == 1, name


def test_paper_style_tables(rendered):
    _, _, pages = rendered
    html = pages["study-gaitset_vs_gstsn.html"]
    for caption in ("Rank-1 % per probe view, per-part distance", "Rank-1 % per probe view, flat distance"):
        assert caption in html
    header = re.search(r"<caption>Rank-1 % per probe view, per-part.*?</thead>", html, re.S).group(0)
    cols = re.findall(r'<th scope="col">([^<]*)</th>', header)
    assert cols == ["probe", "variant", "seeds", *VIEWS, "mean"]
    body = html.split("Rank-1 % per probe view, per-part", 1)[1].split("</table>", 1)[0]
    assert all(f">{c}</th>" in body for c in ("NM", "BG", "CL"))
    assert re.search(r"\d+\.\d <small>±\d+\.\d</small>", body), "mean ± CI half-width"
    assert "method=gei" in body  # the GEI reference row


def _sections(html: str) -> dict[str, str]:
    parts = re.split(r'<section class="group" id="data-(\w+)">', html)
    return {parts[i]: parts[i + 1].split("</section>", 1)[0] for i in range(1, len(parts), 2)}


def test_published_numbers_only_beside_real_data(rendered):
    _, _, pages = rendered
    real = pages["study-gaitset_vs_gstsn.html"]
    assert PUBLISHED_LABEL in real and "97.52" in real and "GaitSet, AAAI 2019" in real
    for name in ("study-idr_statistic.html", "study-input_type.html"):
        html = pages[name]
        assert PUBLISHED_LABEL not in html and "97.52" not in html and "AAAI" not in html, name
        assert "SYNTHETIC DATA" in html and 'class="badge synthetic"' in html
    sections = _sections(pages["study-mixed_data.html"])
    assert set(sections) == {"real", "synthetic"}
    assert PUBLISHED_LABEL in sections["real"] and "97.52" in sections["real"]
    assert PUBLISHED_LABEL not in sections["synthetic"] and "97.52" not in sections["synthetic"]
    assert "SYNTHETIC DATA" in sections["synthetic"] and "SYNTHETIC DATA" not in sections["real"]


def test_verdicts_in_words_and_no_difference_without_its_interval(rendered):
    _, _, pages = rendered
    assert "Supported: the paper&#39;s choice (temporal=true)" in pages["study-gaitset_vs_gstsn.html"]
    idr = pages["study-idr_statistic.html"]
    assert "Partly supported" in idr and "1 of 9 runs collapsed" in idr
    timing = pages["timing.html"]
    assert "the per-iteration reading does not hold" in timing
    assert "Time to accuracy (cpu, gstsn-median-L2, NM): does not hold" in timing
    with_interval = re.compile(r"[+−]?\d+\.\d \[[+−]?\d+\.\d, [+−]?\d+\.\d\]")
    for name, html in pages.items():
        boxes = re.findall(r'<div class="box \w+"(?: role="note")?>(.*?)</div>', html, re.S)
        tables = re.findall(r'<table class="comparisons">(.*?)</table>', html, re.S)
        assert boxes, name
        for text in boxes + tables:
            leftover = with_interval.sub("", text)
            assert not re.search(r"[+−]\d+\.\d", leftover), f"{name}: a difference without its interval"


def test_comparisons_show_raw_and_adjusted_values_and_the_note(rendered):
    _, _, pages = rendered
    idr = _sections(pages["study-idr_statistic.html"])["synthetic"]
    box = re.search(r'<div class="box \w+" role="note">(.*?)</div>', idr, re.S).group(1)
    assert '<p class="method">Adjusted for multiplicity: the verdicts treat this group&#39;s 6 comparisons' in box
    assert "Holm–Bonferroni-adjusted p-values" in box and "Bonferroni level 0.05 / 6" in box
    # max is far below median (better / worse survive the adjustment); mean = median stays not distinguishable
    assert re.search(r"NM −\d+\.\d \[−\d+\.\d, −\d+\.\d\] worse \(p &lt; 0\.001, Holm p &lt; 0\.001\)", box)
    assert re.search(
        r"not distinguishable \(p \d\.\d+, Holm p \d\.\d+; (\d+|more than 1000) seeds for 80 % power\)", box
    )
    table = re.search(r'<table class="comparisons">(.*?)</table>', idr, re.S).group(1)
    cell = r"[+−]?\d+\.\d \[[+−]?\d+\.\d, [+−]?\d+\.\d\] <small>(better|worse|not distinguishable)</small> "
    cell += r"<small>p (&lt; )?\d\.\d+ · Holm p (&lt; )?\d\.\d+</small>"
    assert len(re.findall(cell, table)) == 2 * 2 * 3  # 2 comparisons × 2 distances × NM/BG/CL: raw CI, p, Holm p
    assert re.search(
        r"Holm p \d\.\d+</small> <small>(\d+|more than 1000) seeds for 80 % power \(now 3\)</small>", table
    )
    notes = idr.split('<table class="comparisons">', 1)[1].split("</div>", 2)[1]
    assert (
        "each distance&#39;s comparisons form one family (6 on the per_part distance, 6 on the flat distance)" in notes
    )


def test_figures_are_inline_svg_with_page_unique_ids(rendered):
    _, _, pages = rendered
    for name, html in pages.items():
        if name == "index.html":
            continue
        svgs = re.findall(r"<svg\b[^>]*>", html)
        assert svgs, name
        assert all('role="img"' in s and "aria-label=" in s for s in svgs)
        ids = re.findall(r'\bid="([^"]+)"', html)
        assert len(ids) == len(set(ids)), f"{name}: duplicate element ids"
    # points, delta, 3 heatmaps, 2 training curves, GSTSN − GaitSet against iterations
    assert len(re.findall(r"<svg\b", pages["study-gaitset_vs_gstsn.html"])) == 1 + 1 + 3 + 2 + 1
    assert "Not shown: tables.csv is missing or empty" in pages["study-input_type.html"]
    assert "tables.csv is missing" in pages["study-input_type.html"]


def test_provenance_on_every_page(rendered):
    _, _, pages = rendered
    for name, html in pages.items():
        assert re.search(r'<p class="render-date">Rendered \d{4}-\d\d-\d\d \d\d:\d\d UTC</p>', html), name
        assert "a1b2c3d4e5f6" in html and "(clean)" in html, name
        assert "rendered with: python" in html and "matplotlib" in html, name
    study = pages["study-gaitset_vs_gstsn.html"]
    expected = ["casia-3b91d0a7", "casia-b:/data/casia-b-sil-64x44.npz", "2.13.0+cpu", "smoke", "0, 1, 2"]
    expected += ["Config hashes and runs per cell", "ablations/gaitset_vs_gstsn.toml", "2026-01-01T10:00:00Z"]
    for text in expected:
        assert text in study, text
    assert "Test CPU" in pages["timing.html"]


def test_autoescaping_of_result_text(tmp_path):
    results = tmp_path / "results"
    write_study(results, "escaping", {"idr_stat": ["median", "<b>max</b>"]}, {"idr_stat": "median"}, [0, 1], {},
                synthetic=True, description='<script>alert("x")</script> & co', with_tables=False,
                with_logs=False, with_eval=False)  # fmt: skip
    result = render_report(results, tmp_path / "reports")
    for page in result.pages:
        html = page.read_text(encoding="utf-8")
        assert "<script" not in html and "<b>" not in html, page.name
    study = (tmp_path / "reports" / "study-escaping.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co" in study
    assert "idr_stat=&lt;b&gt;max&lt;/b&gt;" in study


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gstsn")
    commands.register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_cli_renders_and_lists_the_pages(tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    args = _parser().parse_args(["report", str(results), "--out", str(tmp_path / "out")])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "out" / "index.html") in out and "no study folder" in out
    assert (tmp_path / "out" / "timing.html").is_file()


def test_cli_missing_results_dir_exits_2(tmp_path, capsys):
    args = _parser().parse_args(["report", str(tmp_path / "nope")])
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert "nope does not exist" in err and not (tmp_path / "reports").exists()


def test_cli_output_that_is_a_file_exits_2_before_reading_the_results(tmp_path, capsys, monkeypatch):
    from gstsn.report import render

    def never(*args, **kwargs):
        raise AssertionError("the report was rendered")

    monkeypatch.setattr(render, "render_report", never)
    (tmp_path / "results").mkdir()
    (tmp_path / "afile").write_text("x")
    for out, message in (
        (tmp_path / "afile", f"--out {tmp_path / 'afile'} is a file; expected a folder (it is created when missing)"),
        (tmp_path / "afile" / "r", f"--out {tmp_path / 'afile'} is a file, so the folder {tmp_path / 'afile' / 'r'}"),
    ):
        args = _parser().parse_args(["report", str(tmp_path / "results"), "--out", str(out)])
        assert args.func(args) == 2
        assert capsys.readouterr().err.startswith(f"gstsn report: error: {message}")
    assert (tmp_path / "afile").read_text() == "x"


def test_report_package_never_imports_torch_models_or_train(tmp_path):
    (tmp_path / "results").mkdir()
    code = (
        "import sys\n"
        "from gstsn.report import commands\n"
        "from gstsn.report.render import render_report\n"
        f"render_report({str(tmp_path / 'results')!r}, {str(tmp_path / 'out')!r})\n"
        "bad = sorted(m for m in sys.modules\n"
        "             if m == 'torch' or m.startswith(('torch.', 'gstsn.models', 'gstsn.train')))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_long_point_plot_labels_break_after_their_equals_sign_all_alike():
    from gstsn.report.figures import _fit_labels, _label_chars

    labels = ["idr_stat=median", "idr_stat=max", "idr_stat=max+median"]
    fits = _label_chars(11.0, 2, 5)  # the idr_statistic page: 5 cells, two distance panels
    assert len("idr_stat=max+median") > fits
    assert _fit_labels(labels, fits) == ["idr_stat=\nmedian", "idr_stat=\nmax", "idr_stat=\nmax+median"]
    assert _fit_labels(["layers=1", "layers=2"], fits) == ["layers=1", "layers=2"]  # they fit: unchanged


def test_variant_and_value_labels_come_from_the_component_registry():
    from gstsn.report.labels import value_label, variant_label

    old_row = {"model": "gstsn", "idr_stat": "median", "lstm_layers": 2}  # before temporal_module: the LSTM
    assert variant_label(old_row) == "GSTSN median, LSTM×2"
    tconv = {"model": "gstsn", "idr_stat": "median", "lstm_layers": None, "temporal_module": "tconv"}
    assert variant_label(tconv) == "GSTSN median, temporal conv k=3"
    assert variant_label({"model": "gaitset", "temporal": False, "idr_stat": None}) == "GaitSet"
    unknown = {"model": "gstsn", "idr_stat": "max", "temporal_module": "gru"}  # a row from a process that had a gru
    assert variant_label(unknown) == "GSTSN max, gru" and value_label("temporal_module", "gru") == "gru"
    assert value_label("temporal_module", "tconv") == "tconv (temporal conv k=3)"
    assert value_label("temporal_module", "lstm", {"lstm_layers": 2}) == "lstm (LSTM×2)"
    assert value_label("idr_stat", "median") == "median" and value_label("idr_stat", "max+median") == "max+median"
