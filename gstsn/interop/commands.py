"""``gstsn import-checkpoint PATH``: evaluate an OpenGait GaitSet checkpoint with gstsn's evaluator.

Maps the checkpoint onto gstsn's GaitSet (:mod:`gstsn.interop.opengait`), embeds every test sequence of ``--data`` /
``--split`` and writes ``results.json``, ``results.csv`` (rank-1, rank-5, mAP, mINP, cross-view gallery) and
``matches.npz`` into ``--out``, as ``gstsn eval`` does for a gstsn checkpoint.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gstsn import cli_args


def _bins(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of integers, e.g. 16,8,4,2,1"
        ) from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("expected positive integers, e.g. 16,8,4,2,1")
    return values


def cmd_import_checkpoint(args: argparse.Namespace) -> int:
    from gstsn import cli_args
    from gstsn.atomic import output_folder_problem
    from gstsn.config import ConfigError, resolve_profile
    from gstsn.interop.opengait import OPENGAIT_BINS, ImportCheckpointError, read_state_dict, to_gstsn_state
    from gstsn.models import build_model
    from gstsn.train.results_file import report_evaluation, retrieval_evaluation
    from gstsn.train.setup import open_run_data, resolve_device

    path = Path(args.checkpoint)
    mapped = to_gstsn_state(read_state_dict(path), args.bins or OPENGAIT_BINS)
    out = Path(args.out) if args.out else path.with_name(f"{path.stem}-gstsn-eval")
    problem = output_folder_problem(out)
    if problem:  # checked before the evaluation, whose results would be lost at its end
        raise ImportCheckpointError(f"output folder: {problem}")
    fields: dict[str, Any] = {
        "temporal": False,
        "channels": mapped["channels"],
        "hpm_bins": mapped["hpm_bins"],
        "embed_dim": mapped["embed_dim"],
        "max_test_frames": None,
        **cli_args.field_overrides(args, list(FIELDS)),
    }
    try:
        cfg = resolve_profile("paper", **fields)
    except ConfigError as exc:
        args._parser.error(str(exc))
    model = build_model(cfg.model)
    model.load_state_dict(mapped["state"], strict=True)
    device = resolve_device(args.device)
    dataset, split = open_run_data(cfg)
    from gstsn.eval.embed import evaluate_model

    result, feats = evaluate_model(model.to(device), dataset, split.test, cfg, device)
    out.mkdir(parents=True, exist_ok=True)
    extra = retrieval_evaluation(feats, dataset, split.test, cfg, out, device)
    identity = {
        "checkpoint": str(path),
        "source": "OpenGait GaitSet (state dict mapped by gstsn.interop.opengait)",
        "opengait_bin_num": list(args.bins or OPENGAIT_BINS),
        "iteration": None,
    }
    print(f"OpenGait GaitSet {path.name}: channels {list(mapped['channels'])}, {2 * sum(mapped['hpm_bins'])} parts")
    report_evaluation(out, "import-checkpoint", "gaitset", identity, cfg, device, dataset, split, result, extra)
    return 0


FIELDS = ("source", "split", "height", "width", "downsample", "distance", "max_test_frames", "eval_batch_frames")


def register(subparsers: Any) -> None:
    """Add ``import-checkpoint`` to the ``gstsn`` command."""
    from gstsn.train.commands import add_field_option

    p = subparsers.add_parser(
        "import-checkpoint",
        help="evaluate an OpenGait GaitSet checkpoint with gstsn's evaluator",
        description="Map an OpenGait GaitSet checkpoint (its state-dict keys and shapes) onto gstsn's GaitSet and "
        "evaluate it: rank-1, rank-5, mAP, mINP and OpenGait's cross-view gallery on the test subjects. The file is "
        "read with torch.load(weights_only=True); a file that does not match names the first bad key.",
    )
    p.add_argument("checkpoint", metavar="PATH", help="OpenGait checkpoint (.pt with a 'model' state dict)")
    p.add_argument(
        "--out", metavar="DIR", type=cli_args.output_folder,
        help="output directory (default: PATH's stem + '-gstsn-eval' beside it)",
    )  # fmt: skip
    p.add_argument(
        "--device", type=cli_args.device, default="auto", help="auto (default) = CUDA when available, cpu, cuda[:K]"
    )
    p.add_argument(
        "--bins", type=_bins, default=None, metavar="N,N,...",
        help="the model's OpenGait bin_num in its order (default 16,8,4,2,1, OpenGait's GaitSet config)",
    )  # fmt: skip
    for name in FIELDS:
        add_field_option(p, name, show_profiles=False)
    p.set_defaults(func=cmd_import_checkpoint, _parser=p)


__all__ = ["cmd_import_checkpoint", "register"]
