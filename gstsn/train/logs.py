"""The run's logs: ``train_log.csv`` and ``eval_log.csv`` (append-only tidy CSV, rows after a resumed iteration
dropped), the optional TensorBoard events with the same scalars, and the progress bar."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

from gstsn.config import RunConfig, config_hash, config_to_dict
from gstsn.results.files import CONFIG_FILE, EVAL_LOG_FILE, TRAIN_LOG_FILE
from gstsn.train.errors import TrainingError

log = logging.getLogger("gstsn.train")

LOG_COLUMNS = ("iteration", "loss", "dist_ap", "dist_an", "nonzero_frac", "wall_time", "lr", "collapsed")
EVAL_COLUMNS = ("iteration", "wall_time", "probe_set", "rank1_excl", "rank1_incl", "distance")


class CsvLog:
    """Append-only tidy CSV; on resume the rows after the resumed iteration (to be redone) are dropped first."""

    def __init__(self, path: Path, columns: tuple[str, ...], resume_from: int | None) -> None:
        self.path = path
        self.columns = columns
        self._failed = False
        rows: list[dict[str, str]] = []
        if resume_from is not None and path.is_file():
            with path.open(newline="") as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["iteration"]) <= resume_from]
        self._fh = path.open("w", newline="")
        self._writer = csv.DictWriter(self._fh, fieldnames=columns)
        self._writer.writeheader()
        self._writer.writerows(rows)
        self._fh.flush()

    def write(self, row: dict[str, Any]) -> None:
        try:
            self._writer.writerow({k: row[k] for k in self.columns})
            self._fh.flush()
        except OSError:
            self._failed = True
            raise

    def close(self) -> None:
        """Close the file; after a failed write (a full disk) the retried flush fails again: that error was raised
        already, so it is not raised twice (the file is closed all the same)."""
        try:
            self._fh.close()
        except OSError:
            if not self._failed:
                raise


class TensorBoardLog:
    """The same scalars as the CSV logs, as TensorBoard events in ``path`` (optional: needs the ``tensorboard``
    package, extra ``gstsn[tensorboard]``).

    Tags: ``train/<stat>`` (``loss``, ``dist_ap``, ``dist_an``, ``nonzero_frac``, ``collapsed``) per logged
    iteration, and ``rank1/<probe set>`` (identical views excluded) / ``rank1_incl/<probe set>`` per evaluation, with
    the iteration as the step. On resume the events after the resumed iteration are purged (``purge_step``), as the
    CSV rows are, so the curves show one run.
    """

    def __init__(self, path: Path, resume_from: int | None) -> None:
        purge = None if resume_from is None else resume_from + 1
        self._writer = self.writer_class()(log_dir=str(path), purge_step=purge)

    @staticmethod
    def writer_class() -> type:
        """torch's ``SummaryWriter``; :class:`TrainingError` naming the missing package when it cannot be imported."""
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:  # torch's writer imports the tensorboard package
            raise TrainingError(
                "--tensorboard needs the tensorboard package (pip install 'gstsn[tensorboard]'); "
                f"importing it failed: {exc}"
            ) from exc
        return SummaryWriter

    def train_row(self, iteration: int, stats: dict[str, float], collapsed: bool) -> None:
        for name, value in stats.items():
            self._writer.add_scalar(f"train/{name}", value, iteration)
        self._writer.add_scalar("train/collapsed", float(collapsed), iteration)

    def eval_row(self, row: dict[str, Any]) -> None:
        self._writer.add_scalar(f"rank1/{row['probe_set']}", row["rank1_excl"], row["iteration"])
        self._writer.add_scalar(f"rank1_incl/{row['probe_set']}", row["rank1_incl"], row["iteration"])

    def close(self) -> None:
        self._writer.close()


class RunLogs:
    """A run folder's logs while it trains: ``config.json`` (written on open), ``train_log.csv``, ``eval_log.csv``
    and, when asked for, ``tensorboard/``. On a rank other than the main one every method does nothing."""

    def __init__(
        self, out: Path, cfg: RunConfig, resumed_from: int | None, *, tensorboard: bool, enabled: bool = True
    ) -> None:
        self.csv = self.eval = self.tb = None
        if not enabled:
            return
        out.mkdir(parents=True, exist_ok=True)
        cfg_json = {"config": config_to_dict(cfg), "config_hash": config_hash(cfg)}
        (out / CONFIG_FILE).write_text(json.dumps(cfg_json, indent=2) + "\n")
        self.csv = CsvLog(out / TRAIN_LOG_FILE, LOG_COLUMNS, resumed_from)
        self.eval = CsvLog(out / EVAL_LOG_FILE, EVAL_COLUMNS, resumed_from)
        if tensorboard:
            self.tb = TensorBoardLog(out / "tensorboard", resumed_from)

    def train_row(self, iteration: int, stats: dict[str, float], wall_time: float, lr: float, collapsed: bool):
        if self.csv is not None:
            self.csv.write({"iteration": iteration, **stats, "wall_time": round(wall_time, 4), "lr": lr,
                            "collapsed": int(collapsed)})  # fmt: skip
        if self.tb is not None:
            self.tb.train_row(iteration, stats, collapsed)

    def eval_rows(self, rows: list[dict[str, Any]]) -> None:
        for r in rows:
            if self.eval is not None:
                self.eval.write(r)
            if self.tb is not None:
                self.tb.eval_row(r)

    def close(self) -> None:
        for lg in (self.csv, self.eval, self.tb):
            if lg is not None:
                lg.close()


def progress_bar(enabled: bool, start: int, total: int) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=start, unit="it", dynamic_ncols=True, desc="train")


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def set_postfix(self, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass


def summary_rows(result: Any, iteration: int, wall_time: float, distance: str) -> list[dict[str, Any]]:
    """One row per probe set (NM/BG/CL) from a ``Rank1Result``: identical-view-excluded and -included means."""
    rows = []
    for probe_set in result.probe_sets:
        rows.append(
            {
                "iteration": iteration,
                "wall_time": round(wall_time, 4),
                "probe_set": probe_set,
                "rank1_excl": result.summary_excl[probe_set],
                "rank1_incl": result.summary_incl[probe_set],
                "distance": distance,
            }
        )
    return rows


__all__ = [
    "CONFIG_FILE",
    "CsvLog",
    "EVAL_COLUMNS",
    "LOG_COLUMNS",
    "TRAIN_LOG_FILE",
    "RunLogs",
    "TensorBoardLog",
    "progress_bar",
    "summary_rows",
]
