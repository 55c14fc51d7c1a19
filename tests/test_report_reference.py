"""Committed reference stores (``gstsn report RESULTS --reference DIR``): merged study by study, as their own group."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from helpers.results_store import write_study, write_timing

from gstsn.report.load import ResultsDirError, load_results
from gstsn.report.reference import merge_reference
from gstsn.report.render import render_report

WHEN = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "reference" / "casia-b-cpu"
COMMITTED_STORES = sorted(p for p in (REPO / "reference").iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ref")
    fresh, ref = root / "results", root / "reference"
    write_study(fresh, "gaitset_vs_gstsn", {"temporal": [False, True]}, {"temporal": False}, [0, 1, 2],
                {(True,): 1.0}, synthetic=True, gei=True)  # fmt: skip
    write_timing(fresh)
    write_study(ref, "gaitset_vs_gstsn", {"temporal": [False, True]}, {"temporal": False}, [0, 1, 2, 3],
                {(True,): -2.0}, synthetic=False, gei=True)  # fmt: skip
    write_study(ref, "idr_statistic", {"idr_stat": ["median", "max"]}, {"idr_stat": "median"}, [0, 1, 2],
                {("max",): 1.0}, synthetic=False)  # fmt: skip
    return fresh, ref


def test_merge_adds_reference_runs_as_their_own_data_group(stores):
    fresh, ref = stores
    merged = merge_reference(load_results(fresh), load_results(ref))
    study = {s.name: s for s in merged.studies}
    headline = study["gaitset_vs_gstsn"]
    assert len(headline.runs) == 3 * 3 + 4 * 3  # 2 cells + GEI, 3 fresh seeds and 4 reference seeds
    assert sorted(headline.runs["synthetic"].unique().tolist()) == [False, True]
    assert set(headline.train_logs["run_id"]) == set(headline.runs[headline.runs["method"] != "gei"]["run_id"])
    real = headline.runs[~headline.runs["synthetic"].astype(bool)]
    assert {headline.run_dir(r).parent.parent for r in real["run_id"]} == {ref / "gaitset_vs_gstsn"}
    assert headline.baseline == "temporal=false"
    assert "idr_statistic" in study and len(study["idr_statistic"].runs) == 6  # only in the reference store
    assert merged.problems == []  # the reference store's missing timing/ folder is not a problem
    assert [r.n_runs for r in merged.references] == [12 + 6]


def test_report_shows_reference_rows_beside_published_numbers(stores, tmp_path):
    fresh, ref = stores
    result = render_report(fresh, tmp_path / "out", now=WHEN, references=(ref,))
    assert result.problems == []
    index = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert "Committed reference results" in index and str(ref.as_posix()) in index
    page = (tmp_path / "out" / "study-gaitset_vs_gstsn.html").read_text(encoding="utf-8")
    real_at, synth_at = page.index("Real CASIA-B"), page.index("Synthetic data (procedural")
    assert real_at < synth_at  # the real group first, its own section
    assert page.count("published, not run here") >= 1 and page.index("97.52") < synth_at  # only beside real rows
    assert (tmp_path / "out" / "study-idr_statistic.html").is_file()
    # without --reference the pages are what they were: tests/test_report_golden.py


def test_missing_reference_store_is_a_clear_error(stores, tmp_path):
    fresh, _ = stores
    with pytest.raises(ResultsDirError, match="nowhere"):
        render_report(fresh, tmp_path / "out", references=(tmp_path / "nowhere",))


def test_the_cpu_real_store_is_committed():
    assert COMMITTED.is_dir(), f"{COMMITTED} is part of the repository (docs/reference.md)"


@pytest.mark.parametrize("committed", COMMITTED_STORES, ids=lambda p: p.name)
def test_committed_reference_store_loads_and_renders_without_notes(tmp_path, committed):
    """Each real CASIA-B store under reference/ (docs/reference.md): complete, portable, one profile, renderable."""
    store = load_results(committed)
    assert store.studies, "no study in the committed reference store"
    profiles = {p for study in store.studies for p in study.runs["profile"].dropna()}
    assert len(profiles) == 1, f"{committed.name}: one profile per store, found {sorted(profiles)}"
    for study in store.studies:
        assert study.problems == [], (study.name, study.problems)
        assert study.missing_runs == [], (study.name, study.missing_runs)
        assert not study.runs["synthetic"].astype(bool).any(), f"{study.name}: synthetic rows in the real store"
        for source in study.runs["data_source"]:
            assert source.startswith("casia-b:") and "/" not in source, source  # portable, no local path
        assert not list(study.path.rglob("*.pt")), "checkpoints are not committed"
        assert json.loads((study.path / "study.json").read_text())["seeds"]
    result = render_report(committed, tmp_path / "out", now=WHEN)  # the store alone: its own pages
    assert [p for p in result.problems if not p.startswith("no timing/ folder")] == []  # it has no timing folder
    page = (tmp_path / "out" / "study-gaitset_vs_gstsn.html").read_text(encoding="utf-8")
    assert "Real CASIA-B" in page and "97.52" in page and "Synthetic data" not in page


def test_markdown_summary_gives_means_with_intervals_seeds_and_minutes(stores):
    from gstsn.results.summary import markdown_summary

    _, ref = stores
    lines = markdown_summary(ref / "gaitset_vs_gstsn").splitlines()
    assert lines[0] == "| cell | method | NM | BG | CL | seeds | train min / run | eval min / run |"
    rows = {line.split(" | ")[1]: line for line in lines[2:]}
    assert set(rows) == {"GaitSet", "GSTSN", "GEI (non-learned)"}
    assert rows["GaitSet"].count(" ± ") == 3 and "| 0,1,2,3 |" in rows["GaitSet"]
    assert rows["GEI (non-learned)"].endswith(" | 2.1 | 0.3 |")  # the fixture's ~125 s and ~20 s per run


def test_training_times_measured_under_contention_are_marked_in_the_page_and_markdown_tables(tmp_path):
    from gstsn.results.summary import markdown_summary

    study = write_study(tmp_path / "ref", "lstm_layers", {"lstm_layers": [0, 2]}, {"lstm_layers": 2}, [0, 1],
                        {(0,): 1.0}, synthetic=False, with_tables=False, with_logs=False)  # fmt: skip
    rows = [json.loads(line) for line in (study / "runs.jsonl").read_text().splitlines()]
    for row in rows:  # one run of lstm_layers=0 shared the cores; the other cell is quiet or predates the record
        row["cpu_others_share"] = 0.4 if (row["lstm_layers"], row["seed"]) == (0, 1) else None
    (study / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    lines = markdown_summary(study).splitlines()
    marked = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[-2].endswith(" †") for line in lines[2:4]}
    assert marked == {"lstm_layers=0": True, "lstm_layers=2": False}
    assert lines[-1].startswith("† measured under contention: other processes took over 10% of the CPUs")
    render_report(tmp_path / "ref", tmp_path / "out")
    page = (tmp_path / "out" / "study-lstm_layers.html").read_text(encoding="utf-8")
    table = page[page.index("Rank-1 summary, per-part distance") :]
    assert table[: table.index("</table>")].count("† <small>") == 1  # lstm_layers=0's time, not lstm_layers=2's
    assert "† measured under contention: other processes took over 10% of the CPUs" in table


def test_real_runs_of_two_profiles_form_two_groups_never_one_table(tmp_path):
    """A fresh real-data run (here at `paper`) beside a committed reference store at another profile: one group each
    on the study page and on the retrieval page, never one table with two runs of a seed per cell."""
    from gstsn.report.retrieval import retrieval_page
    from gstsn.report.verdicts import data_groups

    fresh, ref = tmp_path / "results", tmp_path / "reference"
    for root, seeds, profile in ((fresh, [0, 1], "paper"), (ref, [0, 1, 2], "smoke")):
        write_study(root, "gaitset_vs_gstsn", {"temporal": [False, True]}, {"temporal": False}, seeds, {(True,): 1.0},
                    synthetic=False, with_matches=True, profile=profile)  # fmt: skip
    merged = merge_reference(load_results(fresh), load_results(ref))
    (headline,) = merged.studies
    groups = data_groups(headline)
    assert [g.title for g in groups] == ["Real CASIA-B · profile paper", "Real CASIA-B · profile smoke"]
    assert [sorted(set(g.runs["seed"])) for g in groups] == [[0, 1], [0, 1, 2]]
    assert not any(g.runs.duplicated(["cell", "seed"]).any() for g in groups)  # one run per seed and cell
    page = retrieval_page(headline)
    ours = {s.cell: s.run_id for s in page.sections}
    assert set(ours) == {f"{c} · Real CASIA-B · profile {p}" for c in ("temporal=false", "temporal=true")
                         for p in ("paper", "smoke")}  # fmt: skip
    for g in groups:  # each section shows a run of its own group
        for cell in g.cells:
            assert ours[f"{cell} · {g.title}"] in set(g.runs["run_id"])
    render_report(fresh, tmp_path / "out", now=WHEN, references=(ref,))
    html = (tmp_path / "out" / "study-gaitset_vs_gstsn.html").read_text(encoding="utf-8")
    assert "Real CASIA-B · profile paper" in html and "Real CASIA-B · profile smoke" in html
