"""``gstsn ablations run|dry-run|status|merge|summary``: parse options, plan the studies, call the runner.

Also runnable as ``python -m gstsn.ablate ...`` (same subcommands).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from gstsn import cli_args
from gstsn.ablate.merge import merge_stores
from gstsn.ablate.plan import dry_run, find_study_files, parse_shard, plan_studies
from gstsn.ablate.runner import run_plan
from gstsn.ablate.slurm import add_slurm_options
from gstsn.ablate.store import ResultsStore, StoreError, WorkDir
from gstsn.ablate.study import DEFAULT_PROFILE, parse_override, profile_names
from gstsn.config import DISTANCES
from gstsn.precision import PRECISION_CHOICES
from gstsn.results.files import STUDY_FILE
from gstsn.results.summary import format_study, markdown_summary

DEFAULT_RESULTS = Path("results")
MAX_AUTO_JOBS = 8


def _default_cache_root() -> Path:
    from gstsn.data.sources import DEFAULT_CACHE_ROOT

    return DEFAULT_CACHE_ROOT


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers, e.g. 0,1,2") from None
    if not seeds or any(s < 0 for s in seeds):
        raise argparse.ArgumentTypeError(f"{text!r}: expected integers ≥ 0, e.g. 0,1,2")
    return seeds


def _add_plan_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "studies", nargs="*", metavar="STUDY",
        help="study names (files in --studies-dir) or paths to study TOML files; default: every study there",
    )  # fmt: skip
    p.add_argument("--studies-dir", type=Path, default=None, help="folder of study files (default: ./ablations)")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results store (default: ./results)")
    p.add_argument(
        "--work", type=Path, default=None,
        help="per-run checkpoints and finished results, shared by the studies (default: CACHE_ROOT/ablation-runs)",
    )  # fmt: skip
    p.add_argument(
        "--cache-root", type=Path, default=None, help="data caches (default: .cache/gstsn or $GSTSN_CACHE_ROOT)"
    )
    p.add_argument(
        "--profile", choices=profile_names(), default=None,
        help=f"settings for every study (default: each file's 'profile', else {DEFAULT_PROFILE!r}); "
        "'paper' with --data casia-b:PATH for the paper's scale on a GPU",
    )  # fmt: skip
    p.add_argument(
        "--data", metavar="SPEC", default=None,
        help="data spec for every study: synth, synth:key=value,... or casia-b:PATH (studies that vary the synthetic "
        "generator are skipped on real data)",
    )  # fmt: skip
    p.add_argument(
        "--seeds", type=_seeds, default=None, metavar="0,1,2", help="seeds for every study (default: each file's)"
    )
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
        help="override a config field in every study's [base] (TOML value: --set iterations=200); not an axis",
    )  # fmt: skip
    p.add_argument(
        "--precision", choices=PRECISION_CHOICES, default="auto",
        help="the CPU's precision (TrainConfig.cpu_precision): auto (default) = the precision of the study's runs "
        "already in --results, else bf16 where the CPU computes bf16 in hardware and fp32 elsewhere; fp32; bf16 "
        "(emulated and slow on a CPU without it). One precision per study; ignored on CUDA, where amp decides",
    )  # fmt: skip
    p.add_argument(
        "--shard", type=str, default=None, metavar="I/N",
        help="only the runs of shard I of N (0 ≤ I < N, by run id: deterministic); merge the folders afterwards",
    )  # fmt: skip
    p.add_argument(
        "--device", type=cli_args.device, default="auto", help="auto (default: CUDA when available), cpu or cuda[:K]"
    )
    p.add_argument(
        "--jobs", type=cli_args.positive_int, default=None,
        help=f"runs trained at once in worker processes (default: 1 on CUDA, else the CPU count up to {MAX_AUTO_JOBS})",
    )  # fmt: skip


def _plan(args: argparse.Namespace) -> tuple[Any, tuple[int, int] | None]:
    overrides = dict(parse_override(t) for t in args.overrides)
    files = find_study_files(args.studies, args.studies_dir)
    defaults, notes = _study_precisions(args, files, overrides)
    plan = plan_studies(
        files, profile=args.profile, data=args.data, seeds=args.seeds, overrides=overrides, defaults=defaults
    )
    shard = parse_shard(args.shard) if args.shard else None
    for note in notes:  # once the studies and options are valid: an error is the first line a user reads
        print(note, file=sys.stderr)
    return plan, shard


def _study_precisions(
    args: argparse.Namespace, files: list[Path], overrides: dict[str, Any]
) -> tuple[dict[str, dict], list[str]]:
    """``--precision`` resolved per study into a ``cpu_precision`` default (:func:`gstsn.precision.
    resolve_cpu_precision`): a study already in ``--results`` keeps its runs' precision (a definition written before
    the field was fp32), so one folder never mixes precisions; on CUDA nothing is set. Returns the per-study defaults
    and one line per study saying what was chosen and why."""
    from gstsn.precision import resolve_cpu_precision, stored_cpu_precision

    if "cpu_precision" in overrides or _device_kind(args.device) != "cpu":
        return {}, []
    store, chosen, notes = ResultsStore(args.results), {}, []
    for f in files:
        stored = None
        if args.precision == "auto":
            definition = store.definition(Path(f).stem)
            if definition is not None:
                stored = stored_cpu_precision(definition.get("base", {}))
        value, why = resolve_cpu_precision(args.precision, stored)
        chosen[Path(f).stem] = {"cpu_precision": value}
        notes.append(f"{Path(f).stem}: {why}")
    return chosen, notes


def _dirs(args: argparse.Namespace) -> tuple[ResultsStore, WorkDir, Path]:
    cache_root = args.cache_root or _default_cache_root()
    work = args.work or cache_root / "ablation-runs"
    for option, path in (("--results", args.results), ("--work", work), ("--cache-root", cache_root)):
        if Path(path).exists() and not Path(path).is_dir():
            raise StoreError(f"{option} {path} is a file; expected a folder (it is created when missing)")
    return ResultsStore(args.results), WorkDir(work), cache_root


def _device_kind(device: str) -> str:
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cuda" if device.startswith("cuda") else "cpu"


def _jobs(args: argparse.Namespace, kind: str) -> int:
    jobs = args.jobs if args.jobs is not None else (1 if kind == "cuda" else min(os.cpu_count() or 1, MAX_AUTO_JOBS))
    if jobs < 1:
        args._parser.error(f"--jobs {jobs}: expected at least 1")
    return jobs


def cmd_dry_run(args: argparse.Namespace) -> int:
    plan, shard = _plan(args)
    store, work, cache_root = _dirs(args)
    kind = _device_kind(args.device)
    print(dry_run(plan, store, work, shard, cache_root, device=kind, jobs=_jobs(args, kind)))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    if args.dry_run:
        return cmd_dry_run(args)
    plan, shard = _plan(args)
    store, work, cache_root = _dirs(args)
    if getattr(args, "launcher", "local") == "slurm":
        return _run_on_slurm(args, plan, shard, store, work, cache_root)
    kind = _device_kind(args.device)
    jobs = _jobs(args, kind)
    _announce(plan, store, work, f"{jobs} job(s) on {kind}")
    report = run_plan(
        plan,
        store,
        work,
        shard=shard,
        jobs=jobs,
        threads=args.threads,
        device=args.device,
        cache_root=cache_root,
        progress=not args.no_progress,
        device_kind=kind,
    )
    for s in plan.studies:
        print(format_study(store.study_dir(s.name)))
        print()
    print(
        f"{len(report.trained)} runs trained, {len(report.copied)} copied from finished runs, {report.skipped} rows "
        f"already stored, {len(report.failed)} failed, {len(report.busy)} busy elsewhere; wall time "
        f"{report.wall_s / 60:.1f} min"
    )
    for rid, msg in report.failed:
        print(f"failed run {rid}: {msg}", file=sys.stderr)
    return 1 if report.failed else 0


def _announce(plan: Any, store: ResultsStore, work: WorkDir, where: str) -> None:
    """Before a run: the study files skipped, what the plan holds and where everything goes (stderr)."""
    for f, reason in plan.skipped:
        print(f"skipped {f}: {reason}", file=sys.stderr)
    print(
        f"{len(plan.studies)} studies, {len(plan.study_runs)} study runs, {len(plan.runs)} distinct runs; "
        f"results in {store.root}, checkpoints in {work.root}; {where}",
        file=sys.stderr,
    )


def _run_on_slurm(args, plan, shard, store, work, cache_root) -> int:
    """``run --launcher slurm``: one Slurm job per pending run (``gstsn/ablate/slurm/``)."""
    from gstsn.ablate.slurm import options_from_args, run_slurm

    opts = options_from_args(args, work)
    _announce(plan, store, work, f"Slurm jobs' files in {opts.folder}")
    wait = not args.no_wait
    try:
        report = run_slurm(
            plan, store, work, opts, shard=shard, device=args.device, cache_root=cache_root, threads=args.threads,
            wait=wait, poll_s=args.poll, log=lambda m: print(m, file=sys.stderr, flush=True),
        )  # fmt: skip
    except KeyboardInterrupt:
        print("stopped waiting; the jobs keep running (see: gstsn ablations status)", file=sys.stderr)
        return 130
    if not wait:
        print("submitted; follow them with: gstsn ablations status (same options)")
        return 0
    for s in plan.studies:
        print(format_study(store.study_dir(s.name)))
        print()
    print(
        f"{len(report.trained)} runs trained by Slurm jobs, {len(report.copied)} copied from finished runs, "
        f"{report.skipped} rows already stored, {len(report.failed)} failed; wall time {report.wall_s / 60:.1f} min"
    )
    for rid, msg in report.failed:
        print(f"failed run {rid}: {msg}", file=sys.stderr)
    return 1 if report.failed else 0


def cmd_status(args: argparse.Namespace) -> int:
    """Per study: runs pending, running, done and failed, from the store and (for Slurm jobs) the scheduler."""
    from gstsn.ablate.slurm import check_slurm_dir, format_status, run_statuses, slurm_dir

    plan, shard = _plan(args)
    store, work, _ = _dirs(args)
    if args.slurm_dir is not None:  # named: it must hold an earlier submission's records, else all would look pending
        check_slurm_dir(args.slurm_dir, "--slurm-dir", must_exist=True)
    folder = args.slurm_dir if args.slurm_dir is not None else slurm_dir(work)
    check_slurm_dir(folder, "the Slurm folder")
    print(format_status(plan, run_statuses(plan, store, work, folder, shard)))
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    added = merge_stores(args.sources, args.into)
    for study in sorted(added):
        print(f"{study}: {added[study]} run(s) merged into {args.into / study}")
    if not added:
        print(f"nothing new to merge into {args.into}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    store = ResultsStore(args.results)
    names = args.studies or store.studies()
    if not names:
        print(f"no studies in {store.root}", file=sys.stderr)
        return 1
    for name in names:
        if not (store.study_dir(name) / STUDY_FILE).is_file():
            raise StoreError(f"{store.study_dir(name)} holds no study.json; studies there: {store.studies()}")
        if args.markdown:
            print(f"**{name}** (rank-1 %, {args.distance}, identical views excluded; mean ± 95 % CI over seeds)\n")
            print(markdown_summary(store.study_dir(name), distance=args.distance))
        else:
            print(format_study(store.study_dir(name), distance=args.distance))
        print()
    return 0


def register(subparsers: Any) -> None:
    """Add ``gstsn ablations run|dry-run|status|merge|summary``."""
    top = subparsers.add_parser(
        "ablations",
        help="run the ablation studies (ablations/*.toml) into the results store",
        description="Ablation studies: each ablations/<study>.toml expands into cells × seeds; every run is trained "
        "once (shared between studies), evaluated, and written as one row of RESULTS/<study>/runs.jsonl.",
    )
    sub = top.add_subparsers(dest="ablations_command", required=True, metavar="SUBCOMMAND")

    run = sub.add_parser(
        "run",
        help="train and evaluate every missing run (resumes interrupted ones)",
        description="Run the studies: skip runs already stored, resume interrupted runs from their checkpoint, "
        "write one row per run and study, then print each study's means with 95% intervals and paired differences.",
    )
    _add_plan_options(run)
    run.add_argument("--dry-run", action="store_true", help="only list the runs, their estimated cost and state")
    run.add_argument(
        "--threads", type=cli_args.positive_int, default=None, help="torch threads per job (default: CPUs / jobs)"
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_slurm_options(run)
    run.set_defaults(func=cmd_run, _parser=run)

    status = sub.add_parser(
        "status",
        help="per study: runs pending, running, done and failed (from the store and the Slurm jobs)",
        description="Per study, the runs pending, running, done and failed, from the results store, the work folder "
        "and the scheduler (for runs submitted with --launcher slurm); a failed job is named with its log file.",
    )
    _add_plan_options(status)
    status.add_argument(
        "--slurm-dir", type=Path, default=None, help="the Slurm jobs' records and logs (default: WORK/slurm)"
    )
    status.set_defaults(func=cmd_status, _parser=status)

    dry = sub.add_parser("dry-run", help="list the runs with their estimated cost and what is already done")
    _add_plan_options(dry)
    dry.set_defaults(func=cmd_dry_run, _parser=dry)

    merge = sub.add_parser(
        "merge",
        help="merge result folders (e.g. one per --shard) into one",
        description="Merge results stores: per study the union of the runs by run id (definitions must agree).",
    )
    merge.add_argument("sources", nargs="+", type=Path, metavar="RESULTS", help="result folders to merge")
    merge.add_argument("--into", type=Path, required=True, metavar="DEST", help="the merged results folder")
    merge.set_defaults(func=cmd_merge, _parser=merge)

    summ = sub.add_parser("summary", help="print each study's means with 95%% intervals and paired differences")
    summ.add_argument("studies", nargs="*", metavar="STUDY", help="study folder names (default: all)")
    summ.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results store (default: ./results)")
    summ.add_argument("--distance", choices=DISTANCES, default="per_part", help="rank-1 distance")
    summ.add_argument(
        "--markdown", action="store_true", help="a Markdown table per study (mean ± 95 %% CI, seeds, minutes per run)"
    )
    summ.set_defaults(func=cmd_summary, _parser=summ)


__all__ = ["cmd_dry_run", "cmd_merge", "cmd_run", "cmd_status", "cmd_summary", "register"]
