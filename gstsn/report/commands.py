"""``gstsn report RESULTS_DIR [--out reports/]``: render the HTML report from a results store.

Registered by ``gstsn.cli`` through :func:`register`; the rendering modules (matplotlib, seaborn) are imported only
when the command runs, so building the ``gstsn`` parser stays fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers) -> None:
    """Add the ``report`` subcommand to ``subparsers`` (an ``argparse`` sub-parsers action)."""
    p = subparsers.add_parser(
        "report",
        help="render the HTML report (index, one page per study, timing) from a results folder",
        description="Render reports/index.html, one self-contained page per study and a timing page from the "
        "results store (runs.jsonl, tables.csv, per-run logs, timing/). Missing inputs are listed on the pages.",
    )
    p.add_argument(
        "results_dir",
        metavar="RESULTS_DIR",
        type=Path,
        nargs="?",
        default=Path("results"),
        help="results folder written by the ablation runner and the timing suite (default: results)",
    )
    p.add_argument(
        "--out", type=Path, default=Path("reports"), help="output folder for the HTML pages (default: reports)"
    )
    p.add_argument(
        "--reference", type=Path, action="append", default=[], metavar="DIR",
        help="a committed results store to merge in, study by study, as its own data group (repeatable), e.g. "
        "reference/casia-b-cpu (real CASIA-B runs at the cpu-real profile)",
    )  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Render the report; exit status 2 when the results folder does not exist or ``--out`` names a file (checked
    before anything is read), else 0 (problems are listed)."""
    from gstsn.atomic import output_folder_problem
    from gstsn.report.load import ResultsDirError
    from gstsn.report.render import render_report

    problem = output_folder_problem(args.out)
    if problem:  # before the results are read and the pages rendered
        print(f"gstsn report: error: --out {problem}", file=sys.stderr)
        return 2
    try:
        result = render_report(args.results_dir, args.out, references=tuple(args.reference))
    except ResultsDirError as exc:
        print(f"gstsn report: {exc}", file=sys.stderr)
        return 2
    for page in result.pages:
        print(page)
    if result.problems:
        print(f"{len(result.problems)} note(s) on missing or incomplete inputs (also shown on the pages):")
        for problem in result.problems:
            print(f"  - {problem}")
    return 0
