"""``gstsn eval``: score a checkpoint on the test subjects of its split (it refuses subjects the model was trained on)
and write results like ``gstsn train``'s."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from gstsn import cli_args
from gstsn.atomic import output_folder_problem
from gstsn.config import ConfigError, RunConfig, resolve_profile
from gstsn.train.errors import CommandError
from gstsn.train.results_file import report_evaluation, retrieval_evaluation
from gstsn.train.setup import open_run_data

EVAL_FIELDS = ("source", "split", "distance", "max_test_frames", "eval_batch_frames")


def _checkpoint_file(path: Path) -> Path:
    from gstsn.results.files import CHECKPOINTS_DIR
    from gstsn.train.checkpoint import latest_checkpoint

    if path.is_dir():
        found = latest_checkpoint(path / CHECKPOINTS_DIR) or latest_checkpoint(path)
        if found is None:
            raise CommandError(f"{path} holds no checkpoint (looked in {path / CHECKPOINTS_DIR} and {path})")
        return found
    if not path.is_file():
        raise CommandError(f"checkpoint {path} does not exist")
    return path


def evaluate_checkpoint(
    ckpt: Path, cfg: RunConfig, dataset: Any, test_subjects: list[str], device: torch.device,
    with_features: bool = False,
) -> Any:  # fmt: skip
    from gstsn.eval.embed import evaluate_model
    from gstsn.train.checkpoint import load_checkpoint
    from gstsn.train.setup import seeded_model

    payload = load_checkpoint(ckpt)
    model = seeded_model(cfg)
    model.load_state_dict(payload["model"])
    result, feats = evaluate_model(model.to(device), dataset, test_subjects, cfg, device)
    return (result, feats) if with_features else result


def _training_data(payload: dict[str, Any], saved: RunConfig, dataset: Any) -> dict[str, Any]:
    """What the checkpoint was trained on: its training subjects (recorded since checkpoints carry them; for older
    ones, the saved split applied to this data's subjects, which is exact when the data is the same), its data
    fingerprint, and whether that is the evaluation data's."""
    from gstsn.data.splits import load_split

    fingerprint = payload.get("data_fingerprint") or ""
    same = bool(fingerprint) and fingerprint == str(getattr(dataset, "fingerprint", ""))
    subjects = payload.get("train_subjects")
    if subjects is None:
        subjects = load_split(saved.data.split, sorted(set(dataset.index["subject"]))).train
    return {
        "data_fingerprint": fingerprint,
        "same_data": same,
        "split": saved.data.split,
        "train_subjects": sorted(str(s) for s in subjects),
    }


def cmd_eval(args: argparse.Namespace) -> int:
    from gstsn.train.checkpoint import load_checkpoint
    from gstsn.train.setup import resolve_device

    ckpt = _checkpoint_file(Path(args.checkpoint))
    payload = load_checkpoint(ckpt)
    saved = RunConfig.from_dict(payload["config"], where=str(ckpt))
    try:
        cfg = resolve_profile("paper", **{**saved.flat(), **cli_args.field_overrides(args, list(EVAL_FIELDS))})
    except ConfigError as exc:
        args._parser.error(str(exc))
    iteration = int(payload["iteration"])
    out = Path(args.out) if args.out else ckpt.parent.parent / f"eval-{iteration:07d}-{cfg.eval.distance}"
    problem = output_folder_problem(out)
    if problem:  # checked before the evaluation, whose results would be lost at its end
        raise CommandError(f"output folder: {problem}")
    device = resolve_device(args.device)
    dataset, split = open_run_data(cfg)
    trained_on = _training_data(payload, saved, dataset)
    overlap = sorted(set(trained_on["train_subjects"]) & set(split.test))
    if overlap and not args.allow_train_subjects:
        same = "the same data" if trained_on["same_data"] else "data with other content but the same subject names"
        raise CommandError(
            f"{len(overlap)} of the {len(split.test)} test subjects were training subjects of {ckpt} "
            f"({', '.join(overlap[:6])}{', ...' if len(overlap) > 6 else ''}; {same}, split {cfg.data.split!r}): "
            "rank-1 on them measures memory, not recognition. Choose another --split or --data, or pass "
            "--allow-train-subjects to score them anyway (the results then say so)."
        )
    result, feats = evaluate_checkpoint(ckpt, cfg, dataset, split.test, device, with_features=True)
    out.mkdir(parents=True, exist_ok=True)
    extra = retrieval_evaluation(feats, dataset, split.test, cfg, out, device)
    identity = {
        "checkpoint": str(ckpt),
        "iteration": iteration,
        "trained_on_fingerprint": payload.get("data_fingerprint"),
        "trained_on": {**trained_on, "test_subjects_seen_in_training": overlap},
    }
    report_evaluation(out, "eval", cfg.model.model_name, identity, cfg, device, dataset, split, result, extra)
    return 0


__all__ = ["EVAL_FIELDS", "cmd_eval", "evaluate_checkpoint"]
