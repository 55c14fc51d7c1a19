"""Exact ranks of every probe's relevant gallery sequences: the engine under rank-k, mAP, mINP and "who matched".

The rank-1 evaluator (:mod:`gstsn.eval.protocol`) needs only each probe's nearest gallery sequence. Rank-k, mAP and
mINP need the *position* of every relevant gallery sequence (same subject) in the probe's ranking, and "who matched"
needs the first k gallery sequences in order. This module computes both, exactly:

- **Order.** The ranking is a stable argsort of the canonical float64 distances
  (:func:`gstsn.eval.protocol.canonical_distances`): nearer first, equal distances in gallery input order.
- **What is returned.** Per probe and gallery group (a gallery view in the standard protocol; the whole gallery in the
  cross-view one) the 0-based positions of the relevant entries, ascending (:attr:`Ranking.positions`), and the first
  ``top_k`` gallery rows with their distances (:attr:`Ranking.top_index`, :attr:`Ranking.top_distance`).
- **How, fast.** For relevant entry ``r`` let ``before(r)`` be the number of *irrelevant* entries ranked before it.
  Then the ``m``-th relevant entry (1-based) sits at position ``(m - 1) + before_(m)``, where ``before_(m)`` is the
  ``m``-th smallest ``before`` value (``before`` grows along the order), so the relative order of relevant entries
  never has to be decided. The distances are computed for all pairs with float64 matmuls (``|p|^2 + |g|^2 - 2 p.g``
  per part, like the rank-1 evaluator's fp32 path, on features centred on a gallery mean; ``flat`` as one matmul over
  the flattened parts, so that no per-part output is written and summed) together with a rigorous
  bound of their rounding error; an irrelevant entry whose interval lies wholly below (above) ``r``'s is before
  (after) it. Only the pairs the bound cannot separate are recomputed canonically (``n_rechecked``). With random
  features at the LT size the intervals are ~1e-7 relative wide while neighbouring distances differ by ~5e-5, so a
  recheck is rare; fp32 (what the rank-1 evaluator uses) would leave ~3 undecided irrelevant entries per relevant one.
  The first ``top_k`` are decided the same way: when more than ``top_k`` intervals reach below the ``top_k``-th
  smallest upper end, or two of the first overlap, the candidates are recomputed canonically and stably sorted.

The answer is therefore the canonical one on any device, for any chunk sizes and thread counts (tested against plain
loops in ``tests/test_eval_retrieval.py``). The error bound is derived in ``docs/evaluation.md``.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from gstsn.eval.exact import (
    DISTANCE_SLACK,
    SAFETY,
    canonical_pairs,
    check_finite,
    gamma_bound,
    tile_chunks,
)

#: gallery entries kept per probe and gallery group for "who matched"
TOP_K = 5
_U64 = 2.0**-53  # unit roundoff of float64


@dataclass(frozen=True)
class Ranking:
    """Exact ranking facts of probes ``(P,)`` against gallery groups ``(V,)`` (see the module docstring).

    - ``positions``: int64 ``(P, V, R)``, 0-based positions of the relevant entries (ascending), ``-1`` padding
      (``R`` = the largest number of relevant entries anywhere);
    - ``n_relevant``: int64 ``(P, V)``; ``n_ranked``: int64 ``(P, V)``, gallery entries in the ranking (excluded and
      padding slots left out);
    - ``top_index``: int64 ``(P, V, top_k)``, feature row numbers of the first entries in order, ``-1`` padding;
      ``top_distance``: float64 ``(P, V, top_k)``, their distances (``NaN`` padding): canonical where the order
      needed a recheck, else the float64 matmul value (within ~1e-7 relative of the canonical one);
    - ``n_rechecked``: pairs whose canonical distance was computed (a diagnostic; depends on rounding).
    """

    positions: np.ndarray
    n_relevant: np.ndarray
    n_ranked: np.ndarray
    top_index: np.ndarray
    top_distance: np.ndarray
    n_rechecked: int


# --------------------------------------------------------------------------------------------------- bounds
@dataclass(frozen=True)
class _Bounds64:
    c_sq: float  # |s~_k - s_k| <= c_sq (|p_k|^2 + |g_k|^2)
    c_sum: float  # relative error of the square roots and the sum over parts
    shift: float  # relative perturbation of the operands: rounding of ``x - centre`` to float64


def _bounds64(parts: int, d: int) -> _Bounds64:
    return _Bounds64(
        c_sq=2.0 * gamma_bound(d + 2, _U64) + gamma_bound(d, _U64) + 8.0 * _U64,
        c_sum=gamma_bound(parts, _U64) + 5.0 * _U64,
        shift=1.01 * _U64,
    )


def _error(acc: torch.Tensor, p_tot: torch.Tensor, g_tot: torch.Tensor, b: _Bounds64, parts: int, distance: str):
    """``(lower, upper)``: an interval holding each pair's canonical value on the scale compared (``per_part``:
    ``sum_k |p_k - g_k|``; ``flat``: the squared distance); NaN gets ``(-inf, inf)``.

    per_part: ``sum_k |sqrt(s~_k) - sqrt(s_k)| <= sum_k sqrt(delta_k) <= sqrt(parts * c_sq * (P + G))``
    (Cauchy-Schwarz), plus the relative error of the square roots and the sum, the operand rounding (``shift`` per
    element, ``<= shift * sqrt(parts) * (sqrt(P) + sqrt(G))``) and ``DISTANCE_SLACK`` for the canonical value's own
    rounding.
    flat: as the rank-1 evaluator's bound, with float64 constants.
    """
    c_rel = (b.c_sum + DISTANCE_SLACK) * SAFETY
    tot = torch.add(p_tot[:, None], g_tot[None, :])
    if distance == "per_part":
        err = tot.mul_(parts * b.c_sq * SAFETY).sqrt_()
        err.add_(acc.abs(), alpha=c_rel)
        lift = b.shift * SAFETY * math.sqrt(parts)
        err.add_((lift * p_tot.sqrt())[:, None]).add_((lift * g_tot.sqrt())[None, :])
    else:
        coef = (b.c_sq * (1.0 + 3.0 * b.c_sum) + 9.0 * b.shift) * SAFETY
        err = tot.mul_(coef).add_(acc.abs(), alpha=c_rel + 1.5 * b.shift * SAFETY)
    lower = torch.sub(acc, err).nan_to_num_(nan=-math.inf)
    upper = err.add_(acc).nan_to_num_(nan=math.inf)
    return lower, upper


# ------------------------------------------------------------------------------------------------- operands
def _centre64(x: torch.Tensor, g_rows: np.ndarray, sample: int = 256) -> torch.Tensor:
    """float64 ``(parts, d)``: the mean of up to ``sample`` evenly spaced gallery rows (any centre is correct)."""
    if len(g_rows) == 0:
        return torch.zeros(x.shape[1:], dtype=torch.float64, device=x.device)
    pick = g_rows[np.linspace(0, len(g_rows) - 1, num=min(sample, len(g_rows))).astype(np.int64)]
    centre = x.index_select(0, torch.as_tensor(pick, device=x.device)).double().mean(0)
    return centre if bool(torch.isfinite(centre).all()) else torch.zeros_like(centre)


def _operand(x: torch.Tensor, rows: np.ndarray, centre: torch.Tensor, out: torch.Tensor, gallery: bool):
    """Fill ``out (parts, n, d + 2)`` float64 with ``[-2 (g_k - c_k), 1, |g_k - c_k|^2]`` (gallery) or
    ``[p_k - c_k, |p_k - c_k|^2, 1]`` (probes), ~4 MB of rows at a time; returns ``|x - c|^2`` over all parts."""
    parts, d = int(x.shape[1]), int(x.shape[2])
    step = max(1, (4 << 20) // (8 * parts * (d + 2)))
    norm_col, one_col = (d + 1, d) if gallery else (d, d + 1)
    for lo in range(0, len(rows), step):
        hi = min(len(rows), lo + step)
        idx = torch.as_tensor(rows[lo:hi], device=x.device)
        block = out[:, lo:hi, :d]
        block.copy_(x.index_select(0, idx).permute(1, 0, 2))  # float32 (or any float) -> float64 exactly
        block.sub_(centre[:, None, :])
        norms = torch.linalg.vector_norm(block, dim=2).square_()
        check_finite(norms, rows[lo:hi])
        if gallery:
            block.mul_(-2.0)
        out[:, lo:hi, norm_col] = norms
        out[:, lo:hi, one_col] = 1.0
    return out[:, : len(rows), norm_col].sum(0)


# ----------------------------------------------------------------------------------------------- canonical
# ------------------------------------------------------------------------------------------------- engine
def rank_relevant(
    x: torch.Tensor,
    p_rows: np.ndarray,
    g_slots: np.ndarray,
    codes: np.ndarray,
    view_idx: np.ndarray,
    distance: str,
    *,
    exclude_own_view: bool = False,
    top_k: int = TOP_K,
    probe_chunk: int | None = None,
    part_chunk: int | None = None,
) -> Ranking:
    """Exact ranking facts of the probes ``p_rows`` against the gallery groups ``g_slots``.

    ``x``: features ``(N, parts, d)`` on the compute device; ``p_rows``: probe row numbers ``(P,)``; ``g_slots``:
    ``(V, B)`` gallery row numbers per group in input order, ``-1`` padding; ``codes``: int64 subject code per row;
    ``view_idx``: int64 view index per row. ``exclude_own_view`` removes from each probe's ranking the gallery entries
    of its own subject at its own view (OpenGait's cross-view-gallery rule). Returns a :class:`Ranking`.
    """
    dev = x.device
    parts, d = int(x.shape[1]), int(x.shape[2])
    n_groups, width = g_slots.shape
    n_p = len(p_rows)
    k = max(0, min(int(top_k), width))
    flat_slots = g_slots.reshape(-1)
    pad_np = flat_slots < 0
    r_max = _max_relevant(g_slots, codes)
    positions = np.full((n_p, n_groups, r_max), -1, dtype=np.int64)
    n_relevant = np.zeros((n_p, n_groups), dtype=np.int64)
    n_ranked = np.zeros((n_p, n_groups), dtype=np.int64)
    top_index = np.full((n_p, n_groups, int(top_k)), -1, dtype=np.int64)
    top_distance = np.full((n_p, n_groups, int(top_k)), np.nan, dtype=np.float64)
    if n_p == 0 or width == 0 or pad_np.all():
        return Ranking(positions, n_relevant, n_ranked, top_index, top_distance, 0)
    if parts == 1:
        distance = "flat"  # one part: the same canonical numbers; flat's bound is simpler
    x_op = x  # what the matmuls read; the canonical rechecks always read ``x`` itself
    if distance == "flat" and parts > 1:  # one matmul over the flattened parts: no per-part outputs to write and sum
        x_op = x.reshape(x.shape[0], 1, parts * d)
        parts, d = 1, parts * d
    n_g = flat_slots.size
    g_rows = np.where(pad_np, flat_slots.max(), flat_slots)
    bounds = _bounds64(parts, d)
    centre = _centre64(x_op, g_rows[~pad_np])
    g_op = torch.empty((parts, n_g, d + 2), dtype=torch.float64, device=dev)
    g_tot = _operand(x_op, g_rows, centre, g_op, gallery=True)
    pad = torch.as_tensor(pad_np, device=dev)
    slot_codes = torch.as_tensor(np.where(pad_np, -1, codes[g_rows]), device=dev)
    slot_views = torch.as_tensor(np.where(pad_np, -1, view_idx[g_rows]), device=dev)
    pt_max, kc = tile_chunks(parts, n_p, n_g, probe_chunk, part_chunk)
    buf = torch.empty((min(kc, parts), min(pt_max, n_p), n_g), dtype=torch.float64, device=dev)
    part_sum = torch.empty((min(pt_max, n_p), n_g), dtype=torch.float64, device=dev)  # one part chunk's sum
    p_buf = torch.empty((parts, min(pt_max, n_p), d + 2), dtype=torch.float64, device=dev)
    rechecked = 0
    with _SquareRoots(dev) as roots:
        for lo in range(0, n_p, pt_max):
            rows = p_rows[lo : lo + pt_max]
            pt = len(rows)
            p_op = p_buf[:, :pt]
            p_tot = _operand(x_op, rows, centre, p_op, gallery=False)
            acc = torch.empty((pt, n_g), dtype=torch.float64, device=dev)
            for k0 in range(0, parts, kc):
                k1 = min(parts, k0 + kc)
                s = buf[: k1 - k0, :pt]
                torch.bmm(p_op[k0:k1], g_op[k0:k1].transpose(1, 2), out=s)
                if distance == "per_part":
                    roots(s)  # a negative s~ (true distance ~ 0) gives NaN: that pair's interval is (-inf, inf)
                if k0 == 0:
                    torch.sum(s, dim=0, out=acc)
                else:  # into a reused buffer: a fresh (pt, G) temporary per chunk costs ~2x the sum
                    acc.add_(torch.sum(s, dim=0, out=part_sum[:pt]))
            lower, upper = _error(acc, p_tot, g_tot, bounds, parts, distance)
            p_codes = torch.as_tensor(codes[rows], device=dev)
            same = slot_codes[None, :] == p_codes[:, None]  # (pt, n_g)
            excluded = pad[None, :].expand(pt, -1)
            if exclude_own_view:
                p_views = torch.as_tensor(view_idx[rows], device=dev)
                excluded = excluded | (same & (slot_views[None, :] == p_views[:, None]))
            relevant = same & ~excluded
            irrelevant = ~same & ~excluded
            shape = (pt, n_groups, width)
            tile = _Tile(rows, acc.view(shape), lower.view(shape), upper.view(shape), relevant.view(shape),
                         irrelevant.view(shape), excluded.reshape(shape), g_slots)  # fmt: skip
            n_ranked[lo : lo + pt] = (~tile.excluded).sum(2).cpu().numpy()
            rechecked += _relevant_positions(x, tile, distance, positions[lo : lo + pt], n_relevant[lo : lo + pt])
            if k:
                rechecked += _first_k(x, tile, distance, parts, k, top_index[lo : lo + pt], top_distance[lo : lo + pt])
    return Ranking(positions, n_relevant, n_ranked, top_index, top_distance, rechecked)


class _SquareRoots:
    """In-place float64 square roots of a ``(parts, P, G)`` buffer. On the CPU numpy's (IEEE, correctly rounded like
    torch's) run about 2x faster than torch 2.13's ``sqrt_`` for float64, one part slab per thread (numpy releases
    the GIL); elsewhere torch's."""

    def __init__(self, device: torch.device) -> None:
        self.workers = max(1, torch.get_num_threads()) if device.type == "cpu" else 0
        self.pool = ThreadPoolExecutor(self.workers) if self.workers > 1 else None

    def __call__(self, s: torch.Tensor) -> None:
        if not self.workers:
            s.sqrt_()
            return
        arr = s.numpy()

        def slabs(i: int) -> None:
            with np.errstate(invalid="ignore"):
                for k in range(i, arr.shape[0], self.workers):
                    np.sqrt(arr[k], out=arr[k])

        if self.pool is None:
            slabs(0)
        else:
            list(self.pool.map(slabs, range(self.workers)))

    def __enter__(self) -> _SquareRoots:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def _max_relevant(g_slots: np.ndarray, codes: np.ndarray) -> int:
    """The largest number of gallery entries of one subject in one group (an upper bound on relevant entries)."""
    best = 0
    for row in g_slots:
        real = row[row >= 0]
        if real.size:
            best = max(best, int(np.bincount(codes[real]).max()))
    return best


@dataclass
class _Tile:
    rows: np.ndarray  # probe row numbers (pt,)
    acc: torch.Tensor  # (pt, V, B) float64 value on the compared scale
    lower: torch.Tensor
    upper: torch.Tensor
    relevant: torch.Tensor  # bool (pt, V, B)
    irrelevant: torch.Tensor
    excluded: torch.Tensor
    g_slots: np.ndarray  # (V, B)


def _relevant_positions(x, tile: _Tile, distance: str, positions: np.ndarray, n_relevant: np.ndarray) -> int:
    """Fill ``positions`` / ``n_relevant`` of the tile's probes; returns the number of canonical distances computed.

    Per relevant entry, the irrelevant entries surely before it are those whose upper end lies below its lower end,
    those not surely after it those whose lower end does not exceed its upper end (counted, one pass over the row per
    relevant entry); the difference (undecided entries, rare) is settled by canonical distances.
    """
    r_max = positions.shape[2]
    if r_max == 0:
        return 0
    inf = math.inf
    n_rel = tile.relevant.sum(2)  # (pt, V)
    slots = torch.argsort((~tile.relevant).to(torch.uint8), dim=2, stable=True)[..., :r_max]  # relevant first
    valid = torch.arange(r_max, device=slots.device)[None, None, :] < n_rel[..., None]
    lo_r, hi_r = tile.lower.gather(2, slots), tile.upper.gather(2, slots)
    upper_irr = tile.upper.masked_fill(~tile.irrelevant, inf)  # only irrelevant entries can be counted below
    lower_irr = tile.lower.masked_fill(~tile.irrelevant, inf)
    # counting (r_max passes over each row) is cheaper than sorting the rows and searching them
    n_before = torch.stack([(upper_irr < lo_r[..., j : j + 1]).sum(2) for j in range(r_max)], dim=2)
    not_after = torch.stack([(lower_irr <= hi_r[..., j : j + 1]).sum(2) for j in range(r_max)], dim=2)
    # irrelevant with upper < lo_r, and with lower <= hi_r (a masked entry's inf counts only where hi_r is inf)
    not_after = torch.minimum(not_after, tile.irrelevant.sum(2, keepdim=True))
    undecided = (not_after - n_before).masked_fill_(~valid, 0)
    n_before_np = n_before.cpu().numpy()
    valid_np = valid.cpu().numpy()
    n_checked = 0
    todo = torch.nonzero(undecided > 0)  # (U, 3): probe in tile, group, relevant index
    if todo.shape[0]:
        i, v, j = todo[:, 0], todo[:, 1], todo[:, 2]
        r_slot = slots[i, v, j]
        lo_e, hi_e = tile.lower[i, v, r_slot], tile.upper[i, v, r_slot]
        row_lo, row_hi, row_irr = tile.lower[i, v], tile.upper[i, v], tile.irrelevant[i, v]  # (U, B)
        open_ = row_irr & ~(row_hi < lo_e[:, None]) & ~(row_lo > hi_e[:, None])
        pairs = torch.nonzero(open_).cpu().numpy()  # (Q, 2): todo entry, irrelevant slot
        todo_np, r_slot_np = todo.cpu().numpy(), r_slot.cpu().numpy()
        e = pairs[:, 0]
        ti, tv = todo_np[e, 0], todo_np[e, 1]
        probe = tile.rows[ti]
        own = canonical_pairs(x, tile.rows[todo_np[:, 0]], tile.g_slots[todo_np[:, 1], r_slot_np], distance)
        d_i = canonical_pairs(x, probe, tile.g_slots[tv, pairs[:, 1]], distance)
        d_r = own[e]
        first = (d_i < d_r) | ((d_i == d_r) & (pairs[:, 1] < r_slot_np[e]))
        extra = np.bincount(e[first], minlength=len(todo_np))
        n_before_np[todo_np[:, 0], todo_np[:, 1], todo_np[:, 2]] += extra
        n_checked = len(own) + len(pairs)
    big = np.iinfo(np.int64).max // 4
    ordered = np.sort(np.where(valid_np, n_before_np, big), axis=2)
    pos = ordered + np.arange(r_max)[None, None, :]
    positions[...] = np.where(valid_np, pos, -1)
    n_relevant[...] = n_rel.cpu().numpy()
    return n_checked


def _first_k(x, tile: _Tile, distance: str, parts: int, k: int, top_index: np.ndarray, top_dist: np.ndarray) -> int:
    """Fill the first ``k`` gallery rows and distances of the tile's probes in exact order; returns rechecks."""
    inf = math.inf
    acc = tile.acc.nan_to_num(nan=inf).masked_fill_(tile.excluded, inf)
    avail = (~tile.excluded).sum(2)  # (pt, V)
    k_row = torch.clamp(avail, max=k)
    approx, order = torch.topk(acc, k, dim=2, largest=False, sorted=True)  # (pt, V, k)
    lo_o, hi_o = tile.lower.gather(2, order), tile.upper.gather(2, order)
    live = torch.arange(k, device=acc.device)[None, None, :] < k_row[..., None]
    # any k entries' largest upper end is >= the k-th smallest one: entries whose lower end exceeds it have k entries
    # surely before them, so those with a lower end below it are all the candidates (when exactly k: the first k)
    thr = hi_o.masked_fill(~live, -inf).amax(2)
    cand = (tile.lower <= thr[..., None]) & ~tile.excluded
    n_cand = cand.sum(2)
    overlap = (hi_o[..., :-1] >= lo_o[..., 1:]) & live[..., 1:]
    exact = (n_cand == k_row) & ~overlap.any(2)
    order_np, k_np = order.cpu().numpy(), k_row.cpu().numpy()
    scale = (approx / parts) if distance == "per_part" else approx.sqrt()
    scale_np = scale.cpu().numpy()
    live_np = live.cpu().numpy() & exact.cpu().numpy()[..., None]
    ii, vv, jj = np.nonzero(live_np)
    top_index[ii, vv, jj] = tile.g_slots[vv, order_np[ii, vv, jj]]
    top_dist[ii, vv, jj] = scale_np[ii, vv, jj]
    redo = torch.nonzero(~exact & (k_row > 0)).cpu().numpy()  # (q, 2)
    if len(redo) == 0:
        return 0
    cand_np = cand.cpu().numpy()
    probes, gals, owner, slots = [], [], [], []
    for n, (i, v) in enumerate(redo):
        s = np.flatnonzero(cand_np[i, v])
        probes.append(np.full(len(s), tile.rows[i]))
        gals.append(tile.g_slots[v, s])
        owner.append(np.full(len(s), n))
        slots.append(s)
    dist = canonical_pairs(x, np.concatenate(probes), np.concatenate(gals), distance)
    owner_a, slots_a, gals_a = np.concatenate(owner), np.concatenate(slots), np.concatenate(gals)
    for n, (i, v) in enumerate(redo):
        mine = owner_a == n
        ordered = np.lexsort((slots_a[mine], dist[mine]))[: k_np[i, v]]  # distance, then gallery input order
        top_index[i, v, : len(ordered)] = gals_a[mine][ordered]
        top_dist[i, v, : len(ordered)] = dist[mine][ordered]
    return len(dist)


__all__ = ["TOP_K", "Ranking", "rank_relevant"]
