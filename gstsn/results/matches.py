"""``matches.npz``: what a run stores for the report's "who matched" page instead of its embeddings, written by
:mod:`gstsn.eval.who_matched` and read here (:func:`load_matches`, for the report).

A ``numpy.savez_compressed`` archive with no object arrays (read it with ``allow_pickle=False``: never unpickled),
the keys :data:`MATCHES_KEYS` in this order; their shapes, types and meaning: docs/results.md ("matches.npz keys",
checked against :data:`MATCHES_KEYS` by tests/test_results_docs.py).
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
