"""A run directory's ``results.json`` (format :data:`RESULTS_FORMAT`: what ran, its config, provenance, split and
evaluation) and ``results.csv`` (tidy rank-1, rank-5 / mAP / mINP and cross-view rows), written by ``gstsn train``,
``gstsn eval`` and ``gstsn import-checkpoint``; and the retrieval evaluation behind their extra rows."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from gstsn.config import (
    CONDITIONS,
    RunConfig,
    config_hash,
    config_to_dict,
)
from gstsn.train.provenance import provenance

log = logging.getLogger("gstsn.train")

RESULTS_FORMAT = 1
#: the full record of a ``gstsn train`` / ``gstsn eval`` / ``gstsn import-checkpoint`` output folder, and its tidy rows.
#: Not :data:`gstsn.results.files.RESULT_FILE` (``result.json``, singular): the one results row an ablation run leaves
#: in its work folder for the results store.
COMMAND_RESULTS_FILE = "results.json"
COMMAND_RESULTS_CSV = "results.csv"


def rank1_summary(result: Any) -> dict[str, Any]:
    return {
        "distance": result.distance,
        "rank1_excl_identical": dict(result.summary_excl),
        "rank1_incl_identical": dict(result.summary_incl),
        "notes": list(getattr(result, "notes", [])),
    }


def retrieval_summary(retrieval: Any, cross_view: Any) -> dict[str, Any]:
    return {
        "distance": retrieval.distance,
        "standard_protocol_excl_identical": {m: dict(retrieval.summary_excl[m]) for m in retrieval.metrics},
        "cross_view_gallery": {m: dict(v) for m, v in cross_view.summary.items()},
        "notes": list(cross_view.notes),
    }


def retrieval_evaluation(feats: np.ndarray, dataset: Any, test_subjects: list[str], cfg: RunConfig, out: Path,
                         device: torch.device) -> tuple[Any, Any]:  # fmt: skip
    """Rank-5 / mAP / mINP and the cross-view-gallery numbers of ``feats`` (the rows of ``rows_of_subjects``), with
    ``cfg.eval.distance``; writes ``out/matches.npz`` (who matched, ``gstsn.eval.who_matched``)."""
    from gstsn.eval.crossview import evaluate_cross_view
    from gstsn.eval.embed import rows_of_subjects
    from gstsn.eval.retrieval import evaluate_retrieval
    from gstsn.eval.who_matched import build_matches, gei_thumbnails, save_matches
    from gstsn.results.files import MATCHES_FILE

    rows, _ = rows_of_subjects(dataset, test_subjects)
    index = dataset.index.iloc[rows]
    labels = (index["subject"].to_numpy(), index["seq_type"].to_numpy(), index["view"].to_numpy())
    retrieval = evaluate_retrieval(feats, *labels, distance=cfg.eval.distance, device=device)
    cross_view = evaluate_cross_view(feats, *labels, distance=cfg.eval.distance, device=device)
    save_matches(out / MATCHES_FILE, build_matches(retrieval, feats, *labels, gei_thumbnails(dataset, rows)))
    return retrieval, cross_view


def write_results(
    out: Path, payload: dict[str, Any], result: Any | None, cfg: RunConfig, extra: tuple[Any, Any] | None = None
) -> None:
    """``results.json`` (the payload) and ``results.csv`` (tidy rank-1 rows, then the rank-5 / mAP / mINP and
    cross-view rows of ``extra = (RetrievalResult, CrossViewResult)``, with the run's id, model and fields)."""
    out.mkdir(parents=True, exist_ok=True)
    if extra is not None and "evaluation" in payload:
        payload["evaluation"]["retrieval"] = retrieval_summary(*extra)
    (out / COMMAND_RESULTS_FILE).write_text(json.dumps(payload, indent=2, default=str) + "\n")
    if result is None:
        return
    rows = pd.DataFrame(result.to_rows() + ([] if extra is None else extra[0].to_rows() + extra[1].to_rows()))
    ident = {"run_id": config_hash(cfg), "model": cfg.model.model_name, "iteration": payload.get("iteration")}
    for i, (k, v) in enumerate(ident.items()):
        rows.insert(i, k, v)
    rows.to_csv(out / COMMAND_RESULTS_CSV, index=False)


def retrieval_line(retrieval: Any, cross_view: Any) -> str:
    """One line: rank-5 / mAP / mINP (standard protocol) and cross-view-gallery rank-1 / mAP, NM/BG/CL."""
    from gstsn.eval.retrieval import METRIC_LABELS

    def show(summary: Any) -> str:
        return "/".join(f"{summary[c]:.1f}" for c in CONDITIONS)

    parts = [f"{METRIC_LABELS[m]} {show(retrieval.summary_excl[m])}" for m in ("rank5", "map", "minp")]
    cv = [f"{METRIC_LABELS[m]} {show(cross_view.summary[m])}" for m in ("cv_rank1", "cv_map")]
    return f"NM/BG/CL {retrieval.distance}: {', '.join(parts)}; cross-view gallery: {', '.join(cv)}"


def report_evaluation(
    out: Path,
    kind: str,
    model: str,
    identity: dict[str, Any],
    cfg: RunConfig,
    device: torch.device,
    dataset: Any,
    split: Any,
    result: Any,
    extra: Any,
) -> None:
    """Write an evaluation's ``results.json`` / ``results.csv`` (what was evaluated: ``identity``; then the config,
    provenance, split and rank-1 summary) and print its figures (``gstsn eval``, ``gstsn import-checkpoint``)."""
    results = {
        "format": RESULTS_FORMAT,
        "kind": kind,
        "model": model,
        **identity,
        "config": config_to_dict(cfg),
        "fields": cfg.flat(),
        "provenance": provenance(cfg, device, dataset, None),
        "split": {"name": split.name, "mode": split.mode, "test": split.test},
        "evaluation": rank1_summary(result),
    }
    write_results(out, results, result, cfg, extra)
    summary = ", ".join(f"{k} {v:.1f}" for k, v in result.summary_excl.items())
    print(f"rank-1 (identical views excluded, {cfg.eval.distance}): {summary}")
    print(retrieval_line(*extra))
    print(f"results in {out}")


__all__ = [
    "COMMAND_RESULTS_CSV",
    "COMMAND_RESULTS_FILE",
    "RESULTS_FORMAT",
    "rank1_summary",
    "report_evaluation",
    "retrieval_evaluation",
    "retrieval_line",
    "retrieval_summary",
    "write_results",
]
