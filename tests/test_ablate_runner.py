"""The runner with a stand-in executor (no training): store rows, skipping, sharing, failures, shards and merge,
dry-run, atomic and idempotent commits. The real executor and a SIGKILL are in test_ablate_kill.py."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from gstsn.ablate.runner import (
    ShardError,
    dry_run,
    in_shard,
    merge_stores,
    parse_shard,
    plan_studies,
    run_plan,
)
from gstsn.ablate.store import ResultsStore, StoreError, WorkDir, atomic_write_text
from gstsn.ablate.study import StudyError

VIEWS = [f"{18 * i:03d}" for i in range(11)]

STUDY_A = """
description = "a"
seeds = [0, 1, 2]
references = ["gei"]
[base]
lstm_layers = 2
[axes]
temporal = [false, true]
[baseline]
temporal = false
"""
STUDY_B = """
description = "b"
seeds = [0, 1, 2]
[base]
temporal = true
[axes]
lstm_layers = [0, 2]
[baseline]
lstm_layers = 2
"""


class FakeExecutor:
    """Deterministic rows from the run id; records the runs it was asked to execute."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.calls: list[str] = []
        self.fail = fail or set()

    def __call__(self, spec, run_dir, *, device, cache_root, progress):
        self.calls.append(spec.run_id)
        if spec.run_id in self.fail:
            raise RuntimeError("loss is nan")
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        (Path(run_dir) / "train_log.csv").write_text("iteration,loss,nonzero_frac\n1,0.2,1.0\n")
        v = int(hashlib.sha256(spec.run_id.encode()).hexdigest()[:4], 16) % 1000 / 10
        row = {"run_id": spec.run_id, "seed": spec.seed, "method": spec.method, **spec.fields()}
        row.update({f"rank1.{d}.{c}": v for d in ("per_part", "flat") for c in ("NM", "BG", "CL")})
        row.update(train_time_s=1.0, eval_time_s=0.5, device="cpu")
        tables = [
            [d, c, p, g, v] for d in ("per_part", "flat") for c in ("NM", "BG", "CL") for p in VIEWS for g in VIEWS
        ]
        return {"row": row, "tables": tables}


@pytest.fixture
def studies(tmp_path):
    folder = tmp_path / "ablations"
    folder.mkdir()
    (folder / "a.toml").write_text(STUDY_A)
    (folder / "b.toml").write_text(STUDY_B)
    return [folder / "a.toml", folder / "b.toml"]


def run(plan, tmp_path, executor, results="results", **kw):
    store, work = ResultsStore(tmp_path / results), WorkDir(tmp_path / "work")
    kw.setdefault("progress", False)
    report = run_plan(plan, store, work, executor=executor, prepare=False, log=lambda m: None, **kw)
    return store, work, report


def read_rows(store, study):
    return [json.loads(line) for line in (store.study_dir(study) / "runs.jsonl").read_text().splitlines()]


def test_rows_schema_sharing_and_skipping(studies, tmp_path):
    plan = plan_studies(studies, profile="smoke")
    assert len(plan.study_runs) == 9 + 6 and len(plan.runs) == 12  # GSTSN-2-layers x 3 seeds shared by a and b
    ex = FakeExecutor()
    store, work, report = run(plan, tmp_path, ex)
    assert sorted(ex.calls) == sorted(plan.runs) and len(report.trained) == 12
    rows = read_rows(store, "a")
    assert len(rows) == 9 and len({r["run_id"] for r in rows}) == 9
    first = rows[0]
    assert list(first)[:6] == ["run_id", "study", "cell", "is_baseline", "seed", "method"]
    for key in ("temporal", "idr_stat", "lstm_layers", "input_type", "identity_cue", "channels", "source"):
        assert key in first
    assert {r["cell"] for r in rows} == {"temporal=false", "temporal=true", "method=gei"}
    assert [r["is_baseline"] for r in rows if r["cell"] == "temporal=false"] == [True] * 3
    b_rows = read_rows(store, "b")
    shared = {r["run_id"] for r in rows} & {r["run_id"] for r in b_rows}
    assert len(shared) == 3 and {r["cell"] for r in b_rows if r["run_id"] in shared} == {"lstm_layers=2"}
    with (store.study_dir("a") / "tables.csv").open() as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 9 * 2 * 3 * 121 and list(table[0]) == ["run_id", "distance", "condition", "probe_view",
                                                               "gallery_view", "value"]  # fmt: skip
    assert (store.study_dir("a") / "runs" / first["run_id"] / "train_log.csv").is_file()
    definition = json.loads((store.study_dir("a") / "study.json").read_text())
    assert definition["axes"] == {"temporal": [False, True]} and definition["seeds"] == [0, 1, 2]
    # a second invocation skips everything
    ex2 = FakeExecutor()
    _, _, report2 = run(plan, tmp_path, ex2)
    assert ex2.calls == [] and report2.skipped == 15 and read_rows(store, "a") == rows


def test_a_finished_run_is_copied_not_retrained(studies, tmp_path):
    plan_a = plan_studies(studies[:1], profile="smoke")
    ex = FakeExecutor()
    run(plan_a, tmp_path, ex)
    ex_both = FakeExecutor()
    store, _, report = run(plan_studies(studies, profile="smoke"), tmp_path, ex_both)
    assert len(ex_both.calls) == 3  # only b's lstm_layers=0 cell; its lstm_layers=2 rows come from a's runs
    assert len(report.copied) == 3 and len(read_rows(store, "b")) == 6


def test_a_failed_run_does_not_stop_the_others(studies, tmp_path):
    plan = plan_studies(studies[:1], profile="smoke")
    bad = next(iter(plan.runs))
    store, work, report = run(plan, tmp_path, FakeExecutor(fail={bad}))
    assert [rid for rid, _ in report.failed] == [bad] and "loss is nan" in report.failed[0][1]
    assert len(read_rows(store, "a")) == 8 and work.load_result(bad) is None
    _, _, again = run(plan, tmp_path, FakeExecutor())
    assert again.trained == [bad] and len(read_rows(store, "a")) == 9


def test_seed_major_order(studies, tmp_path):
    plan = plan_studies(studies, profile="smoke")
    seeds = [spec.seed for spec in plan.runs.values()]
    assert seeds == sorted(seeds)


def test_shards_partition_the_runs_and_merge_to_the_full_store(studies, tmp_path):
    assert parse_shard("1/3") == (1, 3)
    for bad in ("3/3", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(ShardError, match="0 ≤ i < n"):
            parse_shard(bad)
    plan = plan_studies(studies, profile="smoke")
    parts = [{rid for rid in plan.runs if in_shard(rid, (i, 3))} for i in range(3)]
    assert set().union(*parts) == set(plan.runs) and sum(map(len, parts)) == len(plan.runs)
    for i in range(3):
        run(plan, tmp_path, FakeExecutor(), results=f"shard{i}", shard=(i, 3))
    full, _, _ = run(plan, tmp_path / "x", FakeExecutor(), results="full")
    added = merge_stores([tmp_path / f"shard{i}" for i in range(3)], tmp_path / "merged", log=lambda m: None)
    assert added == {"a": 9, "b": 6}
    merged = ResultsStore(tmp_path / "merged")
    for study in ("a", "b"):
        by_id = {r["run_id"]: r for r in read_rows(merged, study)}
        ref = {r["run_id"]: r for r in read_rows(full, study)}
        assert by_id.keys() == ref.keys()
        assert all(by_id[k]["rank1.per_part.NM"] == ref[k]["rank1.per_part.NM"] for k in ref)
        assert (merged.study_dir(study) / "tables.csv").read_text().count("\n") == 1 + len(ref) * 726
    assert merge_stores([tmp_path / "shard0"], tmp_path / "merged", log=lambda m: None) == {}  # idempotent


def test_study_folder_refuses_another_definition(studies, tmp_path):
    run(plan_studies(studies[:1], profile="smoke"), tmp_path, FakeExecutor())
    with pytest.raises(StoreError, match="another definition"):
        run(plan_studies(studies[:1], profile="quick"), tmp_path, FakeExecutor())
    # more seeds are fine: the stored seeds grow
    store, _, _ = run(plan_studies(studies[:1], profile="smoke", seeds=[3]), tmp_path, FakeExecutor())
    assert json.loads((store.study_dir("a") / "study.json").read_text())["seeds"] == [0, 1, 2, 3]


def test_commit_is_idempotent_and_replaces_rows(tmp_path):
    store = ResultsStore(tmp_path)
    row = {"run_id": "abc", "cell": "x", "seed": 0, "rank1.per_part.NM": 1.0}
    tables = [["per_part", "NM", "000", "018", 1.0]]
    store.commit("s", row, tables, None)
    store.commit("s", {**row, "rank1.per_part.NM": 2.0}, tables, None)
    store.commit("s", {**row, "run_id": "abd"}, tables, None)
    assert [(r["run_id"], r["rank1.per_part.NM"]) for r in store.rows("s")] == [("abc", 2.0), ("abd", 1.0)]
    lines = (tmp_path / "s" / "tables.csv").read_text().splitlines()
    assert lines == ["run_id,distance,condition,probe_view,gallery_view,value",
                     "abc,per_part,NM,000,018,1.0", "abd,per_part,NM,000,018,1.0"]  # fmt: skip
    leftovers = [p.name for p in (tmp_path / "s").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_commit_turns_the_trainers_eval_log_into_the_eval_curve(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "train_log.csv").write_text("iteration,loss\n1,0.5\n")
    (work / "eval_log.csv").write_text("iteration,wall_time,probe_set,rank1_excl,rank1_incl,distance\n")
    store = ResultsStore(tmp_path / "results")
    row = {"run_id": "abc", "cell": "x", "seed": 0}
    store.commit("s", row, [], work / "train_log.csv")
    run_dir = tmp_path / "results" / "s" / "runs" / "abc"
    assert (run_dir / "train_log.csv").is_file() and not (run_dir / "eval_curve.csv").exists(), "no evaluations yet"
    with (work / "eval_log.csv").open("a") as fh:
        fh.write("100,12.5,NM,40.25,45.0,per_part\n100,12.5,BG,30.0,33.0,per_part\n")
    store.commit("s", row, [], work / "train_log.csv")
    assert (run_dir / "eval_curve.csv").read_text().splitlines() == [
        "iteration,wall_time,distance,condition,rank1",
        "100,12.5,per_part,NM,40.25",
        "100,12.5,per_part,BG,30.0",
    ]


def test_atomic_write_leaves_the_old_file_on_failure(tmp_path):
    path = tmp_path / "f.txt"
    atomic_write_text(path, "old\n")

    with pytest.raises(TypeError):
        atomic_write_text(path, 123)  # type: ignore[arg-type]
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_dry_run_lists_runs_costs_and_state(studies, tmp_path):
    plan = plan_studies(studies, profile="smoke")
    store, work = ResultsStore(tmp_path / "results"), WorkDir(tmp_path / "work")
    text = dry_run(plan, store, work)
    assert text.count("to do") == 15 and "12 runs to train" in text and "estimated time left" in text
    assert "shared with b" in text
    run(plan_studies(studies[:1], profile="smoke"), tmp_path, FakeExecutor())
    ckpt = work.run_dir(next(rid for rid in plan.runs if rid not in store.done_ids("a"))) / "checkpoints"
    ckpt.mkdir(parents=True)
    (ckpt / "ckpt-0000010.pt").write_bytes(b"")
    lines = dry_run(plan, store, work).splitlines()
    states = [ln.split("  ")[-1] for ln in lines if ln.startswith(("a ", "b "))]
    assert sum(s.startswith("done") for s in states) == 9
    assert sum(s.startswith("finished (to copy into the studies)") for s in states) == 3
    assert sum(s.startswith("resume from iteration 10") for s in states) == 1
    assert sum(s.startswith("to do") for s in states) == 2 and "3 runs to train" in lines[-2]


def test_unknown_study_name(tmp_path, studies):
    from gstsn.ablate.runner import find_study_files

    assert find_study_files(["a"], tmp_path / "ablations") == [studies[0]]
    with pytest.raises(StudyError, match="unknown study 'c'.*studies there: a, b"):
        find_study_files(["c"], tmp_path / "ablations")


def test_atomic_writes_respect_the_umask_and_keep_an_existing_mode(tmp_path):
    import os
    import stat

    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "new.txt", "x")
        assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o640
        (tmp_path / "kept.txt").write_text("x")
        os.chmod(tmp_path / "kept.txt", 0o604)
        atomic_write_text(tmp_path / "kept.txt", "y")
        assert stat.S_IMODE((tmp_path / "kept.txt").stat().st_mode) == 0o604
    finally:
        os.umask(old)
