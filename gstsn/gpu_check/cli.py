"""The GPU check's command line (``bench/gpu_check.py``) and the order of its phases inside one budget.

A watchdog writes what exists and exits (124) at the end of the budget; an error in one phase is recorded with its
traceback and the later phases still run (exit 1 when a phase failed).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import threading
from pathlib import Path
from typing import Any

import torch

from gstsn.gpu_check.report import OUTPUT_FILES, REPORT_FILE, Report, earlier_report
from gstsn.gpu_check.settings import PHASES, Sizes
from gstsn.gpu_check.summary import goal_checks, summary_text
from gstsn.timing.budget import Budget

DESCRIPTION = (
    "One prepared GPU check: environment, CUDA tests, the step-time matrix, LT evaluation time, paper GaitSet training."
)
TRAIN_MODES = ("auto", "eager", "compile", "graph", "eager+bench", "graph+bench")
#: the real CASIA-B npz and the scratch folder (cache, runs; git-ignored, never carried), under the checkout
DATA_IN_CHECKOUT = Path(".devdata") / "casia-b-sil-64x44.npz"
WORK_IN_CHECKOUT = Path(".cache") / "gpu_check"


def parser(repo: Path) -> argparse.ArgumentParser:
    data, work = repo / DATA_IN_CHECKOUT, repo / WORK_IN_CHECKOUT
    p = argparse.ArgumentParser(description=DESCRIPTION)
    p.add_argument("--out", type=Path, default=None, help="output folder (default: $OUT, else required)")
    p.add_argument("--budget", type=float, default=540.0, help="total seconds (default 540 = 9 min)")
    p.add_argument("--data", type=Path, default=None, help=f"the real CASIA-B npz (default {data})")
    p.add_argument("--work", type=Path, default=work, help=f"scratch: cache, runs (default {work})")
    p.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated subset of {','.join(PHASES)}")
    p.add_argument("--resume-from", type=Path, default=None, help="a previous call's output: continue its training")
    p.add_argument("--resume", action="store_true", help="continue the training in --work (the same, warm machine)")
    p.add_argument(
        "--train-mode", choices=TRAIN_MODES, default="auto",
        help="training step: auto = the fastest GaitSet bf16 channels-last setting of this run's matrix",
    )  # fmt: skip
    p.add_argument("--tests", nargs="*", default=["tests"], help="pytest paths for the cuda tests (default tests)")
    p.add_argument(
        "--allowance", action="append", default=[], metavar="PHASE=SECONDS",
        help="change a phase's allowance, e.g. matrix=480 for a call that measures every compiled setting",
    )  # fmt: skip
    p.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU (what the test suite runs)")
    return p


def parse_args(argv: list[str] | None, repo: Path) -> argparse.Namespace:
    """The options, checked before any work (a bad one exits 2 naming it)."""
    p = parser(repo)
    args = p.parse_args(argv)
    if args.out is None:
        if not os.environ.get("OUT"):
            p.error("--out is required when $OUT is not set")
        args.out = Path(os.environ["OUT"])
    args.phases = [s.strip() for s in args.phases.split(",") if s.strip()]
    bad = [s for s in args.phases if s not in PHASES]
    if bad:
        p.error(f"--phases: unknown phase(s) {bad}; expected a subset of {list(PHASES)}")
    args.allowance = parse_allowances(p, args.allowance)
    if args.budget <= 30 and not args.dry_run:
        p.error(f"--budget {args.budget} s is too short for a GPU check (at least 30 s)")
    return args


def parse_allowances(p: argparse.ArgumentParser, items: list[str]) -> dict[str, float]:
    """``--allowance PHASE=SECONDS`` items as ``{phase: seconds}``."""
    allowances = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            allowances[name.strip()] = float(value)
        except ValueError:
            p.error(f"--allowance {item!r}: expected PHASE=SECONDS, e.g. matrix=480")
        if not sep or name.strip() not in PHASES or allowances[name.strip()] <= 0:
            p.error(f"--allowance {item!r}: expected PHASE=SECONDS with PHASE in {list(PHASES)} and SECONDS > 0")
    return allowances


class GpuCheck:
    """One call: its options, sizes, device, report and budget; :meth:`run` runs the asked-for phases in order."""

    def __init__(self, args: argparse.Namespace, argv: list[str] | None, device: torch.device, repo: Path) -> None:
        from gstsn.gpu_check.data import write_tiny_npz

        self.args, self.device, self.repo = args, device, repo
        self.sizes = Sizes(args.dry_run)
        self.sizes.allowance.update(args.allowance)
        self.out: Path = args.out
        self.out.mkdir(parents=True, exist_ok=True)
        for name in OUTPUT_FILES:  # a fresh report, never a mix with an earlier call's files
            (self.out / name).unlink(missing_ok=True)
        self.work: Path = args.work
        self.work.mkdir(parents=True, exist_ok=True)
        self.rep = Report(self.out)
        self.budget = Budget(args.budget, reserve_s=self.sizes.reserve_s)
        self.rep.data.update(dry_run=args.dry_run, argv=sys.argv[1:] if argv is None else argv, phases=args.phases)
        self.data_path = args.data or (
            write_tiny_npz(self.work / "tiny.npz") if args.dry_run else repo / DATA_IN_CHECKOUT
        )
        self.rep.data["data"] = {"npz": str(self.data_path), "present": self.data_path.is_file()}

    def phase(self, name: str) -> Any:
        """The budget's phase ``name``, or a context that yields None when the call does not run it."""
        if name not in self.args.phases:
            return contextlib.nullcontext(None)
        return self.budget.phase(name, self.sizes.allowance.get(name))

    def watchdog(self) -> None:
        """At the end of the budget: write what exists and exit 124."""
        rep = self.rep
        rep.data["watchdog"] = f"the budget of {self.args.budget:.0f} s ran out: stopped here, results as they were"
        rep.data["budget"] = self.budget.as_dict()
        rep.log(rep.data["watchdog"])
        with contextlib.suppress(Exception):
            rep.save()
            rep.write_summary(summary_text(rep.data))
        os._exit(124)

    def run(self) -> int:
        from gstsn.gpu_check.data import DataImport

        args, rep = self.args, self.rep
        dog = threading.Timer(max(1.0, args.budget - 2.0), self.watchdog)
        dog.daemon = True
        dog.start()
        kind = "dry run" if args.dry_run else "full"
        rep.log(f"gpu_check on {self.device} ({kind}), budget {args.budget:.0f} s, out {self.out}")
        need_data = any(p in args.phases for p in ("eval", "train"))
        importer = DataImport(self.data_path, self.work / "cache", rep, self.repo) if need_data else None
        try:
            self.run_device_phases()
            dataset = self.wait_for_data(importer)
            if dataset is not None:
                self.run_data_phases(dataset)
        finally:
            dog.cancel()
            self.finish()
        failed = [p for p in self.budget.phases if p.status.startswith("error")]
        return 1 if failed else 0

    def run_device_phases(self) -> None:
        """``env``, ``tests`` and ``matrix``: what needs no data (the import runs meanwhile)."""
        from gstsn.gpu_check.cuda_tests import run_cuda_tests
        from gstsn.gpu_check.environment import environment
        from gstsn.gpu_check.matrix import run_matrix

        rep = self.rep
        with self.phase("env") as ph:
            if ph is not None:
                rep.data["env"] = environment(self.device, self.repo)
                rep.log(f"env: {rep.data['env'].get('device_name')}, torch {torch.__version__}")
        rep.save()
        with self.phase("tests") as ph:
            if ph is not None:
                rep.data["tests"] = run_cuda_tests(ph, rep, self.args.tests, self.data_path, self.repo)
        rep.save()
        with self.phase("matrix") as ph:
            if ph is not None:
                rep.data["matrix"] = run_matrix(ph, rep, self.sizes, self.device, self.work / "matrix")
        rep.save()

    def wait_for_data(self, importer: Any) -> Any:
        """The imported dataset, or None (the data phases are then recorded as skipped, with the reason)."""
        if importer is None:
            return None
        try:
            return importer.wait(timeout=max(5.0, self.budget.available() - 30))
        except RuntimeError as exc:
            for name in ("eval", "train"):
                if name in self.args.phases:
                    self.budget.skip(name, str(exc))
            return None

    def run_data_phases(self, dataset: Any) -> None:
        """``eval`` and ``train`` on the real data."""
        from gstsn.gpu_check.evaluation import run_eval
        from gstsn.gpu_check.training import plan_training, run_train

        args, rep = self.args, self.rep
        with self.phase("eval") as ph:
            if ph is not None:
                rep.data["eval"] = run_eval(ph, rep, self.sizes, self.device, dataset)
        rep.save()
        with self.phase("train") as ph:
            if ph is not None:
                earlier = earlier_report(args.resume_from or (self.work if args.resume else None))
                plan = plan_training(rep.data, earlier, args.train_mode, args.resume_from, args.resume)
                rep.data["train"] = run_train(ph, rep, self.sizes, self.device, dataset, self.work / "train-run", plan)

    def finish(self) -> None:
        """The budget, the goals and the file list into the report; the report kept in the work folder too (for a
        ``--resume`` call on this machine); the summary written and printed last."""
        rep = self.rep
        rep.data["budget"] = self.budget.as_dict()
        rep.data["goals"] = goal_checks(rep.data)
        rep.data["output_files"] = {p.name: p.stat().st_size for p in sorted(self.out.iterdir()) if p.is_file()}
        rep.save()
        shutil.copy2(self.out / REPORT_FILE, self.work / REPORT_FILE)
        text = summary_text(rep.data)
        rep.write_summary(text)
        rep.log("summary:\n" + text)


def main(argv: list[str] | None = None, repo: Path | None = None) -> int:
    """Run the check; ``repo``: the checkout (the cuda tests and the data import run there), by default the one this
    package is in."""
    repo = Path(repo) if repo is not None else Path(__file__).resolve().parents[2]
    args = parse_args(argv, repo)
    if args.dry_run:
        device = torch.device("cpu")
    elif torch.cuda.is_available():
        device = torch.device("cuda")
    else:
        print("gpu_check: torch sees no CUDA device; on a CPU run it with --dry-run", file=sys.stderr)
        return 2
    return GpuCheck(args, argv, device, repo).run()


__all__ = ["DESCRIPTION", "GpuCheck", "main", "parse_allowances", "parse_args", "parser"]
