"""Exact nearest neighbours with fast fp32 matmuls (docs/evaluation.md, "Exactness"): the canonical float64
distances that define every result, the per-pair error bounds of the fp32 ``||p||² + ||g||² − 2p·g`` form, and the
canonical recheck of the candidates a bound cannot rule out. Shared by the rank-1 and the retrieval evaluators."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from gstsn.eval.inputs import ProtocolError, validate_distance

U32 = 2.0**-24  # unit roundoff of float32
DISTANCE_SLACK = 1e-9  # relative slack for the canonical float64 distances' own rounding (actual: ~1e-12)
SAFETY = 1.1  # factor on every error bound (covers the rounding of the bound arithmetic and comparisons)
RECHECK_BYTES = 4 << 20  # float64 difference buffer per recheck worker (chunks of candidate pairs)


# ---------------------------------------------------------------------------------------------- canonical distance
def canonical_distances(probe: np.ndarray, gallery: np.ndarray, distance: str) -> np.ndarray:
    """The distances that define the protocol's answer, computed in float64 from plain differences.

    ``probe``: float64 ``(parts, d)``; ``gallery``: float64 ``(n, parts, d)``. Returns float64 ``(n,)``:

    - ``per_part``: ``sum_k sqrt(sum_j (g - p)[k, j]^2) / parts``;
    - ``flat``: ``sqrt(sum_k sum_j (g - p)[k, j]^2)``.

    Each gallery row's value depends only on that row (row-wise reductions), so identical gallery features give
    identical distances: exact ties, resolved to the first index.
    """
    validate_distance(distance)
    return canonical_rows(np.asarray(probe, dtype=np.float64)[None], np.asarray(gallery, dtype=np.float64), distance)


# --------------------------------------------------------------------------------------------------- error bounds
def _matmul_unit_roundoff(device: torch.device) -> float:
    """Unit roundoff of an fp32 matmul under the current torch settings (TF32 / bf16 allowed reduce it)."""
    u = U32
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


def gamma_bound(n: int, u: float) -> float:
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
        c_sq=2.0 * gamma_bound(d + 2, u_mm) + gamma_bound(d, U32) + 8.0 * U32,
        c_sum=gamma_bound(parts, U32) + 5.0 * U32,  # sum over parts; square roots within a few ulp (CUDA too)
        shift=1.01 * U32,
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


def check_finite(norms: torch.Tensor, rows: np.ndarray) -> None:
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
        check_finite(norms, rows[lo:hi])
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


def tile_chunks(parts: int, n_probes: int, n_gallery: int, probe_chunk: int | None, part_chunk: int | None):
    """``(probe_chunk, part_chunk)``, defaults filled in: ~2 MB per ``(probes, gallery)`` fp32 array (the running
    sums and minima stay in the cores' L2 caches) and ~16 MB for the ``(parts, probes, gallery)`` matmul buffer (many
    parts per reduction pass). Measured at the LT size on 2 cores: 448 probes x 4 parts per batch took ~20 % longer."""
    pt = probe_chunk or int(min(max(1, n_probes), max(32, ((1 << 19) // max(1, n_gallery)) // 32 * 32)))
    kc = part_chunk or int(max(1, min(parts, (1 << 22) // max(1, min(pt, n_probes) * n_gallery))))
    return pt, kc


def nearest_subjects(
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
    pt_max, kc = tile_chunks(parts, n_p, n_g, probe_chunk, part_chunk)
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
        lower, upper = distance_interval(acc, rho, p_tot, g_tot, bounds, parts)
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
    step = max(1, RECHECK_BYTES // (8 * parts * d))
    host = x.numpy() if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) else None

    def fill(lo: int, work: np.ndarray) -> None:
        pr, gr = probe_rows[lo : lo + step], gallery_rows[lo : lo + step]
        once, which = np.unique(pr, return_inverse=True)  # a probe has several candidates: read its row once
        p = (host[once] if host is not None else _host_rows(x, once))[which.reshape(-1)]
        g = host[gr] if host is not None else _host_rows(x, gr)  # numpy gathers: no thread-pool round trip
        dist[lo : lo + len(g)] = canonical_rows(p, g, distance, work[: len(g)])

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


def canonical_pairs(x: torch.Tensor, probe_rows: np.ndarray, gallery_rows: np.ndarray, distance: str) -> np.ndarray:
    """Canonical float64 distances of the row pairs ``(probe_rows[i], gallery_rows[i])`` of ``x``, ``(n,)``."""
    out = np.empty(len(probe_rows), dtype=np.float64)
    if len(out) == 0:
        return out
    parts, d = int(x.shape[1]), int(x.shape[2])
    step = max(1, RECHECK_BYTES // (8 * parts * d))
    host = x.numpy() if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) else None
    for lo in range(0, len(out), step):
        pr, gr = probe_rows[lo : lo + step], gallery_rows[lo : lo + step]
        if host is not None:
            p, g = host[pr], host[gr]
        else:
            p, g = _host_rows(x, pr), _host_rows(x, gr)
        out[lo : lo + len(pr)] = canonical_rows(p, g, distance)
    return out


def canonical_rows(probe: np.ndarray, gallery: np.ndarray, distance: str, work: np.ndarray | None = None) -> np.ndarray:
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


def distance_interval(
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
    The derivation is in ``docs/evaluation.md``; every term is scaled by ``SAFETY``.
    """
    c_sq, c_rel, shift = bounds.c_sq * SAFETY, (bounds.c_sum + DISTANCE_SLACK) * SAFETY, bounds.shift * SAFETY
    if rho is not None:
        big = torch.add((c_sq * p_tot)[:, None], (c_sq * g_tot)[None, :])  # >= sum_k |s~_k - s_k| (x safety)
        root = rho.clamp_min_(0.0).sqrt_()
        err = torch.mul(big, parts * SAFETY).sqrt_()  # sum_k sqrt(delta_k) <= sqrt(parts * sum_k delta_k)
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


__all__ = [
    "DISTANCE_SLACK",
    "RECHECK_BYTES",
    "SAFETY",
    "U32",
    "canonical_distances",
    "canonical_pairs",
    "canonical_rows",
    "check_finite",
    "gamma_bound",
    "distance_interval",
    "nearest_subjects",
    "tile_chunks",
]
