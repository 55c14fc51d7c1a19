"""What a run stores for the report's "who matched" page (``matches.npz``), instead of its embeddings.

At paper scale a run's test embeddings are ~170 MB (5,500 x 62 x 256 float32); the page needs far less:

- per probe and gallery view the first :data:`~gstsn.eval.ranking.TOP_K` gallery sequences and their distances
  (from :func:`gstsn.eval.retrieval.evaluate_retrieval`, exact order);
- 2-D coordinates of every test embedding: PCA, the two leading principal directions of the centred, flattened
  embeddings, by a seeded randomized subspace iteration in numpy (:func:`project_2d`; no new dependency, bounded
  cost, the same numbers on a rerun);
- the cases the page shows, chosen here: for each probe set the worst probe view (lowest rank-1, identical views
  excluded) at its worst gallery view, up to :data:`WORST_VIEW_CASES` failing probes there; then up to
  :data:`CL_CASES` CL probes with the most rank-1 failures over the other gallery views, each at the failing view
  where the wrong match was nearest;
- the GEI thumbnails (uint8) of those probes and of their first matches.

``matches.npz``: its keys, their shapes and meaning are declared in :mod:`gstsn.results.matches` (with its reader).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gstsn.atomic import atomic_open
from gstsn.data.naming import SEQ_TYPES, VIEWS
from gstsn.results.matches import MATCHES_FORMAT, matches_arrays

WORST_VIEW_CASES = 3
CL_CASES = 6


def project_2d(features: np.ndarray, oversample: int = 8, iterations: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """``(xy (N, 2) float32, variance share (2,))``: PCA of the flattened embeddings (see the module docstring).

    Randomized subspace iteration (Halko, Martinsson & Tropp 2011) in float64 numpy, seeded: ``2 + oversample``
    directions, ``iterations`` power steps with re-orthonormalisation, then the SVD of the small projected matrix.
    Its cost is bounded (a few thin matmuls), also when the spectrum is flat, where an iterative eigensolver such as
    ARPACK needed minutes at the paper size; there the two leading axes are approximate, which a picture tolerates.
    """
    x = np.asarray(features, dtype=np.float32).reshape(len(features), -1)
    n, dim = x.shape
    if n < 3 or dim < 2:
        return np.zeros((n, 2), dtype=np.float32), np.zeros(2, dtype=np.float32)
    mean = x.mean(axis=0, dtype=np.float64).astype(np.float32)
    xc = x - mean  # float32 copy (the centred embeddings)
    total = float(np.einsum("ij,ij->", xc, xc, dtype=np.float64))
    k = min(2 + oversample, n, dim)
    q = np.linalg.qr(xc @ np.random.default_rng(0).standard_normal((dim, k)).astype(np.float32))[0]
    for _ in range(iterations):
        q = np.linalg.qr(xc @ np.linalg.qr(xc.T @ q)[0])[0]
    u_small, s, _ = np.linalg.svd((q.T @ xc).astype(np.float64), full_matrices=False)
    u = (q.astype(np.float64) @ u_small)[:, :2]
    s = s[:2]
    u *= np.where(u[np.argmax(np.abs(u), axis=0), range(2)] < 0, -1.0, 1.0)  # sign: the largest |entry| positive
    share = (s**2 / total) if total > 0 else np.zeros(2)
    return (u * s).astype(np.float32), share.astype(np.float32)


def choose_cases(retrieval: Any, codes: np.ndarray, views_of_rows: np.ndarray) -> list[tuple[int, int, str]]:
    """``[(probe index, gallery view index, kind)]``: the cases the retrieval page shows (module docstring)."""
    top1 = retrieval.top_index[:, :, 0]
    probe_codes = codes[retrieval.probe_rows]
    probe_views = views_of_rows[retrieval.probe_rows]
    wrong = (top1 >= 0) & (codes[np.maximum(top1, 0)] != probe_codes[:, None])
    wrong &= np.arange(len(VIEWS))[None, :] != probe_views[:, None]  # identical views are not the headline
    cases: list[tuple[int, int, str]] = []
    for cond in retrieval.probe_sets:
        per_view = retrieval.per_view_excl["rank1"][cond].to_numpy()
        if np.all(np.isnan(per_view)):
            continue
        v1 = int(np.nanargmin(per_view))
        row = retrieval.tables["rank1"][cond].to_numpy()[v1].copy()
        row[v1] = np.nan
        if np.all(np.isnan(row)):
            continue
        v2 = int(np.nanargmin(row))
        mine = np.flatnonzero((retrieval.probe_set == cond) & (probe_views == v1) & wrong[:, v2])
        kind = f"worst view {cond} {VIEWS[v1]} -> {VIEWS[v2]}"
        cases += [(int(p), v2, kind) for p in mine[:WORST_VIEW_CASES]]
    shown = {p for p, _, _ in cases}
    cl = np.flatnonzero((retrieval.probe_set == "CL") & wrong.any(axis=1))
    cl = [int(p) for p in cl[np.argsort(-wrong[cl].sum(axis=1), kind="stable")] if int(p) not in shown]
    for p in cl[:CL_CASES]:
        failing = np.flatnonzero(wrong[p])
        v2 = int(failing[np.argmin(retrieval.top_distance[p, failing, 0])])
        cases.append((p, v2, "CL failure"))
    return cases


def build_matches(
    retrieval: Any,
    features: np.ndarray,
    subject: Sequence[Any],
    seq_type: Sequence[str],
    view: Sequence[str],
    thumbnails: Callable[[np.ndarray], np.ndarray],
) -> dict[str, np.ndarray]:
    """The arrays of ``matches.npz`` for one run (see the module docstring).

    ``retrieval``: the :class:`~gstsn.eval.retrieval.RetrievalResult` of ``features`` (rows = the labels' rows);
    ``thumbnails(rows)``: uint8 ``(len(rows), H, W)`` GEIs of those rows.
    """
    subject = np.asarray(subject).astype(str)
    subjects, row_subject = np.unique(subject, return_inverse=True)
    position = {t: i for i, t in enumerate(SEQ_TYPES)}  # SEQ_TYPES is in nm/bg/cl order, not sorted
    row_seq_type = np.array([position[t] for t in np.asarray(seq_type).astype(str)], dtype=np.int64)
    row_view = np.searchsorted(np.asarray(VIEWS), np.asarray(view).astype(str))
    n = len(subject)
    idx_type = np.int16 if n < 2**15 else np.int32
    cases = choose_cases(retrieval, row_subject, row_view)
    case_probe = np.array([c[0] for c in cases], dtype=np.int32)
    case_view = np.array([c[1] for c in cases], dtype=np.int8)
    shown = [retrieval.probe_rows[case_probe]] + [retrieval.top_index[case_probe, case_view].reshape(-1)]
    thumb_row = np.unique(np.concatenate(shown)) if cases else np.zeros(0, dtype=np.int64)
    thumb_row = thumb_row[thumb_row >= 0]
    thumbs = thumbnails(thumb_row) if len(thumb_row) else np.zeros((0, 1, 1), dtype=np.uint8)
    xy, share = project_2d(features)
    return {
        "format": np.array(MATCHES_FORMAT),
        "distance": np.array(retrieval.distance),
        "views": np.array(VIEWS),
        "subjects": subjects.astype(str),
        "seq_types": np.array(SEQ_TYPES),
        "row_subject": row_subject.astype(np.int16),
        "row_seq_type": row_seq_type.astype(np.int8),
        "row_view": row_view.astype(np.int8),
        "probe_row": retrieval.probe_rows.astype(idx_type),
        "probe_set": retrieval.probe_set.astype(str),
        "top_index": retrieval.top_index.astype(idx_type),
        "top_distance": retrieval.top_distance.astype(np.float32),
        "xy": xy,
        "xy_variance": share,
        "case_probe": case_probe,
        "case_view": case_view,
        "case_kind": np.array([c[2] for c in cases], dtype=str) if cases else np.zeros(0, dtype="<U1"),
        "thumb_row": thumb_row.astype(idx_type),
        "thumbs": np.asarray(thumbs, dtype=np.uint8),
    }


def gei_thumbnails(dataset: Any, dataset_rows: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """``thumbnails(rows)`` for :func:`build_matches`: the GEIs of ``dataset_rows[rows]`` as uint8 (H, W) images."""
    from gstsn.eval.gei import gei_features

    def thumbs(rows: np.ndarray) -> np.ndarray:
        gei = gei_features(dataset, np.asarray(dataset_rows)[rows])[:, 0]
        return np.rint(gei * 255).astype(np.uint8).reshape(len(rows), int(dataset.height), int(dataset.width))

    return thumbs


def save_matches(path: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``matches.npz`` atomically (temp file in the same folder, then rename), its arrays in the declared
    order (:func:`gstsn.results.matches.matches_arrays`: a missing or undeclared key is refused before writing)."""
    arrays = matches_arrays(arrays)
    path = Path(path)
    with atomic_open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return path


__all__ = [
    "CL_CASES",
    "WORST_VIEW_CASES",
    "build_matches",
    "choose_cases",
    "gei_thumbnails",
    "project_2d",
    "save_matches",
]
