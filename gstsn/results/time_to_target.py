"""The "20 % less time" claim as time to target (as MLPerf times training): the training time each run needs to
first reach a fixed rank-1 target, per seed, with the mean and its interval per model and the GSTSN / GaitSet ratio
(torch-free).

- Runs: the GaitSet and GSTSN runs of one setting paired by seed (:func:`gstsn.results.curves.pair_runs`, as
  :mod:`gstsn.timing.tta` pairs them), with their evaluation curves (``eval_curve.csv``; ``per_part`` distance,
  identical views excluded).
- Target, per probe set: :data:`TARGET_FRACTION` (95 %) of GaitSet's final rank-1, the mean over the paired GaitSet
  runs of their curve's last evaluation. One target per setting and probe set, the same for both models (NM is the
  headline; BG and CL have their own).
- Time: the curve's ``wall_time`` (training seconds, evaluation excluded) at the first evaluation at or above the
  target (:func:`gstsn.results.curves.first_reach`). Curves are sampled every ``eval_every`` iterations, so a time is
  known to within one evaluation interval. A run that never reaches the target within its curve is "not reached":
  named, and left out of its model's mean and of the ratios.
- Per model: the mean time over the seeds that reached the target, with its 95 % t-interval
  (:func:`gstsn.results.stats.mean_ci`).
- Ratio: GSTSN time ÷ GaitSet time per seed (both reached); over the seeds, their geometric mean with the t-interval
  computed on the logarithms of the ratios and transformed back (:func:`geometric_mean_ci`; asymmetric around the
  ratio). "20 % less time" is a ratio ≤ :data:`CLAIM_RATIO`.
- Per iteration, beside it: each run's seconds per training iteration (``sec_per_iter``, else ``train_time_s`` ÷
  ``iterations``), the same mean and ratio.
- Contention: each run's ``cpu_others_share``; :func:`gstsn.contention.contended` marks a time measured under
  contention. A row written before the share was measured has none: "contention not recorded".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from gstsn.config import CONDITIONS
from gstsn.contention import contended
from gstsn.results.budget import MAIN_DISTANCE, run_curve, with_curves
from gstsn.results.curves import PairedRuns, first_reach, pair_runs, usable_curves
from gstsn.results.stats import Interval, hashable, mean_ci

#: the target is this fraction of GaitSet's final rank-1 (mean over the setting's seeds), per probe set
TARGET_FRACTION = 0.95
#: GSTSN ÷ GaitSet time at or below this is the paper's "20 % less time"
CLAIM_RATIO = 0.8
PER_ITERATION = "per iteration"
MODELS = ("gaitset", "gstsn")
MODEL_LABELS = {"gaitset": "GaitSet", "gstsn": "GSTSN"}


@dataclass(frozen=True)
class RunTime:
    """One run's time: ``seconds`` (None: the target was not reached, or the time was not recorded) and the share of
    the CPUs other processes took while it trained (None: not recorded)."""

    seed: int
    run_id: str
    seconds: float | None
    share: float | None

    @property
    def contended(self) -> bool:
        return contended(self.share)


@dataclass
class TimeRow:
    """GaitSet and GSTSN times for one reading: a probe set's target (``what`` = ``NM`` …, with ``target`` and
    ``gaitset_final``) or the time per iteration (``what`` = :data:`PER_ITERATION`)."""

    what: str
    target: float | None
    gaitset_final: Interval | None
    times: dict[str, tuple[RunTime, ...]]  # model -> runs by seed
    means: dict[str, Interval]  # model -> mean over the runs with a time
    ratios: dict[int, float]  # seed -> GSTSN ÷ GaitSet, where both have a time
    ratio: Interval  # geometric mean of ``ratios`` with its interval
    missing: list[str] = field(default_factory=list)  # "GSTSN seed 2 (run …)" for runs without a time

    @property
    def contended_runs(self) -> list[RunTime]:
        return [t for model in MODELS for t in self.times[model] if t.contended]


@dataclass
class TimeToTarget:
    """The time-to-target readings of one setting and GSTSN variant (module docstring)."""

    paired: PairedRuns
    distance: str
    fraction: float
    rows: list[TimeRow]
    problems: list[str] = field(default_factory=list)

    @property
    def contention_recorded(self) -> bool:
        return any(t.share is not None for r in self.rows for m in MODELS for t in r.times[m])


def geometric_mean_ci(ratios: Iterable[float]) -> Interval:
    """The geometric mean of positive ``ratios`` with the 95 % t-interval of the mean of their logarithms,
    transformed back (bounds NaN with fewer than 2 ratios)."""
    logs = [math.log(r) for r in ratios]
    iv = mean_ci(logs)
    mean, low, high = (math.exp(v) if math.isfinite(v) else math.nan for v in (iv.mean, iv.low, iv.high))
    return Interval(mean, low, high, iv.n, iv.level)


def _number(value: Any) -> float | None:
    try:
        number = float(hashable(value))
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _share(row: Mapping[str, Any]) -> float | None:
    return _number(row.get("cpu_others_share"))


def _seconds_per_iteration(row: Mapping[str, Any]) -> float | None:
    train, iterations = _number(row.get("train_time_s")), _number(row.get("iterations"))
    for value in (_number(row.get("sec_per_iter")), train / iterations if train and iterations else None):
        if value is not None and value > 0:
            return value
    return None


def _time_row(what: str, target: float | None, final: Interval | None, times: dict[str, list[RunTime]]) -> TimeRow:
    by_seed = {m: {t.seed: t.seconds for t in times[m] if t.seconds is not None} for m in MODELS}
    ratios = {
        s: by_seed["gstsn"][s] / by_seed["gaitset"][s]
        for s in sorted(set(by_seed["gstsn"]) & set(by_seed["gaitset"]))
        if by_seed["gaitset"][s] > 0 and by_seed["gstsn"][s] > 0
    }
    missing = [
        f"{MODEL_LABELS[m]} seed {t.seed} (run {t.run_id})" for m in MODELS for t in times[m] if t.seconds is None
    ]
    return TimeRow(
        what,
        target,
        final,
        {m: tuple(times[m]) for m in MODELS},
        {m: mean_ci(by_seed[m].values()) for m in MODELS},
        ratios,
        geometric_mean_ci(ratios.values()),
        missing,
    )


def time_to_target(
    paired: PairedRuns,
    curves: pd.DataFrame,
    rows: Mapping[str, Mapping[str, Any]],
    distance: str = MAIN_DISTANCE,
    conditions: Iterable[str] = CONDITIONS,
    fraction: float = TARGET_FRACTION,
) -> TimeToTarget:
    """The readings of ``paired``'s runs: one :class:`TimeRow` per probe set that GaitSet's curves have, then the time
    per iteration. ``rows``: the runs' rows by run id (for the contention share and the time per iteration)."""
    ids = {rid for _, a, b in paired.pairs for rid in (a, b)}
    usable, problems = usable_curves(curves[curves["run_id"].astype(str).isin(ids)])
    run_of = {m: [(seed, pair[i]) for seed, *pair in paired.pairs] for i, m in enumerate(MODELS)}
    out = []
    for cond in conditions:
        run_curves = {m: {seed: run_curve(usable, rid, distance, cond) for seed, rid in run_of[m]} for m in MODELS}
        finals = [float(c["rank1"].iloc[-1]) for c in run_curves["gaitset"].values() if len(c)]
        if not finals:
            continue
        final = mean_ci(finals)
        target = fraction * final.mean
        times = {
            m: [
                RunTime(
                    seed,
                    rid,
                    first_reach(run_curves[m][seed], target) if len(run_curves[m][seed]) else None,
                    _share(rows.get(rid, {})),
                )  # fmt: skip
                for seed, rid in run_of[m]
            ]
            for m in MODELS
        }
        out.append(_time_row(cond, target, final, times))
    if out:
        times = {
            m: [
                RunTime(seed, rid, _seconds_per_iteration(rows.get(rid, {})), _share(rows.get(rid, {})))
                for seed, rid in run_of[m]
            ]  # fmt: skip
            for m in MODELS
        }
        out.append(_time_row(PER_ITERATION, None, None, times))
    return TimeToTarget(paired, distance, fraction, out, problems)


def times_to_target(
    rows: Iterable[Mapping[str, Any]], curves: pd.DataFrame, distance: str = MAIN_DISTANCE, label=None
) -> list[TimeToTarget]:
    """:func:`time_to_target` for each setting and GSTSN variant of ``rows`` whose paired runs have curves (those
    without a GaitSet curve for any probe set are left out)."""
    rows = list(rows)
    by_id = {str(r.get("run_id")): r for r in rows}
    paired = pair_runs(with_curves(rows, curves), **({"label": label} if label else {}))
    out = [time_to_target(p, curves, by_id, distance) for p in paired]
    return [t for t in out if t.rows]


def format_ratio(x: float) -> str:
    """A time ratio with two decimals, or as many digits as show it where two decimals would not (0.0025, 714)."""
    return f"{x:.2f}" if 0.01 <= x < 100 else f"{x:.0f}" if x >= 100 else f"{x:.2g}"


def ratio_words(iv: Interval) -> str:
    """Whether an interval of GSTSN ÷ GaitSet times supports "20 % less time" (the whole interval ≤ 0.8), contradicts
    it (the whole interval above 0.8) or cannot tell."""
    if not iv.has_interval:
        return "no interval (fewer than 2 seeds reached the target with both models)"
    if iv.high <= CLAIM_RATIO:
        return f'supports "20 % less time" (the whole interval ≤ {CLAIM_RATIO})'
    if iv.low > CLAIM_RATIO:
        return f'contradicts "20 % less time" (the whole interval above {CLAIM_RATIO})'
    return f"cannot tell (the interval spans {CLAIM_RATIO})"


__all__ = [
    "CLAIM_RATIO",
    "MODELS",
    "MODEL_LABELS",
    "PER_ITERATION",
    "TARGET_FRACTION",
    "RunTime",
    "TimeRow",
    "TimeToTarget",
    "format_ratio",
    "geometric_mean_ci",
    "ratio_words",
    "time_to_target",
    "times_to_target",
]
