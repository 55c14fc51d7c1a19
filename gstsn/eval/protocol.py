"""The CASIA-B rank-1 protocol: exact nearest-neighbour rank-1 tables, computed with large fp32 matmuls.

Protocol (``docs/evaluation.md``, ``shared/spec/protocol.md``): gallery ``nm-01..04``; probe sets NM (``nm-05/06``),
BG (``bg-01/02``) and CL (``cl-01/02``). For probe view v1 and gallery view v2 each probe filmed at v1 is matched to
its nearest gallery sequence filmed at v2 and counts as correct when the subjects agree; cell (v1, v2) is
``round(100 * correct / probes, 2)`` (OpenGait's ``evaluate_indoor_dataset``). The main figure of a probe set excludes
identical views (each probe view's row averaged over the other gallery views, then the mean over probe views); the
identical-view-included variant averages whole rows.

Distances (both named in every result):

- ``per_part`` (default, OpenGait): ``mean_k ||p_k - g_k||`` over the parts ``k``;
- ``flat`` (GaitSet's original code): ``||p - g||`` over the flattened ``parts x d`` vector.

Exactness. The result is defined by the *canonical* float64 distances of :func:`canonical_distances` (plain
differences, no norm expansion) and ``argmin`` tie-breaking (the first gallery sequence in input order at that view).
The fast path computes every distance in fp32 as ``||p||^2 + ||g||^2 - 2 p.g`` (one matmul per part, all probes of
all three probe sets against the whole gallery), bounds its rounding error per pair, and only where the candidates
that the bound cannot rule out belong to more than one subject does it recompute those candidates canonically
(``n_rechecked`` counts them). The answer is therefore the canonical one, on any device and with any chunk sizes.

The evaluator is a pure function: arrays in, a :class:`Rank1Result` out; no logging, no I/O.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gstsn.data.naming import VIEWS
from gstsn.eval.exact import canonical_distances, nearest_subjects
from gstsn.eval.inputs import EvalInputs, ProtocolError
from gstsn.eval.rank1_result import Rank1Result, build_result, protocol_notes
from gstsn.eval.sets import GALLERY_TYPES, PROBE_SETS, STANDARD_TYPES, standard_layout


# --------------------------------------------------------------------------------------------------------- entry
def evaluate_rank1(
    features: np.ndarray | torch.Tensor,
    subject: Any,
    seq_type: Any,
    view: Any,
    distance: str = "per_part",
    device: torch.device | str | None = None,
    *,
    probe_chunk: int | None = None,
    part_chunk: int | None = None,
) -> Rank1Result:
    """CASIA-B rank-1 of ``features`` under the protocol of this module (see the module docstring).

    - ``features``: float ``(N, parts, d)`` (or ``(N, d)``), numpy or torch; ``subject``, ``seq_type``, ``view``:
      ``(N,)`` labels per row (subjects any hashable ids; seq types and views CASIA-B names). Rows of other
      sequence types than the gallery and probe types must not be passed.
    - ``distance``: ``per_part`` (default) or ``flat``; ``device``: where the matmuls run (default: the features'
      device; numpy -> CPU).
    - ``probe_chunk`` / ``part_chunk``: probes and parts per matmul batch (default: ~2 MB per probes x gallery
      array, ~16 MB for the ``part_chunk x probe_chunk x gallery`` fp32 buffer; plus the fp32 gallery copy of
      ``parts x (d + 2) x gallery``). They never change the result.

    Returns a :class:`Rank1Result`. Raises :class:`ProtocolError` on bad input.
    """
    inp = EvalInputs.check(features, subject, seq_type, view, distance, device, probe_chunk, part_chunk, STANDARD_TYPES)
    layout = standard_layout(inp.seq_type, inp.view_idx)
    codes, view_idx, cond_rows, gallery_counts = inp.codes, inp.view_idx, layout.cond_rows, layout.gallery_counts
    pred, n_rechecked = nearest_subjects(
        inp.x, layout.p_rows, layout.g_slots, codes, distance, inp.probe_chunk, inp.part_chunk
    )
    correct, probe_views, at = {}, {}, 0
    for cond, rows in cond_rows.items():
        correct[cond] = pred[at : at + len(rows)] == codes[rows][:, None]
        probe_views[cond] = view_idx[rows]
        at += len(rows)
    notes = protocol_notes(inp.subject, inp.seq_type, inp.view)
    return build_result(correct, probe_views, gallery_counts, distance, VIEWS, notes, n_rechecked)


__all__ = [
    "GALLERY_TYPES",
    "PROBE_SETS",
    "ProtocolError",
    "Rank1Result",
    "VIEWS",
    "build_result",
    "canonical_distances",
    "evaluate_rank1",
    "protocol_notes",
]
