"""``gstsn ablations run --launcher slurm`` against a real one-node Slurm (``.ci/slurm-up.sh``): the store equals a
local run's row for row; a job preempted with ``scancel --signal=TERM`` mid-training is requeued, resumes from its
checkpoint and gives the uninterrupted row; a failed job is reported with its log file.

Cost: two tiny studies at the smoke profile (4 distinct runs, 5 rows: a run shared by both studies and a GEI row) at
120 iterations, and one failing job. Skipped with the reason when no cluster can be started here (no root, Slurm not
installed); under CI (``CI`` set) that is a failure instead.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.studies import layers_study, models_study
from helpers.waiting import last_logged_iteration, wait_until

from gstsn.data import open_dataset
from gstsn.results.row import VOLATILE_KEYS

REPO = Path(__file__).resolve().parents[1]
DATA = "synth:subjects=6,frames_min=8,frames_max=12"
ITERATIONS = 120
STUDY_LAYERS = layers_study("slurm test: layers")
STUDY_MODELS = models_study("slurm test: models")
STUDY_ONE = layers_study("slurm test: one run", layers=(2,), temporal=False)
#: fields that legitimately differ between two executions of one run: times, the date, where a run resumed from
VOLATILE = VOLATILE_KEYS
FOLDERS = ("local", "slurm")
ENV = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def cluster():
    """The one-node cluster, started by .ci/slurm-up.sh when it is not up (it never installs anything here)."""
    try:
        proc = subprocess.run(
            ["bash", str(REPO / ".ci" / "slurm-up.sh"), "--no-install"], capture_output=True, text=True, timeout=180
        )
        reason = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] if proc.returncode else None
    except (OSError, subprocess.TimeoutExpired) as exc:
        reason = [f"{type(exc).__name__}: {exc}"]
    if reason is not None:
        msg = f"no Slurm cluster here ({' '.join(reason) or 'slurm-up.sh failed'})"
        if os.environ.get("CI"):
            pytest.fail(f"{msg}; CI must run the Slurm tests (.ci/run starts the cluster)")
        pytest.skip(msg)


@pytest.fixture(scope="module")
def root(tmp_path_factory, cluster):
    root = tmp_path_factory.mktemp("slurm")
    for name, text in (("layers", STUDY_LAYERS), ("models", STUDY_MODELS)):
        (root / "ablations").mkdir(exist_ok=True)
        (root / "ablations" / f"{name}.toml").write_text(text)
    (root / "one").mkdir()
    (root / "one" / "one.toml").write_text(STUDY_ONE)
    open_dataset(DATA, root / "cache")  # generated once, before any job starts
    return root


def command(root: Path, name: str, *extra: str, sub: str = "run", studies: str = "ablations") -> list[str]:
    return [
        sys.executable, "-m", "gstsn.ablate", sub,
        "--studies-dir", str(root / studies), "--results", str(root / name / "results"),
        "--work", str(root / name / "work"), "--cache-root", str(root / "cache"),
        "--profile", "smoke", "--data", DATA, "--set", f"iterations={ITERATIONS}", "--set", "checkpoint_every=50",
        *extra,
    ]  # fmt: skip


def slurm_args(*extra: str) -> tuple[str, ...]:
    return (
        "--launcher", "slurm", "--poll", "0.5", "--partition", "debug", "--cpus-per-job", "1", "--mem-gb", "1",
        "--time-limit", "20", "--sbatch=--comment=gstsn-test", *extra,
    )  # fmt: skip


def run(cmd: list[str], check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def rows(root: Path, name: str, study: str) -> dict[str, dict]:
    path = root / name / "results" / study / "runs.jsonl"
    return {r["run_id"]: r for r in map(json.loads, path.read_text().splitlines())} if path.is_file() else {}


def losses(path: Path) -> list[tuple[str, ...]]:
    with path.open(newline="") as fh:
        return [(r["iteration"], r["loss"], r["dist_ap"], r["dist_an"], r["nonzero_frac"]) for r in csv.DictReader(fh)]


@pytest.fixture(scope="module")
def sweep(root):
    """A local run of both studies, and the same through Slurm with one job preempted (SIGTERM) mid-training; then a
    second ``run --launcher slurm`` that waits for the jobs already queued instead of submitting them again."""
    run(command(root, "local", "--jobs", "2", "--threads", "1", "--device", "cpu", "--no-progress"))
    first = run(command(root, "slurm", *slurm_args("--no-wait")))
    assert "submitted 4 run(s) as Slurm job array" in first.stderr, first.stderr
    records = [json.loads(line) for line in (root / "slurm" / "work" / "slurm" / "jobs.jsonl").read_text().splitlines()]
    work = root / "slurm" / "work"

    def mid_training() -> dict | None:  # 50 iterations before the run's last checkpoint: a look every few ms sees it
        return next((r for r in records if 20 <= last_logged_iteration(work / r["run_id"]) < ITERATIONS - 50), None)

    preempted = wait_until(mid_training, f"a Slurm job between iterations 20 and {ITERATIONS - 50} of its training")
    preempt(preempted)
    second = run(command(root, "slurm", *slurm_args()))
    return {"preempted": preempted, "first": first, "second": second}


def preempt(rec: dict) -> None:
    """``scancel --signal=TERM`` the job of ``rec``, once. slurmctld 22.05 can answer "Job can not be altered now" to
    the signal it has just delivered; scancel then retries after 5 s and would signal the requeued job again: it is
    stopped as soon as the job's log shows the signal arrived (or when it ends by itself)."""
    log = Path(rec["stderr"])
    scancel = subprocess.Popen(["scancel", "--signal=TERM", rec["job_id"]], stderr=subprocess.PIPE, text=True)
    try:
        wait_until(
            lambda: scancel.poll() is not None or (log.is_file() and "interrupted by signal 15" in log.read_text()),
            f"job {rec['job_id']} to log the SIGTERM of scancel ({log})",
        )
    finally:
        if scancel.poll() is None:
            scancel.kill()
        scancel.wait()


def test_slurm_store_equals_a_local_run_row_for_row(root, sweep):
    second = sweep["second"]
    assert "run(s) as Slurm job array" not in second.stderr, second.stderr  # nothing submitted twice
    # the preempted job was requeued and resumed from its checkpoint: either the second call found it still queued
    # (and waited), or it had already finished, its row saying it resumed; both mean it was not submitted again
    preempted = sweep["preempted"]
    waited = f"{preempted['job_id']}; not submitted again" in second.stderr
    resumed = [
        r for s in ("layers", "models") for r in rows(root, "slurm", s).values() if r["run_id"] == preempted["run_id"]
    ]
    assert waited or (resumed and all(r.get("resumed_from") for r in resumed)), (second.stderr, resumed)
    assert ", 0 failed;" in second.stdout, second.stdout
    for study, n in (("layers", 2), ("models", 3)):
        local, on_slurm = rows(root, "local", study), rows(root, "slurm", study)
        assert len(local) == n and sorted(on_slurm) == sorted(local), study
        for rid, row in local.items():
            other = on_slurm[rid]
            assert set(other) == set(row)
            differs = {k for k in row if row[k] != other[k]}
            assert differs <= VOLATILE, f"{study} run {rid}: {sorted(differs - VOLATILE)} differ"
            if row["method"] != "gei":
                assert losses(root / "slurm" / "results" / study / "runs" / rid / "train_log.csv") == losses(
                    root / "local" / "results" / study / "runs" / rid / "train_log.csv"
                )
        tables = [
            sorted((root / f / "results" / study / "tables.csv").read_text().splitlines()) for f in ("local", "slurm")
        ]
        assert tables[0] == tables[1] and len(tables[0]) == 1 + n * 2 * 3 * 121
    submission = next((root / "slurm" / "work" / "slurm").glob("*/*_submission.sh")).read_text()
    for line in ("--partition=debug", "--mem=1GB", "--time=20", "--comment=gstsn-test", "--array=0-3"):
        assert f"#SBATCH {line}" in submission


def test_a_preempted_job_is_requeued_and_resumes_to_the_same_row(root, sweep):
    rec = sweep["preempted"]
    log = Path(rec["stderr"]).read_text()
    assert "interrupted by signal 15" in log and f"requeueing job {rec['job_id']}" in log, log[-3000:]
    assert log.count(f"run {rec['run_id']} (") == 2  # started twice: before the signal and after the requeue
    study = rec["studies"][0]
    row, clean = rows(root, "slurm", study)[rec["run_id"]], rows(root, "local", study)[rec["run_id"]]
    assert clean["resumed_from"] is None and 20 <= row["resumed_from"] < ITERATIONS
    assert {k: v for k, v in row.items() if k not in VOLATILE} == {k: v for k, v in clean.items() if k not in VOLATILE}
    assert losses(root / "slurm" / "work" / rec["run_id"] / "train_log.csv") == losses(
        root / "local" / "work" / rec["run_id"] / "train_log.csv"
    )


def test_status_after_the_sweep_counts_every_run_done(root, sweep):
    out = run(command(root, "slurm", sub="status")).stdout
    table = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:] if line.strip()}
    assert table == {"layers": ["0", "0", "2", "0"], "models": ["0", "0", "3", "0"]}, out


def test_a_failed_job_is_reported_with_its_log(root):
    bad = [a if a != DATA else "casia-b:/nonexistent/casia-b.npz" for a in command(root, "bad", studies="one")]
    proc = run([*bad, *slurm_args()], check=False)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "FAILED one: lstm_layers=2, seed 0" in proc.stderr and "no such file or folder" in proc.stderr
    out = run([*[a if a != "run" else "status" for a in bad]]).stdout
    assert out.splitlines()[2].split() == ["one", "0", "0", "0", "1"], out
    failed = next(line for line in out.splitlines() if "DataSpecError" in line)
    log = Path(failed.rsplit("; log ", 1)[1])
    assert log.is_file() and "no such file or folder /nonexistent/casia-b.npz" in log.read_text()


@pytest.mark.slow
def test_torchrun_under_srun_trains_with_two_processes(root):
    """The docs' sbatch for multi-node torchrun, on one node with 2 CPU processes: srun starts
    gstsn.train.slurm_torchrun, which starts torchrun with the rendezvous from SLURM_*; the run trains with DDP."""
    data = open_dataset(DATA, root / "cache").path
    script = root / "ddp.sbatch"
    script.write_text(
        "#!/bin/bash\n"
        "#SBATCH --nodes=1\n#SBATCH --ntasks-per-node=1\n#SBATCH --cpus-per-task=2\n"
        f"#SBATCH --output={root / 'ddp.out'}\n"
        f"srun {sys.executable} -m gstsn.train.slurm_torchrun --nproc-per-node 2 -- -m gstsn train --profile smoke "
        f"--data {data} --iterations 3 --out {root / 'ddp'} --no-progress --device cpu --no-eval\n"
    )
    proc = subprocess.run(["sbatch", "--wait", str(script)], capture_output=True, text=True, env=ENV, timeout=600)
    out = (root / "ddp.out").read_text() if (root / "ddp.out").is_file() else ""
    assert proc.returncode == 0, proc.stderr + out[-3000:]
    assert "--nnodes=1 --node-rank=0 --nproc-per-node=2 --rdzv-backend=c10d --rdzv-endpoint=localhost:29500" in out
    res = json.loads((root / "ddp" / "results.json").read_text())
    assert res["training"]["world_size"] == 2 and res["iteration"] == 3
