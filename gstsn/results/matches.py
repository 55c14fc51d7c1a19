"""``matches.npz``: what a run stores for the report's "who matched" page instead of its embeddings, written by
:mod:`gstsn.eval.who_matched` and read here (:func:`load_matches`, for the report).

A ``numpy.savez_compressed`` archive with no object arrays (read it with ``allow_pickle=False``: never unpickled),
the keys :data:`MATCHES_KEYS` in this order:

==================  =================  ==========================================================================
key                 shape / dtype      meaning
==================  =================  ==========================================================================
``format``          () int             :data:`MATCHES_FORMAT` (1)
``distance``        () str             the distance of the ranking (``per_part`` / ``flat``)
``views``           (11,) str          gallery / probe views
``subjects``        (S,) str           subject names; ``row_subject`` indexes them
``seq_types``       (10,) str          sequence types; ``row_seq_type`` indexes them
``row_subject``     (N,) int           per evaluated test sequence (the rows of the embeddings)
``row_seq_type``    (N,) int
``row_view``        (N,) int           index into ``views``
``probe_row``       (P,) int           the row of each probe (NM, BG, CL probes, input order)
``probe_set``       (P,) str           its probe set
``top_index``       (P, 11, k) int     rows of its first k gallery sequences per gallery view (-1: none)
``top_distance``    (P, 11, k) float32 their distances
``xy``              (N, 2) float32     PCA coordinates; ``xy_variance`` (2,) the variance share of each axis
``case_probe``      (C,) int           shown cases: index into the probes; ``case_view`` the gallery view index;
``case_kind``       (C,) str           why it is shown ("worst view NM 090 -> 072", "CL failure")
``thumb_row``       (T,) int           rows with a thumbnail; ``thumbs`` (T, H, W) uint8 their GEIs (0..255)
==================  =================  ==========================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from gstsn.results.files import MATCHES_FILE

MATCHES_FORMAT = 1
MATCHES_KEYS = (
    "format", "distance", "views", "subjects", "seq_types", "row_subject", "row_seq_type", "row_view", "probe_row",
    "probe_set", "top_index", "top_distance", "xy", "xy_variance", "case_probe", "case_view", "case_kind",
    "thumb_row", "thumbs",
)  # fmt: skip


class MatchesError(ValueError):
    """A ``matches.npz`` that cannot be used; the message names the file and what is wrong."""


def matches_arrays(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``arrays`` in the order of :data:`MATCHES_KEYS`, as a writer stores them; raises ``ValueError`` naming the
    keys that are missing or not declared."""
    lacking = [k for k in MATCHES_KEYS if k not in arrays]
    unknown = [k for k in arrays if k not in MATCHES_KEYS]
    if lacking or unknown:
        raise ValueError(
            f"{MATCHES_FILE} arrays: missing {lacking}, not declared {unknown}; expected {list(MATCHES_KEYS)}"
        )
    return {k: arrays[k] for k in MATCHES_KEYS}


def load_matches(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a run's ``matches.npz`` (never unpickled); raises :class:`MatchesError` naming what is wrong."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError) as exc:
        raise MatchesError(f"{path} could not be read ({type(exc).__name__}: {exc})") from None
    lacking = [k for k in MATCHES_KEYS if k not in data]
    if lacking:
        raise MatchesError(f"{path} lacks {lacking}; expected the keys of docs/results.md ({MATCHES_FILE})")
    if int(data["format"]) != MATCHES_FORMAT:
        raise MatchesError(f"{path} has format {int(data['format'])}; this report reads format {MATCHES_FORMAT}")
    p, n = len(data["probe_row"]), len(data["row_view"])
    if data["top_index"].shape[:2] != (p, len(data["views"])) or data["xy"].shape != (n, 2):
        raise MatchesError(f"{path}: top_index {data['top_index'].shape} / xy {data['xy'].shape} do not fit {p} "
                           f"probes and {n} sequences")  # fmt: skip
    return data


__all__ = ["MATCHES_FORMAT", "MATCHES_KEYS", "MatchesError", "load_matches", "matches_arrays"]
