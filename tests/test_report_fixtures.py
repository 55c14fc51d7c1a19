"""The report tests' fake results store (:mod:`helpers.results_store`) follows docs/results.md, so that the report is
tested against the schema, not against the factory's quirks."""

from __future__ import annotations

import itertools
import json

from helpers.results_store import CONDS, DISTANCES, RUN_KEYS, VIEWS, make_results


def test_factory_runs_follow_the_schema(tmp_path):
    root = make_results(tmp_path / "results")
    for study in ("gaitset_vs_gstsn", "idr_statistic", "input_type"):
        rows = [json.loads(line) for line in (root / study / "runs.jsonl").read_text().splitlines()]
        assert rows, study
        for row in rows:
            assert set(RUN_KEYS) <= set(row), set(RUN_KEYS) - set(row)
            for distance, cond in itertools.product(DISTANCES, CONDS):
                assert 0 <= row[f"rank1.{distance}.{cond}"] <= 100
                assert all(f"rank1_view.{distance}.{cond}.{v}" in row for v in VIEWS)
            assert (root / study / "runs" / row["run_id"] / "train_log.csv").is_file()
        assert len({r["run_id"] for r in rows}) == len(rows)
        if study != "input_type":
            header = (root / study / "tables.csv").read_text().splitlines()[0]
            assert header == "run_id,distance,condition,probe_view,gallery_view,value"
        definition = json.loads((root / study / "study.json").read_text())
        assert {"study", "description", "axes", "baseline", "seeds", "base", "source_file"} <= set(definition)
    timing_header = (root / "timing" / "timing.csv").read_text().splitlines()[0].split(",")
    assert timing_header[:3] == ["phase", "model", "temporal"] and timing_header[-1] == "peak_mem_bytes"
