"""One results store, many writers: processes that commit rows into the same studies at the same time (as Slurm jobs
on a shared filesystem do) lose none, duplicate none and leave every file whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from helpers.waiting import wait_until

from gstsn.ablate.store import TABLES_COLUMNS, ResultsStore

WRITERS = 4
RUNS_EACH = 12
STUDIES = ("alpha", "beta")

# One writer: say it is ready, wait for the start file, then commit RUNS_EACH runs of its own to both studies, and the
# run "shared" (every writer commits it: the store keeps one copy).
WRITER = """
import sys, time
from pathlib import Path
from gstsn.ablate.store import ResultsStore
root, start, w, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
store = ResultsStore(root)
log = root.parent / f"log-{w}.csv"
log.write_text("iteration,loss\\n1,0.5\\n")
(root.parent / f"ready-{w}").touch()
bound = time.monotonic() + 600  # only if the test died before starting the writers
while not start.exists():
    if time.monotonic() > bound:
        sys.exit(f"writer {w}: gave up after 600 s waiting for the start file {start}")
    time.sleep(0.001)
for i in range(n + 1):
    rid = f"{w:02d}{i:010x}" if i < n else "shared"
    for study in ("alpha", "beta"):
        row = {"run_id": rid, "study": study, "writer": w, "rank1.per_part.NM": float(i)}
        tables = [["per_part", "NM", "000", f"{v * 18:03d}", float(v)] for v in range(11)]
        store.commit(study, row, tables, log)
"""


def test_concurrent_processes_commit_every_row_once(tmp_path):
    root, start = tmp_path / "results", tmp_path / "start"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(root), str(start), str(w), str(RUNS_EACH)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(WRITERS)
    ]
    try:
        ready = [tmp_path / f"ready-{w}" for w in range(WRITERS)]
        wait_until(lambda: all(r.exists() for r in ready), f"all {WRITERS} writers to wait at the start line", *procs)
        start.touch()
        for p in procs:
            _, err = p.communicate(timeout=300)
            assert p.returncode == 0, err[-2000:]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    store = ResultsStore(root)
    expected = {f"{w:02d}{i:010x}" for w in range(WRITERS) for i in range(RUNS_EACH)} | {"shared"}
    for study in STUDIES:
        lines = (root / study / "runs.jsonl").read_text().splitlines()
        rows = [json.loads(line) for line in lines]  # every line whole
        ids = [r["run_id"] for r in rows]
        assert len(ids) == len(set(ids)), f"{study}: duplicated rows"
        assert set(ids) == expected, f"{study}: lost rows {sorted(expected - set(ids))[:5]}"
        assert all(r["study"] == study for r in rows)
        tables = (root / study / "tables.csv").read_text().splitlines()
        assert tables[0] == ",".join(TABLES_COLUMNS)
        assert len(tables) == 1 + 11 * len(expected) and len(set(tables)) == len(tables)
        assert {t.split(",")[0] for t in tables[1:]} == expected
        for rid in expected:
            assert (root / study / "runs" / rid / "train_log.csv").read_text() == "iteration,loss\n1,0.5\n"
        assert store.done_ids(study) == expected
        leftovers = [p.name for p in (root / study).iterdir() if p.name.startswith(".") and p.name != ".lock"]
        assert not leftovers, f"temporary files left behind: {leftovers}"
