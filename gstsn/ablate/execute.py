"""Train and evaluate one run into its work folder, resuming from its newest checkpoint: the ablation's unit of work.

Composed from the trainer's and the evaluator's public functions (``gstsn.train.trainer.Trainer``,
``gstsn.eval.embed.embed_for_run``, ``gstsn.eval.protocol.evaluate_rank1``, ``gstsn.eval.gei.gei_features``):

1. open the data (``gstsn.data.open_dataset``) and its split;
2. ``gaitset`` / ``gstsn``: train with ``resume=True`` (a run with a checkpoint continues from it, bit-identically on
   the CPU; a finished one only reloads its weights), without the trainer's own evaluation; ``gei``: no training;
3. embed every test sequence once and score rank-1 with both distances (``per_part`` and ``flat``), and rank-5, mAP,
   mINP (standard protocol) and the cross-view-gallery rank-1 / mAP (``gstsn.eval.retrieval``,
   ``gstsn.eval.crossview``), also with both distances;
4. write ``retrieval.csv`` (those metrics' tables) and ``matches.npz`` (who matched, ``gstsn.eval.who_matched``)
   into the run folder, and return the run's results row (:class:`gstsn.results.row.RunRow`, without the study
   keys) and its 11×11 rank-1 cells.

:func:`attempt_run` runs one spec under its lock, in the runner or in a worker process of ``--jobs N``
(:func:`worker_init`).
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gstsn.ablate.spec import RunSpec
from gstsn.config import DISTANCES, portable_source
from gstsn.results.files import MATCHES_FILE, RETRIEVAL_FILE, TRAIN_LOG_FILE
from gstsn.results.metrics import metric_key
from gstsn.results.retrieval_csv import ALL_VIEWS, CROSS_VIEW, STANDARD, write_retrieval_csv
from gstsn.results.row import Provenance, RunRow, TrainedKeys


def _cache_root(cache_root: str | Path | None) -> Path:
    from gstsn.data.sources import DEFAULT_CACHE_ROOT

    return Path(cache_root) if cache_root is not None else DEFAULT_CACHE_ROOT


def prepare_data(
    sources: Sequence[str],
    cache_root: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    jobs: int = 1,
) -> None:
    """Generate (synthetic) or import (CASIA-B) each data source into the cache once, before any run needs it;
    ``jobs > 1`` prepares that many sources at once in worker processes."""
    root = _cache_root(cache_root)
    if jobs > 1 and len(sources) > 1:
        import concurrent.futures as cf
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(min(jobs, len(sources)), mp_context=ctx) as pool:
            for source, (n, took) in zip(sources, pool.map(_open_one, sources, [root] * len(sources)), strict=True):
                _report(log, source, n, took, root)
        return
    for source in sources:
        _report(log, source, *_open_one(source, root, progress), root)


def check_splits(pairs: Sequence[tuple[str, str]], cache_root: str | Path | None = None) -> None:
    """Resolve every (data source, split) that the runs need against the prepared data, so that a split naming
    subjects the data lacks fails once, naming them and the data, before any run trains."""
    from gstsn.data import open_dataset
    from gstsn.data.splits import SplitError, load_split

    root = _cache_root(cache_root)
    for source, split in sorted(set(pairs)):
        dataset = open_dataset(source, root)
        try:
            load_split(split, sorted(set(dataset.index["subject"])))
        except SplitError as exc:
            raise SplitError(f"data {source}: {exc}") from None


def _open_one(source: str, root: Path, progress: bool = False) -> tuple[int, float]:
    """Open (generating or importing once) one data source; a lock per source keeps two runners on one cache (e.g.
    two shards on one machine) from writing the same cache at once."""
    import hashlib

    from gstsn.data import open_dataset
    from gstsn.locks import exclusive_lock

    t0 = time.perf_counter()
    key = hashlib.sha256(source.encode()).hexdigest()[:16]
    with exclusive_lock(Path(root) / f".prepare-{key}.lock"):
        cache = open_dataset(source, root, progress=progress)
    return len(cache), time.perf_counter() - t0


def _report(log: Callable[[str], None], source: str, n: int, took: float, root: Path) -> None:
    if took > 1.0:
        log(f"data {source}: {n} sequences generated or imported in {took:.0f} s (cache under {root})")


def _last_logged(path: Path) -> dict[str, float]:
    last: dict[str, float] = {}
    if path.is_file():
        with path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                last = {k: float(v) for k, v in row.items() if v not in ("", None)}
    return last


def _num(x: Any) -> float | None:
    """JSON-safe float (NaN → None)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def metrics_of(results: dict[str, Any]) -> tuple[dict[str, float | None], list[list[Any]], list[str]]:
    """``(metrics, tables, notes)`` from ``{distance: Rank1Result}``: the row's ``rank1.*`` keys, the 11×11 cells as
    ``[distance, condition, probe_view, gallery_view, value]`` and the protocol's notes."""
    metrics: dict[str, float | None] = {}
    tables: list[list[Any]] = []
    notes: list[str] = []
    for distance, res in results.items():
        for cond in res.probe_sets:
            metrics[metric_key("rank1", distance, cond)] = _num(res.summary_excl[cond])
            metrics[metric_key("rank1_incl", distance, cond)] = _num(res.summary_incl[cond])
        for cond in res.probe_sets:
            for view in res.views:
                metrics[metric_key("rank1_view", distance, cond, view)] = _num(res.per_view_excl.at[view, cond])
            table = res.tables[cond]
            for pv in res.views:
                for gv in res.views:
                    tables.append([distance, cond, pv, gv, float(table.at[pv, gv])])
        notes.extend(n for n in res.notes if n not in notes)
    return metrics, tables, notes


def retrieval_metrics_of(
    retrieval: dict[str, Any], cross_view: dict[str, Any]
) -> tuple[dict[str, float | None], list[list[Any]]]:
    """``(metrics, rows)`` from ``{distance: RetrievalResult}`` and ``{distance: CrossViewResult}``: the row keys
    ``<metric>.<distance>.<COND>`` (identical views excluded) and ``<metric>_view.<distance>.<COND>.<view>`` for
    ``rank5`` / ``map`` / ``minp``, ``cv_rank1`` / ``cv_map`` (cross-view gallery, per probe view), and the rows of
    ``retrieval.csv`` (:mod:`gstsn.results.retrieval_csv`; ``gallery_view="all"`` for the cross-view numbers)."""
    from gstsn.eval.retrieval import EXTRA_METRICS

    metrics: dict[str, float | None] = {}
    rows: list[list[Any]] = []
    for distance, res in retrieval.items():
        for metric in EXTRA_METRICS:
            for cond in res.probe_sets:
                metrics[metric_key(metric, distance, cond)] = _num(res.summary_excl[metric][cond])
            for cond in res.probe_sets:
                for view in res.views:
                    metrics[metric_key(f"{metric}_view", distance, cond, view)] = _num(
                        res.per_view_excl[metric].at[view, cond]
                    )
                table = res.tables[metric][cond]
                for pv in res.views:
                    for gv in res.views:
                        rows.append([STANDARD, distance, metric, cond, pv, gv, float(table.at[pv, gv])])
    for distance, res in cross_view.items():
        for metric, per_view in res.per_view.items():
            for cond in res.probe_sets:
                metrics[metric_key(metric, distance, cond)] = _num(res.summary[metric][cond])
                for view in res.views:
                    value = float(per_view.at[view, cond])
                    metrics[metric_key(f"{metric}_view", distance, cond, view)] = _num(value)
                    rows.append([CROSS_VIEW, distance, metric, cond, view, ALL_VIEWS, value])
    return metrics, rows


def _provenance(spec: RunSpec, device: Any, dataset: Any) -> Provenance:
    import torch

    import gstsn
    from gstsn.train.provenance import provenance

    p = provenance(spec.config, device, dataset, spec.profile)
    return Provenance(
        commit=p.get("git_commit"),
        dirty=p.get("git_dirty"),
        torch=torch.__version__,
        device=str(device),
        device_name=p.get("device_name"),
        cpu_model=p.get("cpu_model"),
        precision=p.get("precision"),
        threads=torch.get_num_threads(),
        date=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        gstsn_version=getattr(gstsn, "__version__", None) or _package_version(),
    )


def _package_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("gstsn")
    except metadata.PackageNotFoundError:
        return None


def execute_run(
    spec: RunSpec,
    run_dir: str | Path,
    *,
    device: str = "auto",
    cache_root: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train (resuming) and evaluate ``spec`` in ``run_dir``; returns ``{"row": {...}, "tables": [[...], ...]}``.

    The row (:meth:`gstsn.results.row.RunRow.as_dict`) holds every key but the study keys (added per study by the
    runner).
    """
    from gstsn.data import open_dataset
    from gstsn.data.splits import load_split
    from gstsn.eval.embed import rows_of_subjects
    from gstsn.eval.who_matched import build_matches, gei_thumbnails, save_matches
    from gstsn.train.setup import resolve_device

    cfg = spec.config
    run_dir = Path(run_dir)
    dev = resolve_device(device)
    dataset = open_dataset(cfg.data.source, _cache_root(cache_root))
    split = load_split(cfg.data.split, sorted(set(dataset.index["subject"])))
    rows, _ = rows_of_subjects(dataset, split.test)
    if spec.method == "gei":
        from gstsn.eval.gei import gei_features

        training: dict[str, Any] = {}  # a reference trains nothing: null training keys
        t0 = time.perf_counter()
        feats = gei_features(dataset, rows)
    else:
        from gstsn.eval.embed import embed_for_run

        training, module = _train(spec, run_dir, dataset, split, dev, progress)
        t0 = time.perf_counter()
        feats = embed_for_run(module, dataset, rows, cfg, dev)
    index = dataset.index.iloc[rows]
    labels = (index["subject"].to_numpy(), index["seq_type"].to_numpy(), index["view"].to_numpy())
    results, retrieval, cross_view = _evaluate(feats, labels, dev)
    eval_time = time.perf_counter() - t0
    metrics, tables, notes = metrics_of(results)
    extra, retrieval_rows = retrieval_metrics_of(retrieval, cross_view)
    notes.extend(n for res in cross_view.values() for n in res.notes if n not in notes)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_retrieval_csv(run_dir / RETRIEVAL_FILE, retrieval_rows)
    main = cfg.eval.distance
    matches = build_matches(retrieval[main], feats, *labels, thumbnails=gei_thumbnails(dataset, rows))
    save_matches(run_dir / MATCHES_FILE, matches)
    lengths = index["length"].to_numpy()
    cap = cfg.eval.max_test_frames
    eval_frames = int(np.minimum(lengths, cap).sum()) if cap is not None else int(lengths.sum())
    row = RunRow(
        run_id=spec.run_id,
        seed=spec.seed,
        method=spec.method,
        config=spec.fields(),
        profile=spec.profile,
        data_source=portable_source(cfg.data.source),  # no machine-local path: rows travel (the fingerprint is next)
        data_fingerprint=str(getattr(dataset, "fingerprint", "")),
        synthetic=spec.synthetic,
        split_mode=split.mode,
        train_subjects=len(split.train),
        test_subjects=len(split.test),
        eval_time_s=round(eval_time, 3),
        **training,
        eval_sequences=len(rows),
        eval_frames=eval_frames,
        metrics={**metrics, **extra},
        rank1_notes=notes,
        provenance=_provenance(spec, dev, dataset),
        config_hash=spec.run_id,
    )
    return {"row": row.as_dict(), "tables": tables}


def _train(spec: RunSpec, run_dir: Path, dataset: Any, split: Any, dev: Any, progress: bool) -> tuple[dict, Any]:
    """Train ``spec`` in ``run_dir`` (resuming from its newest checkpoint): the row's training fields (keyword
    arguments of :class:`~gstsn.results.row.RunRow`) and the model."""
    from gstsn.train.trainer import Trainer

    cfg = spec.config
    trainer = Trainer(
        cfg,
        run_dir,
        dataset=dataset,
        train_subjects=split.train,
        test_subjects=split.test if cfg.train.eval_every > 0 else None,  # curves for time to accuracy
        device=dev,
        resume=True,
        progress=progress,
    )
    res = trainer.run()
    if res.status != "completed":
        raise RuntimeError(f"training stopped at iteration {res.iteration} ({res.status})")
    last = _last_logged(run_dir / TRAIN_LOG_FILE)
    train = {
        "train_time_s": _num(res.train_time),
        "final_loss": _num(last.get("loss")),
        "final_dist_ap": _num(last.get("dist_ap")),
        "final_dist_an": _num(last.get("dist_an")),
        "final_nonzero_frac": _num(last.get("nonzero_frac")),
        "collapsed": bool(res.collapse.get("detected")),
        "trained": TrainedKeys(
            collapse_at_end=bool(res.collapse.get("collapsed_at_end")),
            sec_per_iter=_num(res.sec_per_iter) if res.resumed_from != cfg.train.iterations else None,
            resumed_from=res.resumed_from,
            cpu_others_share=_num(res.cpu_others_share),
        ),
    }
    module = trainer.model.module if hasattr(trainer.model, "module") else trainer.model
    return train, module


def _evaluate(feats: Any, labels: tuple[np.ndarray, ...], dev: Any) -> tuple[dict, dict, dict]:
    """Rank-1, retrieval and cross-view results of ``feats`` for both distances."""
    from gstsn.eval.crossview import evaluate_cross_view
    from gstsn.eval.protocol import evaluate_rank1
    from gstsn.eval.retrieval import evaluate_retrieval

    results = {d: evaluate_rank1(feats, *labels, distance=d, device=dev) for d in DISTANCES}
    retrieval = {d: evaluate_retrieval(feats, *labels, distance=d, device=dev) for d in DISTANCES}
    cross_view = {d: evaluate_cross_view(feats, *labels, distance=d, device=dev) for d in DISTANCES}
    return results, retrieval, cross_view


__all__ = [
    "check_splits",
    "execute_run",
    "metrics_of",
    "prepare_data",
    "retrieval_metrics_of",
]
