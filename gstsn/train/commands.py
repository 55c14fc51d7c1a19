"""``gstsn train`` and ``gstsn eval``: parse options, build the config, call the trainer / evaluator, write results.

Every config field is an option under its own name with dashes (``--idr-stat`` sets ``idr_stat``), except the data
source, which is ``--data``. Options not given keep the profile's value (``--profile``, see ``gstsn.config.PROFILES``).

Each command writes ``results.json`` (config, provenance, training summary, rank-1 summary) and ``results.csv`` (tidy
rank-1 rows) into its output directory. Provenance: git commit and dirty flag, torch / numpy / python versions, the
device, the data source and fingerprint, the config hash and the seed.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path
from typing import Any

import torch

from gstsn import cli_args
from gstsn.atomic import DiskFullError, disk_full_cause
from gstsn.config import (
    CPU_PRECISIONS,
    FIELD_CHOICES,
    PROFILES,
    RUN_SECTIONS,
    ConfigError,
    RunConfig,
    config_hash,
    config_to_dict,
    resolve_profile,
)
from gstsn.config.registry import FIELD_REGISTRIES, TEMPORAL_MODULES
from gstsn.precision import run_cpu_precision
from gstsn.train.errors import CommandError
from gstsn.train.eval_command import EVAL_FIELDS, cmd_eval, evaluate_checkpoint
from gstsn.train.provenance import provenance
from gstsn.train.results_file import (
    RESULTS_FORMAT,
    rank1_summary,
    retrieval_evaluation,
    retrieval_line,
    write_results,
)
from gstsn.train.setup import open_run_data

log = logging.getLogger("gstsn.train")


# What each option means; the profile values are appended to the help text.
FIELD_HELP: dict[str, str] = {
    "temporal": "GSTSN's temporal branch on (--temporal: GSTSN) or off (--no-temporal: exactly GaitSet)",
    "idr_stat": "IDR statistic over the width of each frame map, or a '+'-joined sum such as max+median (the paper: "
    "median)",
    "temporal_module": "what runs over the IDR features of each row, frame after frame, before temporal pooling",
    "lstm_layers": "depth of the lstm temporal module (0 = none: IDR features straight to temporal pooling)",
    "channels": "trunk widths C1,C2,C3",
    "hpm_bins": "Horizontal Pyramid Mapping strip counts, comma-separated; each must divide the final map height",
    "embed_dim": "output size of each part's fully connected layer",
    "height": "frame height the data must have",
    "width": "frame width the data must have",
    "downsample": "average-pool the frames by this factor before the model (2: 64x44 -> 32x22)",
    "source": "data spec: 'synth' (the procedural CASIA-B-like generator), a cache directory or the CASIA-B npz",
    "split": "subject split: LT, MT, ST or a split JSON path (mapped proportionally onto synthetic subjects)",
    "input_type": "training frame sampling: 'set' = random unordered frames (GaitSet), 'sequence' = a contiguous "
    "ordered clip, looped when short",
    "batch_p": "subjects per batch (P)",
    "batch_k": "sequences per subject (K)",
    "frames": "frames per training sequence",
    "iterations": "total optimizer steps (a resumed run continues up to this number)",
    "lr": "Adam learning rate (the peak one under a schedule)",
    "lr_schedule": "learning-rate schedule: constant (the spec's) or cosine (decay to 0 after the warm-up)",
    "warmup": "iterations of linear learning-rate warm-up (0 = none)",
    "margin": "BA+ triplet margin",
    "amp": "bf16 autocast on CUDA (ignored on the CPU)",
    "cpu_precision": "the CPU's precision for training and test embedding: auto (default: bf16 where the CPU computes "
    "bf16 in hardware, else fp32; a resumed run keeps its own), fp32 or bf16 (ignored on CUDA)",
    "log_every": "write a train_log.csv row every N iterations",
    "checkpoint_every": "write a checkpoint every N iterations (and at the end)",
    "keep_checkpoints": "how many of the newest checkpoints to keep",
    "eval_every": "evaluate rank-1 every N iterations into eval_log.csv, for time-to-accuracy curves (0 = at the end "
    "only)",
    "prefetch": "batches drawn ahead by a background thread (0 = none)",
    "distance": "rank-1 distance: per_part (Euclidean per part, averaged; OpenGait) or flat (one Euclidean distance "
    "over all parts; GaitSet's code)",
    "max_test_frames": "frames per test sequence: a centred contiguous clip of at most N frames, or 'all' (the "
    "protocol)",
    "eval_batch_frames": "frames per embedding forward at test time (results do not depend on it)",
    "seed": "seed of the weight init and the batch sampler",
}
CHOICES: dict[str, tuple[Any, ...]] = {**FIELD_CHOICES, "cpu_precision": ("auto", *CPU_PRECISIONS)}
OPTION_NAMES: dict[str, str] = {"source": "--data"}  # field -> option where it is not --field-name


# ----------------------------------------------------------------------------------------------------------------------
# Option parsing


def _int_tuple(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers, e.g. 16,32,64") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def _frames_or_all(text: str) -> int | None:
    if text.lower() == "all":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a positive integer nor 'all'") from None


def _field_default(name: str) -> Any:
    if name == "seed":
        return RunConfig().seed
    for cls in RUN_SECTIONS.values():
        for f in dataclasses.fields(cls):
            if f.name == name:
                return f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]
    raise KeyError(name)


def _profile_values(name: str) -> str:
    def show(v: Any) -> str:
        if v is None:
            return "all"
        if isinstance(v, tuple):
            return ",".join(map(str, v))
        return str(v)

    vals = [f"{p}={show(PROFILES[p].get(name, _field_default(name)))}" for p in PROFILES]
    return "[" + ", ".join(vals) + "]"


def add_field_option(parser: Any, name: str, show_profiles: bool = True) -> None:
    """Add the option of config field ``name``; absent options stay out of the namespace (the profile decides)."""
    default = _field_default(name)
    flag = OPTION_NAMES.get(name, "--" + name.replace("_", "-"))
    help_text = FIELD_HELP[name]
    registry = FIELD_REGISTRIES.get(name)  # read now, so that a component registered after import is listed
    if registry is not None:
        help_text += f"; registered: {registry.choices_help()}"
    help_text += f" {_profile_values(name)}" if show_profiles else ""
    help_text = help_text.replace("%", "%%")
    kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": help_text}
    if isinstance(default, bool):
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
        return
    if isinstance(default, tuple):
        kwargs.update(type=_int_tuple, metavar="N,N,...")
    elif name == "max_test_frames":
        kwargs.update(type=_frames_or_all, metavar="N|all")
    elif isinstance(default, int):
        kwargs.update(type=int, metavar="N")
    elif isinstance(default, float):
        kwargs.update(type=float, metavar="X")
    else:
        kwargs.update(type=str, metavar=name.upper() if name != "source" else "SPEC")
    choices = TEMPORAL_MODULES.names if name == TEMPORAL_MODULES.field else CHOICES.get(name)
    if choices is not None:
        kwargs.update(choices=choices, metavar=None)
    parser.add_argument(flag, **kwargs)


# ----------------------------------------------------------------------------------------------------------------------
# Provenance and results


# ----------------------------------------------------------------------------------------------------------------------
# gstsn train


def cmd_train(args: argparse.Namespace) -> int:
    from gstsn.train.distributed import DistContext, device_for_rank, init_process_group
    from gstsn.train.setup import resolve_device

    fields = cli_args.field_overrides(args, list(FIELD_HELP))
    fields["cpu_precision"] = run_cpu_precision(
        fields.get("cpu_precision", "auto"),
        resolve_device(args.device).type,
        Path(args.out) if args.resume and args.out else None,
    )
    try:
        cfg = resolve_profile(args.profile, **fields)
    except ConfigError as exc:
        args._parser.error(str(exc))
    ctx = DistContext.from_env()
    try:
        if ctx.enabled:
            init_process_group(ctx, device_for_rank(resolve_device(args.device), ctx))
        return _train_and_report(cfg, args, ctx)
    finally:
        _leave_process_group()


def _train_and_report(cfg: RunConfig, args: argparse.Namespace, ctx: Any) -> int:
    from gstsn.signals import TrainingInterrupted, signal_name
    from gstsn.train.distributed import barrier
    from gstsn.train.trainer import TrainingDiverged, train

    dataset, split = open_run_data(cfg) if ctx.is_main else (None, None)  # rank 0 generates / imports the data once
    barrier(ctx)
    if not ctx.is_main:
        dataset, split = open_run_data(cfg)
    out = Path(args.out) if args.out else Path("runs") / f"{args.profile}-{cfg.model.model_name}-{config_hash(cfg)}"
    try:
        res = train(
            cfg,
            out,
            dataset=dataset,
            train_subjects=split.train,
            test_subjects=None if args.no_eval else split.test,
            device=args.device,
            resume=args.resume,
            progress=not args.no_progress,
            time_limit_s=args.time_limit,
            tensorboard=args.tensorboard,
            dist_ctx=ctx,
        )
    except TrainingDiverged as exc:
        print(f"gstsn train: {exc}", file=sys.stderr)
        if ctx.is_main:
            payload = _train_payload(cfg, args, dataset, split, None, torch.device("cpu"))
            payload.update(status="diverged", error=str(exc), iteration=exc.iteration)
            write_results(out, payload, None, cfg)
        return 1
    except Exception as exc:
        if isinstance(exc, DiskFullError) or disk_full_cause(exc) is None:
            raise
        raise DiskFullError(out, _kept_checkpoints(out), exc) from exc  # a log or the results: name the run folder
    except TrainingInterrupted as exc:  # checkpoint written; gstsn.cli prints the line and exits 128 + signal
        if ctx.is_main:
            payload = _train_payload(cfg, args, dataset, split, None, torch.device("cpu"))
            payload.update(status="interrupted", signal=signal_name(exc.signum), iteration=exc.iteration)
            payload["checkpoint"] = str(exc.checkpoint) if exc.checkpoint else None
            write_results(out, payload, None, cfg)
        raise
    if not ctx.is_main:
        return 0
    final, feats = res.final_eval, res.final_features
    if final is None and not args.no_eval and res.status == "completed":
        final, feats = evaluate_checkpoint(
            res.checkpoint, cfg, dataset, split.test, torch.device(res.device), with_features=True
        )
    payload = _train_payload(cfg, args, dataset, split, res, torch.device(res.device))
    extra = None
    if final is not None:
        payload["evaluation"] = rank1_summary(final)
        if feats is not None:
            extra = retrieval_evaluation(feats, dataset, split.test, cfg, out, torch.device(res.device))
    write_results(out, payload, final, cfg, extra)
    if final is not None:
        summary = ", ".join(f"{k} {v:.1f}" for k, v in final.summary_excl.items())
        print(f"rank-1 (identical views excluded, {final.distance}): {summary}")
        if extra is not None:
            print(retrieval_line(*extra))
    if res.status == "time_limit":
        print(f"gstsn train: time limit reached at iteration {res.iteration}; continue with --resume")
    if res.collapse["detected"]:
        print(f"gstsn train: WARNING: the embedding collapsed ({res.collapse})", file=sys.stderr)
    print(f"results in {out}")
    return 0


def _kept_checkpoints(out: Path) -> str:
    from gstsn.results.files import CHECKPOINTS_DIR
    from gstsn.train.checkpoint import latest_checkpoint

    newest = latest_checkpoint(out / CHECKPOINTS_DIR)
    if newest is None:
        return "no checkpoint of this run had been written yet"
    return f"its checkpoints are intact (newest {newest.name}); free some space, then continue with --resume"


def _train_payload(
    cfg: RunConfig, args: argparse.Namespace, dataset: Any, split: Any, res: Any, device: torch.device
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "format": RESULTS_FORMAT,
        "kind": "train",
        "model": cfg.model.model_name,
        "config": config_to_dict(cfg),
        "fields": cfg.flat(),
        "provenance": provenance(cfg, device, dataset, args.profile),
        "split": {"name": split.name, "mode": split.mode, "train": split.train, "test": split.test},
    }
    if res is not None:
        payload.update(
            status=res.status,
            iteration=res.iteration,
            training={
                "train_time_s": res.train_time,
                "sec_per_iter": res.sec_per_iter,
                "cpu_others_share": res.cpu_others_share,
                "last_stats": res.last_stats,
                "collapse": res.collapse,
                "resumed_from": res.resumed_from,
                "checkpoint": str(res.checkpoint) if res.checkpoint else None,
                "world_size": res.world_size,
            },
        )
    return payload


def _leave_process_group() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# ----------------------------------------------------------------------------------------------------------------------
# Registration


def register(subparsers: Any) -> None:
    """Add ``train`` and ``eval`` to the ``gstsn`` command."""
    p = subparsers.add_parser(
        "train",
        help="train GaitSet / GSTSN with the BA+ triplet loss, then evaluate rank-1",
        description="Train a GaitSet / GSTSN model (BA+ triplet loss, Adam, P×K batches) and evaluate CASIA-B rank-1 "
        "on the test subjects. Options not given keep the profile's value, shown in brackets as "
        "[smoke=..., quick=..., paper=...]. Under torchrun the same command trains with DistributedDataParallel.",
    )
    run_opts = p.add_argument_group("run")
    run_opts.add_argument(
        "--profile", choices=tuple(PROFILES), default="quick",
        help="named settings: smoke (seconds, tests), quick (minutes on a CPU), ablation (the synthetic studies), "
        "cpu-real (real CASIA-B on a 2-core CPU, docs/reference.md), paper (the spec's scale, GPU); "
        "default: quick",
    )  # fmt: skip
    run_opts.add_argument("--out", metavar="DIR", help="run directory (default: runs/PROFILE-MODEL-CONFIGHASH)")
    run_opts.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    run_opts.add_argument(
        "--device", type=cli_args.device, default="auto", help="auto (default) = CUDA when available, cpu, cuda[:K]"
    )
    run_opts.add_argument(
        "--time-limit", type=cli_args.positive_seconds, metavar="SECONDS", default=None,
        help="stop after this much training time with a checkpoint (continue later with --resume)",
    )  # fmt: skip
    run_opts.add_argument("--no-eval", action="store_true", help="skip the rank-1 evaluation")
    run_opts.add_argument("--no-progress", action="store_true", help="no progress bar")
    run_opts.add_argument(
        "--tensorboard", action="store_true",
        help="also write the logged scalars (loss, distances, rank-1) as TensorBoard events to OUT/tensorboard "
        "(needs the tensorboard package: pip install 'gstsn[tensorboard]')",
    )  # fmt: skip
    add_field_option(run_opts, "seed")
    for section, title in (("model", "model"), ("input", "input"), ("data", "data"), ("train", "training"),
                           ("eval", "evaluation")):  # fmt: skip
        group = p.add_argument_group(title)
        for f in dataclasses.fields(RUN_SECTIONS[section]):
            add_field_option(group, f.name)
    p.set_defaults(func=cmd_train, _parser=p)

    e = subparsers.add_parser(
        "eval",
        help="evaluate a checkpoint's CASIA-B rank-1",
        description="Embed every test sequence with a trained checkpoint and score CASIA-B rank-1 (11x11 tables per "
        "probe set, identical views excluded and included). Options not given keep the checkpoint's values.",
    )
    e.add_argument("checkpoint", metavar="CHECKPOINT", help="a checkpoint file, or a run directory (its newest one)")
    e.add_argument(
        "--allow-train-subjects", action="store_true",
        help="score test subjects that the checkpoint was trained on (refused by default: that measures memory)",
    )  # fmt: skip
    e.add_argument(
        "--out", metavar="DIR", type=cli_args.output_folder,
        help="output directory (default: RUN/eval-ITERATION-DISTANCE)",
    )  # fmt: skip
    e.add_argument(
        "--device", type=cli_args.device, default="auto", help="auto (default) = CUDA when available, cpu, cuda[:K]"
    )
    for name in EVAL_FIELDS:
        add_field_option(e, name, show_profiles=False)
    e.set_defaults(func=cmd_eval, _parser=e)


__all__ = ["CommandError", "FIELD_HELP", "add_field_option", "cmd_eval", "cmd_train", "provenance", "register"]
