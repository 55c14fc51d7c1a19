"""The results files, read in one place. runs.jsonl has one reader with one policy: a damaged line is named, kept out
of the rows and never dropped (the next commit moves it verbatim to runs.quarantined.jsonl; the report and the summary
keep naming it). A tables.csv value that is not a number is named, never turned into NaN silently."""

from __future__ import annotations

import json

import pytest

from gstsn.ablate.store import ResultsStore
from gstsn.results import QUARANTINE_FILE, read_runs
from gstsn.results.runs import check_row
from gstsn.results.summary import format_study

GOOD = {"run_id": "abc", "cell": "x", "seed": 0, "rank1.per_part.NM": 1.0}
DAMAGED = [
    ('{"run_id": "tor', "is not valid JSON"),
    ("[1, 2]", "holds a list, expected an object"),
    ('{"cell": "x"}', "lacks key(s) ['run_id']"),
    ('{"run_id": "../x"}', "which is not a plain name"),
    ('{"run_id": "abd", "rank1.per_part.NM": "high"}', "holds rank1.per_part.NM = 'high', which is not a number"),
    ('{"run_id": "abe", "rank1.flat.CL": true}', "holds rank1.flat.CL = True, which is not a number"),
]


@pytest.mark.parametrize(("line", "reason"), DAMAGED)
def test_each_kind_of_damage_is_named_with_file_and_line(tmp_path, line, reason):
    path = tmp_path / "runs.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + line + "\n")
    runs = read_runs(path)
    assert runs.rows == [GOOD]
    assert [(d.lineno, d.text) for d in runs.damaged] == [(2, line)]
    assert runs.damaged[0].describe().startswith("runs.jsonl line 2 ") and reason in runs.damaged[0].reason


def test_valid_rows_pass_including_null_and_nan_metrics():
    assert check_row({**GOOD, "rank1.per_part.BG": None, "rank1.per_part.CL": float("nan")}) is None


def test_a_commit_moves_damaged_lines_to_the_quarantine_verbatim_and_the_summary_names_them(tmp_path):
    store = ResultsStore(tmp_path)
    store.commit("s", GOOD, [["per_part", "NM", "000", "018", 1.0]], None)
    runs_path = tmp_path / "s" / "runs.jsonl"
    (tmp_path / "s" / "study.json").write_text(json.dumps({"study": "s", "axes": {}, "baseline": {}, "seeds": [0]}))
    bad = [line for line, _ in DAMAGED]
    runs_path.write_text(runs_path.read_text() + "\n".join(bad) + "\n")
    assert "WARNING: runs.jsonl line 2 is not valid JSON" in format_study(tmp_path / "s")

    store.commit("s", {**GOOD, "run_id": "abf", "seed": 1}, [["per_part", "NM", "000", "018", 2.0]], None)
    assert [r["run_id"] for r in store.rows("s")] == ["abc", "abf"]
    entries = [json.loads(x) for x in (tmp_path / "s" / QUARANTINE_FILE).read_text().splitlines()]
    assert [e["text"] for e in entries] == bad  # nothing dropped, byte for byte
    assert [e["line"] for e in entries] == [2, 3, 4, 5, 6, 7]
    summary = format_study(tmp_path / "s")
    assert summary.count(f"WARNING: {QUARANTINE_FILE} holds a line taken out of runs.jsonl") == len(bad)

    store.commit("s", {**GOOD, "run_id": "abg", "seed": 2}, [], None)  # a later commit keeps the quarantine as it is
    assert len((tmp_path / "s" / QUARANTINE_FILE).read_text().splitlines()) == len(bad)


def test_the_report_names_damaged_and_quarantined_lines(tmp_path):
    from gstsn.report.load import load_results

    store = ResultsStore(tmp_path)
    store.commit("s", GOOD, [["per_part", "NM", "000", "018", 1.0]], None)
    (tmp_path / "s" / "study.json").write_text(json.dumps({"study": "s", "axes": {}, "baseline": {}, "seeds": [0]}))
    path = tmp_path / "s" / "runs.jsonl"
    path.write_text(path.read_text() + '{"run_id": "abd", "rank1.per_part.NM": "high"}\n')
    problems = [p for study in load_results(tmp_path).studies for p in study.problems]
    assert any("runs.jsonl line 2 holds rank1.per_part.NM = 'high'" in p for p in problems), problems
    store.commit("s", {**GOOD, "run_id": "abf", "seed": 1}, [], None)
    problems = [p for study in load_results(tmp_path).studies for p in study.problems]
    assert any(f"{QUARANTINE_FILE} holds a line taken out of runs.jsonl" in p for p in problems), problems


def test_a_non_numeric_table_value_is_named_and_left_out_not_turned_into_nan(tmp_path):
    from gstsn.ablate.merge import merge_stores
    from gstsn.ablate.store import StoreError
    from gstsn.report.load import load_results

    store = ResultsStore(tmp_path / "a")
    store.commit("s", GOOD, [["per_part", "NM", "000", "018", 1.0], ["per_part", "NM", "000", "036", 2.0]], None)
    definition = {"study": "s", "axes": {}, "baseline": {}, "seeds": [0]}
    (tmp_path / "a" / "s" / "study.json").write_text(json.dumps(definition))
    tables = tmp_path / "a" / "s" / "tables.csv"
    tables.write_text(tables.read_text().replace(",2.0", ",abc"))
    study = load_results(tmp_path / "a").studies[0]
    assert "tables.csv line 3: value 'abc' is not a number; the cell is left out" in study.problems
    assert study.tables["value"].tolist() == [1.0]
    with pytest.raises(StoreError, match=r"tables.csv line 3: value 'abc' is not a number"):
        merge_stores([tmp_path / "a"], tmp_path / "merged", log=lambda _: None)
