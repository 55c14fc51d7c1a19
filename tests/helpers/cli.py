"""The ``gstsn`` command line run in-process, as a test calls it."""

from __future__ import annotations

from gstsn.cli import main


def run_cli(argv, capsys):
    """``(exit code, stdout, stderr)`` of ``gstsn ARGV`` (``capsys``: pytest's fixture, which captures the output)."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err
