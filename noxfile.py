"""Sessions: `ablations` (the main job), `timing`, `tests` and `lint` (the defaults), `tests_stress`, `bench`.

`tests_stress` runs the default suite as `tests` does (same arguments) with two CPU-bound busy processes beside it the
whole time, to check that no test's verdict depends on how fast the machine is; pinned to one core that is
`taskset -c 0 nox -s tests_stress`.

Every session installs the CPU build of torch first (`torch==2.13.0`, a local wheel on the project's machines) so that
no multi-GB CUDA build is ever downloaded on a CPU machine: pip finds it through PIP_FIND_LINKS, uv through
UV_FIND_LINKS, which we set from PIP_FIND_LINKS when that variable is set. On CI the torch build is asserted to be CPU.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint"]

TORCH = os.environ.get("GSTSN_TORCH", "torch==2.13.0")
PYTHON = "3.11"


def install_project(session: nox.Session, *extras: str) -> None:
    """Install torch (CPU build on CPU machines) first, then the project with ``extras``."""
    if os.environ.get("PIP_FIND_LINKS") and not os.environ.get("UV_FIND_LINKS"):
        session.env["UV_FIND_LINKS"] = os.environ["PIP_FIND_LINKS"]
    # uv installs without byte-compiling (pip compiles); where PYTHONDONTWRITEBYTECODE is set (as on our machines)
    # every interpreter the tests start would compile torch, pandas and matplotlib again: ~4 s each, the suite 1.7x
    session.env.setdefault("UV_COMPILE_BYTECODE", "1")
    session.install(TORCH)
    spec = f".[{','.join(extras)}]" if extras else "."
    session.install("-e", spec)
    if os.environ.get("CI"):
        session.run(
            "python",
            "-c",
            "import torch, sys; print('torch', torch.__version__, 'cuda', torch.version.cuda); "
            "sys.exit('CI must run the CPU build of torch' if torch.version.cuda is not None else 0)",
        )


def run_tests(session: nox.Session, busy: int = 0) -> None:
    """Install the test extras, then run pytest with the session's arguments (default: the fast suite on two xdist
    workers) while ``busy`` CPU-bound processes run beside it."""
    # playwright drives Debian's chromium (.ci/install-browser.sh); profiler-ui: torch-tb-profiler's test runs on CI
    install_project(session, "test", "browser", "profiler-ui")
    args = session.posargs or ["-m", "not slow", "-n", "2", "--dist", "loadfile", "--durations=15"]
    # Two xdist workers on two cores: one torch thread each, and no OpenMP spin-waiting between kernels.
    session.env.setdefault("OMP_NUM_THREADS", "1")
    session.env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    with busy_processes(busy) as procs:
        if procs:
            session.log(f"{len(procs)} CPU-bound busy processes beside pytest: pids {[p.pid for p in procs]}")
        session.run("pytest", *args)


@contextlib.contextmanager
def busy_processes(n: int) -> Iterator[list[subprocess.Popen]]:
    """``n`` CPU-bound processes (a bare Python loop each) that run until the block ends, however it ends."""
    procs: list[subprocess.Popen] = []
    try:
        for _ in range(n):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", "while True: pass"],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        yield procs
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Fast unit tests (slow and data-bound tests are marked; pass `-- -m slow` or `-- -m real_data` to run them)."""
    run_tests(session)


@nox.session(python=PYTHON)
def tests_stress(session: nox.Session) -> None:
    """The `tests` session (same arguments) with two CPU-bound busy processes running beside pytest the whole time:
    every test must pass on a loaded machine as on a quiet one (tests wait for conditions, never for a length of
    time). For one core: `taskset -c 0 nox -s tests_stress`."""
    run_tests(session, busy=2)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff lint and format check."""
    session.install("ruff==0.17.6")
    session.run("ruff", "check", "gstsn", "tests", "bench", "noxfile.py")
    session.run("ruff", "format", "--check", "gstsn", "tests", "bench", "noxfile.py")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Inference speed of GaitSet and GSTSN as a fraction of a same-run fp32 matmul (not a test)."""
    install_project(session)
    session.run("python", "bench/bench_inference.py", *session.posargs)


@nox.session(python=PYTHON)
def timing(session: nox.Session) -> None:
    """Timing suite: pytest-benchmark phases × variants, profiler traces, FLOPs and % of a same-run matmul peak, and the
    "20 % less time" verdict, written to results/timing/ (not a test: a slow machine gives slow numbers, never a
    failure). Arguments go to bench/run_timing.py, e.g. `nox -s timing -- --threads 1` on a shared machine."""
    install_project(session, "bench")
    session.run("python", "bench/run_timing.py", *session.posargs)
    # the timing page and any studies in results/, with the committed real-data store as the main job renders them
    session.run("gstsn", "report", "results", *reference_args("results"), "--out", "reports")


@nox.session(python=PYTHON)
def gpu_check(session: nox.Session) -> None:
    """The prepared GPU check (bench/gpu_check.py, docs/gpu.md): environment, cuda tests, step-time matrix, LT
    evaluation time and paper GaitSet training within 9 minutes, into $OUT or `-- --out DIR`. Needs a GPU and a CUDA
    build of torch (set GSTSN_TORCH); on a machine without a registry run `python3 bench/gpu_check.py` instead.
    `nox -s gpu_check -- --dry-run --out /tmp/gc` runs it at tiny size on the CPU."""
    install_project(session, "test")
    session.run("python", "bench/gpu_check.py", *session.posargs)


@nox.session(python=PYTHON)
def ablations(session: nox.Session) -> None:
    """The main job: every study in ablations/*.toml trained and evaluated on the embedded synthetic data (about 30 min
    on 2 CPU cores), written to results/, then rendered into reports/. Arguments go to `gstsn ablations run`, e.g.
    `nox -s ablations -- --profile paper --data casia-b:PATH` (paper scale, GPU), `-- --dry-run`, `-- --shard 0/4`.
    Interrupted? Run it again: stored runs are skipped and an interrupted run resumes from its checkpoint."""
    install_project(session)
    session.run("gstsn", "ablations", "run", *session.posargs)
    if "--dry-run" in session.posargs or any(a.startswith("--shard") for a in session.posargs):
        return  # nothing to render yet (a shard's store is merged first: gstsn ablations merge)
    results, args = "results", list(session.posargs)
    for i, arg in enumerate(args):
        if arg == "--results" and i + 1 < len(args):
            results = args[i + 1]
        elif arg.startswith("--results="):
            results = arg.split("=", 1)[1]
    session.run("gstsn", "report", results, *reference_args(results), "--out", "reports")


@dataclasses.dataclass(frozen=True)
class ReferenceStore:
    """A committed real CASIA-B store (docs/reference.md): its folder, the profile its runs train at, and its studies
    with their extra `gstsn ablations run` arguments (seeds, evaluation interval)."""

    path: str
    profile: str
    studies: tuple[tuple[str, tuple[str, ...]], ...]


# The committed real CASIA-B results (docs/reference.md): one store per profile, never mixed (the report shows each
# profile as its own data group). At cpu-real the headline evaluates every 250 iterations (the rank-1 against
# training time curve); the other studies only at the end (an evaluation of the 5,500 LT test sequences costs about a
# minute on 2 cores, a quarter of a run's training).
REFERENCE_STORES = (
    ReferenceStore(
        "reference/casia-b-cpu",
        "cpu-real",
        (
            ("gaitset_vs_gstsn", ("--set", "eval_every=250")),
            ("idr_statistic", ("--seeds", "0,1,2")),
            ("lstm_layers", ("--seeds", "0,1,2")),
            ("input_type", ("--seeds", "0,1,2")),
        ),
    ),
)
REFERENCE = REFERENCE_STORES[0].path  # the first store: `nox -s reference` renders it with the others merged in
REFERENCE_RUN_ARGS = ("--jobs", "1", "--threads", "2")  # one run at a time, 2 threads: times comparable across runs


def reference_args(results: str) -> list[str]:
    """``--reference`` of each committed real-data store (but the one rendered as ``results``), so that every session
    that renders reports/ (ablations, timing) renders the same pages from the same inputs: each store as its own data
    group in each study."""
    out = []
    for store in REFERENCE_STORES:
        if Path(store.path).is_dir() and Path(results).resolve() != Path(store.path).resolve():
            out += ["--reference", store.path]
    return out


def _pop_stores(args: list[str]) -> tuple[list[ReferenceStore], list[str]]:
    """The stores named by ``--store PATH`` (repeatable; default every store) and the remaining arguments."""
    names, rest, it = [], [], iter(args)
    for arg in it:
        if arg == "--store":
            names.append(next(it, ""))
        elif arg.startswith("--store="):
            names.append(arg.split("=", 1)[1])
        else:
            rest.append(arg)
    by_path = {Path(s.path).as_posix(): s for s in REFERENCE_STORES}
    unknown = [n for n in names if Path(n).as_posix() not in by_path]
    if unknown:
        raise ValueError(f"--store {unknown[0]!r} is not a reference store; expected one of {sorted(by_path)}")
    return ([by_path[Path(n).as_posix()] for n in names] or list(REFERENCE_STORES)), rest


@nox.session(python=PYTHON)
def reference(session: nox.Session) -> None:
    """The committed real CASIA-B results: `nox -s reference -- --data casia-b:PATH/casia-b-sil-64x44.npz` trains
    and evaluates each reference store's studies at its profile (one run at a time, 2 threads) into its folder under
    reference/ (rows, tables, curves, study definitions; checkpoints stay in .cache/), then renders
    reports/reference/ with every store. `-- --store reference/casia-b-cpu` runs one store only. Interrupted? Run it
    again: it resumes. Other arguments go to `gstsn ablations run`."""
    try:
        stores, args = _pop_stores(session.posargs)
    except ValueError as exc:
        session.error(str(exc))
    if not any(a == "--data" or a.startswith("--data=") for a in args):
        session.error("pass the real data: nox -s reference -- --data casia-b:PATH/casia-b-sil-64x44.npz")
    install_project(session)
    for store in stores:
        common = ("--profile", store.profile, *REFERENCE_RUN_ARGS, "--results", store.path)
        for study, extra in store.studies:
            session.run("gstsn", "ablations", "run", study, *common, "--work", ".cache/gstsn/reference-runs", *extra,
                        *args)  # fmt: skip
    session.run("gstsn", "report", REFERENCE, *reference_args(REFERENCE), "--out", "reports/reference")
