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

import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import torch

from gstsn.config import DISTANCES
from gstsn.data.naming import VIEWS

#: gallery sequence types (every probe set is matched against these)
GALLERY_TYPES: tuple[str, ...] = ("nm-01", "nm-02", "nm-03", "nm-04")
#: probe sets: name -> probe sequence types
PROBE_SETS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"NM": ("nm-05", "nm-06"), "BG": ("bg-01", "bg-02"), "CL": ("cl-01", "cl-02")}
)
#: the metric names used in :meth:`Rank1Result.to_rows`
METRIC_CELL = "rank1"
METRIC_EXCL = "rank1_excl_identical"
METRIC_INCL = "rank1_incl_identical"
METRIC_N_PROBES = "n_probes"

_U32 = 2.0**-24  # unit roundoff of float32
_ETA = 1e-9  # relative slack for the canonical float64 distances' own rounding (actual: ~1e-12)
_SAFETY = 1.1  # factor on every error bound (covers the rounding of the bound arithmetic and comparisons)
_RECHECK_BYTES = 4 << 20  # float64 difference buffer per recheck worker (chunks of candidate pairs)


class ProtocolError(ValueError):
    """Bad input to the rank-1 protocol; the message names the argument, the value and what was expected."""


# ---------------------------------------------------------------------------------------------------------- result
@dataclass(frozen=True)
class Rank1Result:
    """Rank-1 accuracies (percent) of one set of features under the CASIA-B protocol.

    - ``tables``: probe set -> DataFrame (index: probe view, columns: gallery view), 11 x 11; NaN = cell left out
      (no probe or no gallery sequences there; see ``notes``).
    - ``per_view_excl`` / ``per_view_incl``: DataFrame (index: probe view, columns: probe sets): each probe view's row
      mean over the other gallery views (identical view excluded) / over all gallery views.
    - ``summary_excl`` (the main figure) / ``summary_incl``: probe set -> mean of the per-view numbers.
    - ``n_probes``: DataFrame (probe view x probe set) of probe sequence counts; ``n_gallery``: Series per view.
    - ``distance``: ``per_part`` or ``flat``; ``notes``: what was left out or cannot be matched, in words.
    - ``n_rechecked``: (probe, gallery view) pairs whose near-tied candidates were recomputed in float64 (a
      diagnostic that depends on the device and rounding; excluded from equality).
    """

    distance: str
    probe_sets: tuple[str, ...]
    views: tuple[str, ...]
    tables: Mapping[str, pd.DataFrame]
    per_view_excl: pd.DataFrame
    per_view_incl: pd.DataFrame
    summary_excl: Mapping[str, float]
    summary_incl: Mapping[str, float]
    n_probes: pd.DataFrame
    n_gallery: pd.Series
    notes: tuple[str, ...] = ()
    n_rechecked: int = field(default=0, compare=False)

    @property
    def summary(self) -> Mapping[str, float]:
        """The main figure per probe set: identical views excluded."""
        return self.summary_excl

    def same_numbers(self, other: Rank1Result) -> bool:
        """True when every table cell, per-view number and summary is identical (NaN equals NaN)."""

        def eq(a: pd.DataFrame | pd.Series, b: pd.DataFrame | pd.Series) -> bool:
            return a.shape == b.shape and bool(np.array_equal(a.to_numpy(), b.to_numpy(), equal_nan=True))

        return (
            self.distance == other.distance
            and self.probe_sets == other.probe_sets
            and all(eq(self.tables[c], other.tables[c]) for c in self.probe_sets)
            and eq(self.per_view_excl, other.per_view_excl)
            and eq(self.per_view_incl, other.per_view_incl)
            and _same_floats(self.summary_excl, other.summary_excl)
            and _same_floats(self.summary_incl, other.summary_incl)
        )

    def to_rows(self) -> list[dict[str, Any]]:
        """Tidy rows ``condition, probe_view, gallery_view, metric, value, distance``.

        - ``rank1``: one row per table cell that is not left out;
        - ``rank1_excl_identical`` / ``rank1_incl_identical``: per probe view (``gallery_view="all"``) and the probe
          set's mean (``probe_view="mean"``);
        - ``n_probes``: probe sequences per probe view (``gallery_view="all"``).
        Left-out (NaN) numbers produce no row; ``notes`` says why.
        """
        rows: list[dict[str, Any]] = []

        def add(cond: str, pv: str, gv: str, metric: str, value: float) -> None:
            if not math.isnan(value):
                rows.append(
                    {
                        "condition": cond,
                        "probe_view": pv,
                        "gallery_view": gv,
                        "metric": metric,
                        "value": float(value),
                        "distance": self.distance,
                    }
                )

        for cond in self.probe_sets:
            table = self.tables[cond]
            for pv in self.views:
                for gv in self.views:
                    add(cond, pv, gv, METRIC_CELL, table.at[pv, gv])
            for metric, per_view, summary in (
                (METRIC_EXCL, self.per_view_excl, self.summary_excl),
                (METRIC_INCL, self.per_view_incl, self.summary_incl),
            ):
                for pv in self.views:
                    add(cond, pv, "all", metric, per_view.at[pv, cond])
                add(cond, "mean", "all", metric, summary[cond])
            for pv in self.views:
                add(cond, pv, "all", METRIC_N_PROBES, float(self.n_probes.at[pv, cond]))
        return rows


def _same_floats(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    return a.keys() == b.keys() and all((a[k] == b[k]) or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


# ---------------------------------------------------------------------------------------------- canonical distance
def canonical_distances(probe: np.ndarray, gallery: np.ndarray, distance: str) -> np.ndarray:
    """The distances that define the protocol's answer, computed in float64 from plain differences.

    ``probe``: float64 ``(parts, d)``; ``gallery``: float64 ``(n, parts, d)``. Returns float64 ``(n,)``:

    - ``per_part``: ``sum_k sqrt(sum_j (g - p)[k, j]^2) / parts``;
    - ``flat``: ``sqrt(sum_k sum_j (g - p)[k, j]^2)``.

    Each gallery row's value depends only on that row (row-wise reductions), so identical gallery features give
    identical distances: exact ties, resolved to the first index.
    """
    _validate_distance(distance)
    return _canonical_rows(np.asarray(probe, dtype=np.float64)[None], np.asarray(gallery, dtype=np.float64), distance)


# ------------------------------------------------------------------------------------------------------ validation
def _validate_distance(distance: str) -> None:
    if distance not in DISTANCES:
        raise ProtocolError(f"distance={distance!r} is unknown; expected one of {list(DISTANCES)}")


def _as_features(features: Any, device: torch.device | str | None) -> torch.Tensor:
    """``features`` as a floating tensor ``(N, parts, d)`` on ``device`` (default: where it already is / CPU)."""
    if isinstance(features, np.ndarray):
        if not np.issubdtype(features.dtype, np.floating):
            raise ProtocolError(f"features have dtype {features.dtype}; expected a floating dtype (float32 usually)")
        x = torch.from_numpy(np.ascontiguousarray(features))
    elif isinstance(features, torch.Tensor):
        x = features.detach()
    else:
        raise ProtocolError(f"features must be a numpy array or a torch tensor, not {type(features).__name__}")
    if not x.is_floating_point():
        raise ProtocolError(f"features have dtype {x.dtype}; expected a floating dtype (float32 usually)")
    if x.ndim == 2:
        x = x[:, None, :]
    if x.ndim != 3:
        raise ProtocolError(f"features have shape {tuple(x.shape)}; expected (N, parts, d) or (N, d)")
    if x.shape[1] == 0 or x.shape[2] == 0:
        raise ProtocolError(f"features have shape {tuple(x.shape)}; parts and d must be at least 1")
    if device is not None:
        x = x.to(torch.device(device))
    return x


def _as_labels(values: Any, name: str, n: int) -> np.ndarray:
    arr = np.asarray(values.cpu() if isinstance(values, torch.Tensor) else values)
    if arr.ndim != 1 or len(arr) != n:
        raise ProtocolError(f"{name} has shape {arr.shape}; expected ({n},), one entry per feature row")
    return arr


def _check_names(values: np.ndarray, allowed: Sequence[str], name: str) -> None:
    bad = sorted({str(v) for v in np.unique(values.astype(str))} - set(allowed))
    if bad:
        raise ProtocolError(f"{name} holds unknown value(s) {bad[:5]}; expected names from {list(allowed)}")


# --------------------------------------------------------------------------------------------------- error bounds
def _matmul_unit_roundoff(device: torch.device) -> float:
    """Unit roundoff of an fp32 matmul under the current torch settings (TF32 / bf16 allowed reduce it)."""
    u = _U32
    prec = torch.get_float32_matmul_precision()
    if prec == "high":
        u = 2.0**-11
    elif prec == "medium":
        u = 2.0**-8
    backend = torch.backends.cuda.matmul if device.type == "cuda" else getattr(torch.backends.mkldnn, "matmul", None)
    setting = str(getattr(backend, "fp32_precision", "")) if backend is not None else ""
    if "tf32" in setting:
        u = max(u, 2.0**-11)
    if "bf16" in setting:
        u = max(u, 2.0**-8)
    if device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32:
        u = max(u, 2.0**-11)
    return u


def _gamma(n: int, u: float) -> float:
    """Higham's gamma_n = n u / (1 - n u): relative error bound of an n-term sum in any order."""
    if n * u >= 0.5:
        return math.inf
    return n * u / (1.0 - n * u)


@dataclass(frozen=True)
class _Bounds:
    """Constants of the fp32 error bounds (see ``docs/evaluation.md``, "How the fast path stays exact")."""

    c_sq: float  # |s~_k - s_k| <= c_sq (|p_k|^2 + |g_k|^2)  (per part squared distance through the matmul)
    c_sum: float  # relative error of the fp32 sum over parts (and the square roots)
    shift: float  # bound on the relative perturbation of the fp32 operands: rounding of ``x - centre`` to fp32


def _bounds(parts: int, d: int, device: torch.device) -> _Bounds:
    u_mm = _matmul_unit_roundoff(device)
    return _Bounds(
        c_sq=2.0 * _gamma(d + 2, u_mm) + _gamma(d, _U32) + 8.0 * _U32,
        c_sum=_gamma(parts, _U32) + 5.0 * _U32,  # sum over parts; square roots within a few ulp (CUDA too)
        shift=1.01 * _U32,
    )


# ------------------------------------------------------------------------------------------------------ fast path
def _centre(x: torch.Tensor, g_rows: np.ndarray, sample: int = 256) -> torch.Tensor:
    """fp32 ``(parts, d)``: the mean of (up to ``sample``, evenly spaced) gallery features.

    Distances do not change under a common shift, but the fp32 expansion's error bound grows with the squared norms,
    so the matmuls run on ``x - centre``. Any centre is correct (the bounds use the centred norms); a rough mean of
    the gallery is enough to shrink them.
    """
    pick = g_rows[np.linspace(0, len(g_rows) - 1, num=min(sample, len(g_rows))).astype(np.int64)]
    centre = x.index_select(0, torch.as_tensor(pick, device=x.device)).float().mean(0)
    return centre if bool(torch.isfinite(centre).all()) else torch.zeros_like(centre)  # bad rows are named later


def _centred_rows(x: torch.Tensor, idx: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    """fp32 ``x[idx] - centre`` ``(n, parts, d)``, rounded once to fp32 (float64 input: subtracted in float64)."""
    xs = x.index_select(0, idx)
    if xs.dtype == torch.float64:
        return (xs - centre.double()).float()
    return xs.float().sub_(centre)


def _check_finite(norms: torch.Tensor, rows: np.ndarray) -> None:
    """Raise :class:`ProtocolError` naming the first row whose (part-major ``(parts, n)``) norms are not finite."""
    if not bool(torch.isfinite(norms).all()):
        bad = int(rows[int(torch.nonzero(~torch.isfinite(norms).all(dim=0))[0, 0])])
        raise ProtocolError(
            f"features row {bad} holds NaN or inf (or values too large for float32); expected finite numbers"
        )


def _fill_operand(x: torch.Tensor, rows: np.ndarray, centre: torch.Tensor, out: torch.Tensor, scale: float) -> None:
    """Write ``[scale * (x_k - c_k), ., .]`` part-major into ``out (parts, len(rows), d + 2)`` (the first ``d``
    columns), and the squared norms ``|x_k - c_k|^2`` into column ``d`` (``scale == 1``, probes) or ``d + 1``
    (gallery) with ones in the other. ``x - c`` is rounded once to fp32 and ``scale`` is a power of two (exact).

    Rows are gathered straight into ``out`` ~2 MB at a time, so each block is finished while it is in cache and no
    temporary copy of the rows is made. Raises :class:`ProtocolError` naming a row that is not finite.
    """
    parts, d = int(x.shape[1]), int(x.shape[2])
    step = max(1, (2 << 20) // (4 * parts * (d + 2)))
    norm_col, one_col = (d, d + 1) if scale == 1.0 else (d + 1, d)
    by_part = x.permute(1, 0, 2)  # (parts, N, d) view
    for lo in range(0, len(rows), step):
        hi = min(len(rows), lo + step)
        idx = torch.as_tensor(rows[lo:hi], device=x.device)
        block = out[:, lo:hi, :d]
        if x.dtype == torch.float32:
            torch.index_select(by_part, 1, idx, out=block)  # gathered and made part-major in one pass
            block.sub_(centre[:, None, :])
        else:  # float64 input is centred in float64; half types are widened exactly first
            block.copy_(_centred_rows(x, idx, centre).permute(1, 0, 2))
        norms = torch.linalg.vector_norm(block, dim=2).square_()  # (parts, n)
        _check_finite(norms, rows[lo:hi])
        if scale != 1.0:
            block.mul_(scale)
        out[:, lo:hi, norm_col] = norms
        out[:, lo:hi, one_col] = 1.0


def _gallery_operand(x: torch.Tensor, rows: np.ndarray, centre: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(op, tot)``: fp32 ``op (parts, G, d + 2)`` = ``[-2 g_k, 1, |g_k|^2]`` per part and gallery row (so that
    ``[p_k, |p_k|^2, 1] . op[k, j]`` is the squared part distance; the matmul reads ``op[k]`` transposed, which the
    BLAS does without a copy) and ``tot (G,)`` = ``|g|^2`` over all parts (``g`` centred)."""
    parts, d = x.shape[1], x.shape[2]
    op = torch.empty((parts, len(rows), d + 2), dtype=torch.float32, device=x.device)
    _fill_operand(x, rows, centre, op, -2.0)
    return op, op[:, :, d + 1].sum(0)


def _probe_operand(
    x: torch.Tensor, rows: np.ndarray, centre: torch.Tensor, buffer: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(op, tot)``: fp32 ``op (parts, P, d + 2)`` = ``[p_k, |p_k|^2, 1]`` per part (a view of ``buffer``, reused
    from one probe chunk to the next), ``tot (P,)`` = ``|p|^2`` (``p`` centred)."""
    op = buffer[:, : len(rows)]
    _fill_operand(x, rows, centre, op, 1.0)
    return op, op[:, :, x.shape[2]].sum(0)


def _chunks(parts: int, n_probes: int, n_gallery: int, probe_chunk: int | None, part_chunk: int | None):
    """``(probe_chunk, part_chunk)``, defaults filled in: ~2 MB per ``(probes, gallery)`` fp32 array (the running
    sums and minima stay in the cores' L2 caches) and ~16 MB for the ``(parts, probes, gallery)`` matmul buffer (many
    parts per reduction pass). Measured at the LT size on 2 cores: 448 probes x 4 parts per batch took ~20 % longer."""
    pt = probe_chunk or int(min(max(1, n_probes), max(32, ((1 << 19) // max(1, n_gallery)) // 32 * 32)))
    kc = part_chunk or int(max(1, min(parts, (1 << 22) // max(1, min(pt, n_probes) * n_gallery))))
    return pt, kc


def _nearest_subjects(
    x: torch.Tensor,
    p_rows: np.ndarray,
    g_slots: np.ndarray,
    codes: np.ndarray,
    distance: str,
    probe_chunk: int | None,
    part_chunk: int | None,
) -> tuple[np.ndarray, int]:
    """For every probe and gallery view, the subject code of the canonical nearest gallery sequence at that view.

    ``x``: features ``(N, parts, d)`` on the compute device; ``p_rows`` (P,) probe row numbers; ``g_slots`` (V, B)
    gallery row numbers per view in input order, padded with ``-1`` to the largest view's count B; ``codes``: int64
    subject codes per row. Returns ``(pred (P, V) int64, n_rechecked)``, ``-1`` for a view without gallery.
    """
    dev = x.device
    parts, d = int(x.shape[1]), int(x.shape[2])
    n_views, width = g_slots.shape
    n_p, n_g = len(p_rows), g_slots.size
    pred = np.full((n_p, n_views), -1, dtype=np.int64)
    if n_p == 0 or width == 0:
        return pred, 0
    if parts == 1:
        distance = "flat"  # one part: per_part and flat are the same canonical numbers; flat's bound is simpler
    bounds = _bounds(parts, d, dev)
    pad = torch.as_tensor(g_slots.reshape(-1) < 0, device=dev)  # (V*B,)
    g_rows = np.where(g_slots < 0, g_slots.max(), g_slots).reshape(-1)  # padding computed on a real row, then masked
    centre = _centre(x, g_rows[~pad.cpu().numpy()])
    g_op, g_tot = _gallery_operand(x, g_rows, centre)
    slot_codes = torch.as_tensor(np.where(g_slots < 0, -1, codes[np.maximum(g_slots, 0)]), device=dev)  # (V, B)
    pt_max, kc = _chunks(parts, n_p, n_g, probe_chunk, part_chunk)
    buf = torch.empty((min(kc, parts), min(pt_max, n_p), n_g), dtype=torch.float32, device=dev)
    p_buf = torch.empty((parts, min(pt_max, n_p), d + 2), dtype=torch.float32, device=dev)
    rechecks: list[np.ndarray] = []  # rows (probe position, view, slot) of each candidate of a mixed pair

    for lo in range(0, n_p, pt_max):
        p_op, p_tot = _probe_operand(x, p_rows[lo : lo + pt_max], centre, p_buf)
        pt = p_op.shape[1]
        acc = torch.empty((pt, n_g), dtype=torch.float32, device=dev)
        rho = torch.empty((pt, n_g), dtype=torch.float32, device=dev) if distance == "per_part" else None
        tmp = torch.empty((pt, n_g), dtype=torch.float32, device=dev)
        for k0 in range(0, parts, kc):
            k1 = min(parts, k0 + kc)
            s = buf[: k1 - k0, :pt]
            torch.bmm(p_op[k0:k1], g_op[k0:k1].transpose(1, 2), out=s)  # s[k, i, j] ~ |p_ik - g_jk|^2
            if rho is not None:
                if k0 == 0:
                    torch.amin(s, dim=0, out=rho)
                else:
                    torch.minimum(rho, torch.amin(s, dim=0, out=tmp), out=rho)
                s.sqrt_()  # a negative s~ (true distance ~ 0) becomes NaN: that pair is then always a candidate
            if k0 == 0:
                torch.sum(s, dim=0, out=acc)
            else:
                acc.add_(torch.sum(s, dim=0, out=tmp))
        lower, upper = _interval(acc, rho, p_tot, g_tot, bounds, parts)
        del rho, tmp
        acc = torch.nan_to_num_(acc, nan=math.inf).masked_fill_(pad, math.inf).view(pt, n_views, width)
        upper = upper.masked_fill_(pad, math.inf).view(pt, n_views, width)
        best_code = torch.gather(slot_codes.expand(pt, -1, -1), 2, acc.argmin(dim=2, keepdim=True))  # (pt, V, 1)
        cand = (lower.view(pt, n_views, width) <= upper.amin(dim=2, keepdim=True)).logical_and_(
            ~pad.view(n_views, width)
        )
        mixed = cand.logical_and(slot_codes != best_code).any(dim=2)  # (pt, V)
        pred[lo : lo + pt] = best_code[..., 0].cpu().numpy()
        if bool(mixed.any()):
            which = torch.nonzero(mixed)  # (m, 2): probe in tile, view
            slots = torch.nonzero(cand[which[:, 0], which[:, 1]])  # (c, 2): mixed pair number, slot
            pair = which[slots[:, 0]].cpu().numpy()
            rechecks.append(np.stack([lo + pair[:, 0], pair[:, 1], slots[:, 1].cpu().numpy()], axis=1))
    del buf, p_buf, g_op
    pred[:, np.all(g_slots < 0, axis=1)] = -1
    if not rechecks:
        return pred, 0
    cands = np.concatenate(rechecks)  # sorted by (probe, view, slot): pairs contiguous, slots ascending
    key = cands[:, 0] * n_views + cands[:, 1]
    group = np.concatenate([[0], np.cumsum(key[1:] != key[:-1])])
    winners = _canonical_argmin(x, p_rows[cands[:, 0]], g_slots[cands[:, 1], cands[:, 2]], group, distance)
    won = cands[winners]
    pred[won[:, 0], won[:, 1]] = codes[g_slots[won[:, 1], won[:, 2]]]
    return pred, len(winners)


def _canonical_argmin(
    x: torch.Tensor, probe_rows: np.ndarray, gallery_rows: np.ndarray, group: np.ndarray, distance: str
) -> np.ndarray:
    """Index (into the candidate arrays) of each group's canonical nearest candidate, first index on ties.

    Candidate ``i`` is the pair ``(probe_rows[i], gallery_rows[i])`` of group ``group[i]``; groups are numbered
    ``0..n-1`` and contiguous, candidates in ascending gallery order within a group. Returns ``(n_groups,)``.
    """
    dist = np.empty(len(group), dtype=np.float64)
    parts, d = int(x.shape[1]), int(x.shape[2])
    step = max(1, _RECHECK_BYTES // (8 * parts * d))
    host = x.numpy() if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) else None

    def fill(lo: int, work: np.ndarray) -> None:
        pr, gr = probe_rows[lo : lo + step], gallery_rows[lo : lo + step]
        once, which = np.unique(pr, return_inverse=True)  # a probe has several candidates: read its row once
        p = (host[once] if host is not None else _host_rows(x, once))[which.reshape(-1)]
        g = host[gr] if host is not None else _host_rows(x, gr)  # numpy gathers: no thread-pool round trip
        dist[lo : lo + len(g)] = _canonical_rows(p, g, distance, work[: len(g)])

    starts_at = range(0, len(group), step)
    # numpy releases the GIL in the gathers, the subtraction and einsum, so host chunks run in parallel, one worker
    # per torch thread; rows on a device are copied to the host one chunk at a time, by one worker
    workers = max(1, min(torch.get_num_threads(), len(starts_at))) if host is not None else 1

    def work_through(i: int) -> None:
        work = np.empty((min(step, len(group)), parts, d), dtype=np.float64)
        for lo in starts_at[i::workers]:
            fill(lo, work)

    if workers == 1:
        work_through(0)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(work_through, range(workers)))
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    best = np.minimum.reduceat(dist, starts)
    hits = np.flatnonzero(dist == best[group])
    _, first = np.unique(group[hits], return_index=True)
    return hits[first]


def _host_rows(x: torch.Tensor, rows: np.ndarray) -> np.ndarray:
    """``x[rows]`` as a numpy array on the host, float32 or float64 (half types are widened exactly)."""
    xs = x.index_select(0, torch.as_tensor(rows, device=x.device))
    if xs.dtype not in (torch.float32, torch.float64):
        xs = xs.float()
    return xs.cpu().numpy()


def _canonical_rows(
    probe: np.ndarray, gallery: np.ndarray, distance: str, work: np.ndarray | None = None
) -> np.ndarray:
    """Canonical float64 distances of row pairs: ``probe``, ``gallery`` float ``(n, parts, d)`` -> ``(n,)``.

    The differences are taken in float64 (into ``work``, float64 of the broadcast shape, when given) and squared and
    summed per part by ``einsum``; the order of that float64 sum is fixed for a given shape, so the value of a pair
    depends on nothing but the pair.
    """
    diff = np.subtract(gallery, probe, dtype=np.float64, out=work)
    sq = np.einsum("npd,npd->np", diff, diff)  # (n, parts), no squared temporary
    if distance == "per_part":
        return np.sqrt(sq).sum(axis=-1) / sq.shape[-1]
    return np.sqrt(sq.sum(axis=-1))


def _interval(
    acc: torch.Tensor,
    rho: torch.Tensor | None,
    p_tot: torch.Tensor,
    g_tot: torch.Tensor,
    bounds: _Bounds,
    parts: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(lower, upper)`` ``(P, G)``: an interval that holds the canonical value of each pair, on the scale compared.

    ``per_part`` compares ``A = sum_k |p_k - g_k|`` (``parts`` x the distance); ``flat`` compares the squared
    distance. ``acc`` is the fp32 value, ``rho`` the smallest fp32 squared part distance of each pair (per_part; it
    is overwritten), ``p_tot``/``g_tot`` the squared (centred) norms over all parts. NaN gets ``(-inf, inf)``.
    The derivation is in ``docs/evaluation.md``; every term is scaled by ``_SAFETY``.
    """
    c_sq, c_rel, shift = bounds.c_sq * _SAFETY, (bounds.c_sum + _ETA) * _SAFETY, bounds.shift * _SAFETY
    if rho is not None:
        big = torch.add((c_sq * p_tot)[:, None], (c_sq * g_tot)[None, :])  # >= sum_k |s~_k - s_k| (x safety)
        root = rho.clamp_min_(0.0).sqrt_()
        err = torch.mul(big, parts * _SAFETY).sqrt_()  # sum_k sqrt(delta_k) <= sqrt(parts * sum_k delta_k)
        torch.minimum(err, big.div_(root), out=err)  # ... and sum_k delta_k / sqrt(min_k s~_k)
        err.add_(acc, alpha=c_rel)  # fp32 square roots and sum over parts (acc >= 0 or NaN)
        lift = shift * math.sqrt(parts)  # rounding x - centre to fp32 moves each part by <= u |x_k - centre_k|
        err.add_((lift * p_tot.sqrt())[:, None]).add_((lift * g_tot.sqrt())[None, :])
    else:
        # |s~ - s| <= c_sq (1 + 3 c_sum)(P + G) + c_sum |acc|; the shift moves s by <= 3u (P + G) + 1.5u s (AM-GM)
        coef = c_sq * (1.0 + 3.0 * bounds.c_sum) + 9.0 * shift
        err = torch.add((coef * p_tot)[:, None], (coef * g_tot)[None, :])
        err.add_(acc.abs(), alpha=c_rel + 1.5 * shift)
    lower = torch.sub(acc, err).nan_to_num_(nan=-math.inf)  # NaN (no usable bound): always a candidate
    upper = err.add_(acc).nan_to_num_(nan=math.inf)
    return lower, upper


# ------------------------------------------------------------------------------------------------------- tables
def _summarise(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-probe-view means of an ``(V, V)`` table, NaN cells left out: ``(excl, incl)``, each ``(V,)``.

    With every cell present ``excl`` equals OpenGait's ``de_diag`` bit for bit (``sum(row with the diagonal zeroed)
    / (V - 1)``); a row without any cell is NaN.
    """
    valid = ~np.isnan(table)
    off = valid & ~np.eye(len(table), dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        excl = np.sum(np.where(off, table, 0.0), axis=1) / off.sum(axis=1)
        incl = np.sum(np.where(valid, table, 0.0), axis=1) / valid.sum(axis=1)
    return excl, incl


def _mean_present(values: np.ndarray) -> float:
    present = values[~np.isnan(values)]
    return float(np.mean(present)) if present.size else math.nan


def build_result(
    correct: Mapping[str, np.ndarray],
    probe_views: Mapping[str, np.ndarray],
    gallery_counts: np.ndarray,
    distance: str,
    views: Sequence[str] = VIEWS,
    notes: Sequence[str] = (),
    n_rechecked: int = 0,
) -> Rank1Result:
    """Assemble a :class:`Rank1Result` from per-probe correctness.

    ``correct[c]``: bool ``(P_c, V)``, whether probe ``i`` of probe set ``c`` is matched correctly at gallery view
    ``j``; ``probe_views[c]``: int ``(P_c,)`` view index of each probe; ``gallery_counts``: int ``(V,)`` gallery
    sequences per view (a view without any leaves its column out). Shared by the fast path and the tests' reference.
    """
    views = tuple(views)
    nv = len(views)
    tables, excl, incl, counts = {}, {}, {}, {}
    summary_excl, summary_incl = {}, {}
    for cond, ok in correct.items():
        table = np.full((nv, nv), np.nan)
        n = np.bincount(probe_views[cond], minlength=nv)
        for v1 in range(nv):
            if n[v1] == 0:
                continue
            hits = np.sum(ok[probe_views[cond] == v1], 0)
            table[v1] = np.round(hits * 100 / n[v1], 2)  # OpenGait's arithmetic
        table[:, np.asarray(gallery_counts) == 0] = np.nan
        e, i = _summarise(table)
        tables[cond] = pd.DataFrame(
            table, index=pd.Index(views, name="probe_view"), columns=pd.Index(views, name="gallery_view")
        )
        excl[cond], incl[cond], counts[cond] = e, i, n
        summary_excl[cond], summary_incl[cond] = _mean_present(e), _mean_present(i)
    index = pd.Index(views, name="probe_view")
    conds = tuple(correct)
    return Rank1Result(
        distance=distance,
        probe_sets=conds,
        views=views,
        tables=MappingProxyType(tables),
        per_view_excl=pd.DataFrame(excl, index=index, columns=list(conds)),
        per_view_incl=pd.DataFrame(incl, index=index, columns=list(conds)),
        summary_excl=MappingProxyType(summary_excl),
        summary_incl=MappingProxyType(summary_incl),
        n_probes=pd.DataFrame(counts, index=index, columns=list(conds)),
        n_gallery=pd.Series(np.asarray(gallery_counts, dtype=np.int64), index=pd.Index(views, name="gallery_view")),
        notes=tuple(notes),
        n_rechecked=n_rechecked,
    )


def protocol_notes(
    subject: np.ndarray,
    seq_type: np.ndarray,
    view: np.ndarray,
    views: Sequence[str] = VIEWS,
    gallery_types: Sequence[str] = GALLERY_TYPES,
    probe_sets: Mapping[str, Sequence[str]] = PROBE_SETS,
) -> list[str]:
    """Plain-language notes on cells left out and probes that cannot be matched (missing gallery sequences)."""
    notes = []
    is_gal = np.isin(seq_type, gallery_types)
    empty_g = [v for v in views if not np.any(is_gal & (view == v))]
    if empty_g:
        notes.append(
            f"gallery view(s) {', '.join(empty_g)} have no gallery sequences ({'/'.join(gallery_types)}): "
            "their columns are left out (NaN) in every table"
        )
    for cond, types in probe_sets.items():
        is_p = np.isin(seq_type, types)
        empty_p = [v for v in views if not np.any(is_p & (view == v))]
        if empty_p:
            notes.append(
                f"{cond}: probe view(s) {', '.join(empty_p)} have no probe sequences ({'/'.join(types)}): "
                "their rows are left out (NaN) and the mean is over the remaining probe views"
            )
    gal_pairs = set(zip(subject[is_gal].astype(str), view[is_gal].astype(str), strict=True))
    is_probe = np.isin(seq_type, [t for types in probe_sets.values() for t in types])
    probe_subjects = sorted(set(subject[is_probe].astype(str)))
    lacking = {}
    for s in probe_subjects:
        miss = [v for v in views if v not in empty_g and (s, v) not in gal_pairs]
        if miss:
            lacking[s] = miss
    if lacking:
        listed = "; ".join(f"{s} at {', '.join(v)}" for s, v in sorted(lacking.items()))
        notes.append(
            f"subject(s) without a gallery sequence at some gallery view: {listed}; their probes still count there "
            "and are misses (they cannot be matched), as in OpenGait's evaluator"
        )
    return notes


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
    _validate_distance(distance)
    if any(c is not None and int(c) < 1 for c in (probe_chunk, part_chunk)):
        raise ProtocolError(f"probe_chunk={probe_chunk!r}, part_chunk={part_chunk!r}; expected positive integers")
    x = _as_features(features, device)
    n = int(x.shape[0])
    subject = _as_labels(subject, "subject", n)
    seq_type = _as_labels(seq_type, "seq_type", n).astype(str)
    view = _as_labels(view, "view", n).astype(str)
    probe_types = [t for types in PROBE_SETS.values() for t in types]
    _check_names(seq_type, list(GALLERY_TYPES) + probe_types, "seq_type")
    _check_names(view, VIEWS, "view")

    _, codes = np.unique(subject, return_inverse=True)
    codes = codes.astype(np.int64).reshape(-1)
    view_idx = np.searchsorted(np.asarray(VIEWS), view)
    g_rows = np.flatnonzero(np.isin(seq_type, GALLERY_TYPES))
    gallery_counts = np.bincount(view_idx[g_rows], minlength=len(VIEWS))
    g_slots = np.full((len(VIEWS), int(gallery_counts.max(initial=0))), -1, dtype=np.int64)
    for v in range(len(VIEWS)):
        at_v = g_rows[view_idx[g_rows] == v]  # input order: ties go to the first
        g_slots[v, : len(at_v)] = at_v
    cond_rows = {c: np.flatnonzero(np.isin(seq_type, types)) for c, types in PROBE_SETS.items()}
    p_rows = np.concatenate(list(cond_rows.values())).astype(np.int64)

    pred, n_rechecked = _nearest_subjects(
        x,
        p_rows,
        g_slots,
        codes,
        distance,
        None if probe_chunk is None else int(probe_chunk),
        None if part_chunk is None else int(part_chunk),
    )
    correct, probe_views, at = {}, {}, 0
    for cond, rows in cond_rows.items():
        correct[cond] = pred[at : at + len(rows)] == codes[rows][:, None]
        probe_views[cond] = view_idx[rows]
        at += len(rows)
    notes = protocol_notes(subject, seq_type, view)
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
