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


# ----------------------------------------------------------------------------------------------------------------------
# Impossible metric values: named with file, line, key and value, left out of every mean and comparison, kept on disk


def _two_cells(tmp_path, values: dict[tuple[int, int], object]):
    """A two-cell study (lstm_layers 0 vs the baseline 2, seeds 0 and 1) whose NM rank-1 of (layers, seed) is
    ``values`` where given, else 50 + seed; BG and CL plausible."""
    folder = tmp_path / "res" / "s"
    folder.mkdir(parents=True)
    definition = {"study": "s", "axes": {"lstm_layers": [0, 2]}, "baseline": {"lstm_layers": 2}, "seeds": [0, 1]}
    (folder / "study.json").write_text(json.dumps(definition))
    rows = []
    for layers in (0, 2):
        for seed in (0, 1):
            rows.append(
                {
                    "run_id": f"r{layers}{seed}",
                    "cell": f"lstm_layers={layers}",
                    "seed": seed,
                    "method": "gstsn",
                    "lstm_layers": layers,
                    "rank1.per_part.NM": values.get((layers, seed), 50.0 + seed),
                    "rank1.per_part.BG": 40.0 + seed + layers,
                    "rank1.per_part.CL": 30.0 + seed,
                }  # fmt: skip
            )
    (folder / "runs.jsonl").write_text("".join(json.dumps(r, allow_nan=True) + "\n" for r in rows))
    return folder


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("rank1.per_part.NM", 140, "outside [0, 100]"),
        ("rank1.flat.CL", -40.0, "outside [0, 100]"),
        ("rank5.per_part.BG", 1e308, "outside [0, 100]"),
        ("map.flat.NM", float("nan"), "not finite"),
        ("minp.per_part.CL", float("inf"), "not finite"),
        ("cv_rank1.per_part.NM", -float("inf"), "not finite"),
        ("cv_map.flat.BG", 100.5, "outside [0, 100]"),
        ("rank1_view.per_part.NM.090", 101, "outside [0, 100]"),
        ("map.per_part.NM", "high", "not a number"),
    ],
)
def test_an_impossible_metric_value_is_named_and_left_out_of_the_row(tmp_path, key, value, why):
    from gstsn.results.metrics import impossible_percentage, is_percentage_key

    assert is_percentage_key(key) and impossible_percentage(value) == why
    path = tmp_path / "runs.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps({**GOOD, "run_id": "abd", "minp.flat.BG": 7.5, key: value}))
    runs = read_runs(path)
    assert runs.damaged == [] and [r["run_id"] for r in runs.rows] == ["abc", "abd"]
    assert runs.rows[1][key] is None and runs.rows[1]["minp.flat.BG"] == 7.5  # that value only is left out
    assert json.dumps(runs.stored_rows[1][key]) == json.dumps(value)  # the row as stored keeps it (for a writer)
    [problem] = runs.problems()
    assert problem.startswith(
        f"runs.jsonl line 2 (run abd) holds an impossible metric value: {key} = {value!r} ({why})"
    )
    assert "left out of every mean and comparison" in problem


def test_possible_values_and_null_pass():
    from gstsn.results.metrics import impossible_percentage, is_percentage_key

    assert [impossible_percentage(v) for v in (None, 0, 0.0, 57.3, 100, 100.0)] == [None] * 6
    assert not is_percentage_key("train_time_s") and not is_percentage_key("rank1") and not is_percentage_key("seed")


def test_summary_and_report_name_impossible_values_and_give_no_verdict_on_them(tmp_path, capsys):
    """rank-1 -40 in one cell and 140 in the other gave "NM −180.0 [−180.0, −180.0] worse"; NaN was dropped in
    silence and 1e308 gave a 300-digit mean."""
    from gstsn.cli import main

    folder = _two_cells(tmp_path, {(0, 0): -40, (0, 1): -40, (2, 0): 140, (2, 1): 140})
    path = folder / "runs.jsonl"
    lines = path.read_text().splitlines()
    lines[0] = lines[0].replace('"rank1.per_part.CL": 30.0', '"rank1.per_part.CL": 1e308')
    lines[1] = lines[1].replace('"rank1.per_part.BG": 41.0', '"rank1.per_part.BG": NaN')
    path.write_text("\n".join(lines) + "\n")
    before = path.read_bytes()

    assert main(["ablations", "summary", "--results", str(tmp_path / "res")]) == 0
    out = capsys.readouterr().out
    assert "WARNING: runs.jsonl line 1 (run r00) holds 2 impossible metric values: rank1.per_part.NM = -40 " in out
    assert "rank1.per_part.CL = 1e+308 (outside [0, 100])" in out
    assert "runs.jsonl line 2 (run r01) holds 2 impossible metric values" in out and "BG = nan (not finite)" in out
    assert "runs.jsonl line 3 (run r20) holds an impossible metric value: rank1.per_part.NM = 140 (outside" in out
    assert "-180" not in out and "worse" not in out and "NM n/a (0 paired seeds)" in out
    cell0 = next(line for line in out.splitlines() if line.startswith("lstm_layers=0"))
    assert cell0.split()[1:4] == ["—", "40.0", "(1"] and "31.0 (1 seed)" in cell0  # no 300-digit mean

    assert main(["report", str(tmp_path / "res"), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "s: runs.jsonl line 3 (run r20) holds an impossible metric value: rank1.per_part.NM = 140" in out
    assert "s: runs.jsonl line 1 (run r00) holds 2 impossible metric values" in out
    page = (tmp_path / "out" / "study-s.html").read_text()
    assert "rank1.per_part.NM = 140" in page and "−180" not in page
    assert path.read_bytes() == before  # the readers change nothing on disk


def test_a_commit_and_a_merge_keep_an_impossible_value_as_stored(tmp_path):
    from gstsn.ablate.merge import merge_stores

    store = ResultsStore(tmp_path / "a")
    store.commit("s", {**GOOD, "rank1.per_part.BG": 140}, [], None)
    (tmp_path / "a" / "s" / "study.json").write_text(
        json.dumps({"study": "s", "axes": {}, "baseline": {}, "seeds": [0]})
    )
    store.commit("s", {**GOOD, "run_id": "abf", "seed": 1}, [], None)  # rewrites runs.jsonl
    assert json.loads((tmp_path / "a" / "s" / "runs.jsonl").read_text().splitlines()[0])["rank1.per_part.BG"] == 140
    assert store.rows("s")[0]["rank1.per_part.BG"] is None
    merge_stores([tmp_path / "a"], tmp_path / "m", log=lambda _: None)
    merged = read_runs(tmp_path / "m" / "s" / "runs.jsonl")
    assert merged.stored_rows[0]["rank1.per_part.BG"] == 140 and len(merged.damaged_values) == 1
