"""The runner with a stand-in executor (no training): store rows, skipping, sharing, failures, shards and merge,
dry-run, atomic and idempotent commits. The real executor and a SIGKILL are in test_ablate_kill.py."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest
from helpers.studies import layers_study, models_study

from gstsn.ablate.merge import merge_stores
from gstsn.ablate.plan import ShardError, dry_run, in_shard, parse_shard, plan_studies, run_states
from gstsn.ablate.runner import run_plan
from gstsn.ablate.spec import StudyError
from gstsn.ablate.store import ResultsStore, StoreError, WorkDir, atomic_write_text
from gstsn.train.checkpoint import checkpoint_path

VIEWS = [f"{18 * i:03d}" for i in range(11)]

STUDY_A = models_study("a", seeds=(0, 1, 2))
STUDY_B = layers_study("b", seeds=(0, 1, 2))


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


def test_an_axis_may_grow_and_only_the_new_cells_train(studies, tmp_path):
    b = studies[1]
    store, _, _ = run(plan_studies([b], profile="smoke"), tmp_path, FakeExecutor())
    before = read_rows(store, "b")
    b.write_text(layers_study("b", seeds=(0, 1, 2), layers=(0, 1, 2)))
    grown = plan_studies([b], profile="smoke")
    ex = FakeExecutor()
    store, _, report = run(grown, tmp_path, ex)
    new_cell = {sr.run_id for sr in grown.study_runs if sr.cell.label == "lstm_layers=1"}
    assert sorted(ex.calls) == sorted(new_cell) and len(new_cell) == 3 and report.skipped == 6
    rows = read_rows(store, "b")
    assert rows[:6] == before and {r["cell"] for r in rows[6:]} == {"lstm_layers=1"}
    assert json.loads((store.study_dir("b") / "study.json").read_text())["axes"] == {"lstm_layers": [0, 2, 1]}
    # a file that lists fewer values trains nothing new and keeps every value in study.json
    b.write_text(layers_study("b", seeds=(0, 1, 2), layers=(1, 2)))
    store, _, report = run(plan_studies([b], profile="smoke"), tmp_path, FakeExecutor())
    assert report.trained == [] and len(read_rows(store, "b")) == 9
    assert json.loads((store.study_dir("b") / "study.json").read_text())["axes"] == {"lstm_layers": [0, 2, 1]}
    # another baseline or another base still refuses the folder
    b.write_text(
        layers_study("b", seeds=(0, 1, 2), layers=(0, 1, 2)).replace(
            "[baseline]\nlstm_layers = 2", "[baseline]\nlstm_layers = 0"
        )
    )
    with pytest.raises(StoreError, match="another definition.*baseline"):
        run(plan_studies([b], profile="smoke"), tmp_path, FakeExecutor())
    b.write_text(
        layers_study("b", seeds=(0, 1, 2), layers=(0, 1, 2)).replace(
            "temporal = true", 'temporal = true\nidr_stat = "max"'
        )
    )
    with pytest.raises(StoreError, match="another definition.*base.idr_stat"):
        run(plan_studies([b], profile="smoke"), tmp_path, FakeExecutor())


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


def test_atomic_write_leaves_the_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "f.txt"
    atomic_write_text(path, "old\n")
    # failures once the temp file exists: text that cannot be encoded (raised while writing it), then a failing fsync
    # (a full or failing disk, raised after the whole text was written)
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(path, "new\n" + "x" * 100_000 + "\ud800")
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]
    fsynced = []

    def failing_fsync(fd):
        fsynced.append(fd)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("gstsn.atomic.os.fsync", failing_fsync)
    with pytest.raises(OSError, match="(?i)no space left"):
        atomic_write_text(path, "new\n")
    assert fsynced, "the write never reached the fsync"
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]
    with pytest.raises(TypeError, match="needs a str"):  # refused before any file is opened
        atomic_write_text(path, 123)  # type: ignore[arg-type]
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


class KilledAfterCheckpoint(FakeExecutor):
    """Run ``victim`` leaves the trainer's checkpoint of iteration ``at`` in its folder, then dies (killed after it);
    every other run fails before it starts (no checkpoint)."""

    def __init__(self, victim: str, at: int) -> None:
        super().__init__()
        self.victim, self.at = victim, at

    def __call__(self, spec, run_dir, *, device, cache_root, progress):
        self.calls.append(spec.run_id)
        if spec.run_id != self.victim:
            raise RuntimeError("not started")
        path = checkpoint_path(Path(run_dir) / "checkpoints", self.at)
        path.parent.mkdir(parents=True)
        path.write_bytes(b"")
        raise RuntimeError("killed")


def dry_states(plan, store, work) -> tuple[dict[tuple[str, str], tuple[str, str]], str]:
    """The dry run's rows as ``(study, run id) -> (estimate, state)``, and its totals line."""
    lines = dry_run(plan, store, work).splitlines()
    rows = {}
    for ln in lines:
        if ln.startswith(("a ", "b ")):
            study, _, _, rid, *_ = ln.split()
            est, state = ln.split("  ")[-2].strip(), ln.split("  ")[-1].removesuffix(" (shared with a)")
            rows[(study, rid)] = (est, state.removesuffix(" (shared with b)"))
    return rows, lines[-2]


def test_dry_run_lists_runs_costs_and_state(studies, tmp_path):
    plan = plan_studies(studies, profile="smoke")
    store, work = ResultsStore(tmp_path / "results"), WorkDir(tmp_path / "work")
    text = dry_run(plan, store, work)
    assert text.count("to do") == 15 and "12 runs to train" in text and "estimated time left" in text
    assert "shared with b" in text
    run(plan_studies(studies[:1], profile="smoke"), tmp_path, FakeExecutor())
    a_ids = {sr.run_id for sr in plan.studies[0].runs}
    b_only = [rid for rid in plan.runs if rid not in a_ids]
    shared = [sr.run_id for sr in plan.studies[1].runs if sr.run_id in a_ids]
    assert len(b_only) == len(shared) == 3 and [plan.runs[rid].seed for rid in b_only] == [0, 1, 2]
    rows, totals = dry_states(plan, store, work)
    assert len(rows) == 15 and "3 runs to train, 3 finished runs to copy" in totals
    assert {rows[("a", rid)] for rid in a_ids} == {("-", "done")}  # nothing left to train: no cost
    assert {rows[("b", rid)] for rid in shared} == {("-", "finished (to copy into the studies)")}
    assert {rows[("b", rid)][1] for rid in b_only} == {"to do"}
    # b's lstm_layers=0 run of seed 0 is killed after its checkpoint at iteration 10, through the runner's own path
    # (the other two fail before they start); running b also copies the shared finished runs into it
    killed = KilledAfterCheckpoint(b_only[0], at=10)
    _, _, report = run(plan_studies(studies[1:], profile="smoke"), tmp_path, killed)
    assert sorted(killed.calls) == sorted(b_only) and (b_only[0], "RuntimeError: killed") in report.failed
    assert sorted(report.copied) == sorted(shared)
    assert [work.checkpoint_iteration(rid) for rid in b_only] == [10, None, None]
    rows, totals = dry_states(plan, store, work)
    assert "3 runs to train, 0 finished runs to copy" in totals
    assert {rows[("b", rid)] for rid in shared} == {("-", "done")}
    assert [rows[("b", rid)][1] for rid in b_only] == ["resume from iteration 10", "to do", "to do"]
    # the cost left of the resumed run: the same cell's fresh estimate less the 10 of its iterations done
    est = {st.run_id: st for st in run_states(plan, store, work)}
    iterations = plan.runs[b_only[0]].config.train.iterations
    assert est[b_only[0]].estimate_s == pytest.approx(est[b_only[1]].estimate_s * (1 - 10 / iterations))
    assert 0 < est[b_only[0]].estimate_s < est[b_only[1]].estimate_s
    assert est[b_only[0]].status() == "resume from iteration 10" and est[b_only[1]].status() == "to do"
    # once everything ran, every state is done and nothing is left
    run(plan, tmp_path, FakeExecutor())
    assert {st.status() for st in run_states(plan, store, work)} == {"done"}
    rows, totals = dry_states(plan, store, work)
    assert set(rows.values()) == {("-", "done")} and "0 runs to train, 0 finished runs to copy" in totals


def test_unknown_study_name(tmp_path, studies):
    from gstsn.ablate.plan import find_study_files

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
