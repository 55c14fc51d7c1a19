"""Batch-all triplet loss (BA+) per part, with the diagnostics a training log needs.

For every part ``p``, every anchor ``a``, every positive ``j`` (same label as ``a``) and every negative ``k``
(different label), the triplet term is ``relu(margin + d_p(a, j) - d_p(a, k))`` with the Euclidean distance ``d_p``
between part-``p`` embeddings. Per part the loss is the sum of the terms divided by the number of non-zero terms (BA+:
easy triplets do not dilute the mean), 0 when every term is zero; the loss is the mean over parts.

As in GaitSet's and OpenGait's code, the anchor itself counts among its positives (``d(a, a) = 0``); that is the
distance whose gradient turns a naive ``sqrt(clamp_min(d², 0))`` into NaN. Here the distance is ``sqrt(relu(d²))``:
relu's backward masks an exact 0, so duplicated sequences in a batch (``d² = 0`` off the diagonal too) give finite
gradients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


class LossInputError(ValueError):
    """Embeddings / labels of the wrong shape, or a batch without positives or negatives."""


def pairwise_distances(emb: torch.Tensor) -> torch.Tensor:
    """Euclidean distances per part: ``emb (parts, n, d)`` → ``(parts, n, n)``, via ``sqrt(relu(d²))``."""
    sq = (emb * emb).sum(-1)  # (parts, n)
    d2 = sq.unsqueeze(2) + sq.unsqueeze(1) - 2.0 * torch.bmm(emb, emb.transpose(1, 2))
    eye = torch.eye(emb.shape[1], dtype=torch.bool, device=emb.device)
    d2 = d2.masked_fill(eye, 0.0)  # exact 0 on the diagonal (the expansion leaves rounding noise there)
    return torch.sqrt(torch.relu(d2))


def _grouped(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For a boolean ``(n, n)`` mask: per row, the column indices where it is True first ``(n, m)`` and their validity.

    ``m`` is the largest row count; shorter rows are padded with a valid index and ``False`` validity.
    """
    counts = mask.sum(1)
    m = int(counts.max())
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)[:, :m]
    valid = torch.arange(m, device=mask.device).unsqueeze(0) < counts.unsqueeze(1)
    return order, valid


STAT_NAMES = ("loss", "dist_ap", "dist_an", "nonzero_frac")


def batch_all_triplet(
    emb: torch.Tensor, labels: torch.Tensor, margin: float = 0.2
) -> tuple[torch.Tensor, dict[str, float]]:
    """BA+ triplet loss of ``emb (n, parts, d)`` with integer ``labels (n,)``.

    Returns ``(loss, stats)``: ``loss`` a scalar tensor (float32, differentiable); ``stats`` detached Python floats:
    ``loss``, ``dist_ap`` (mean anchor-positive distance over pairs of distinct sequences), ``dist_an`` (mean
    anchor-negative distance), ``nonzero_frac`` (share of triplet terms > 0), each averaged over parts. A collapsed
    embedding shows as ``loss ≈ margin``, distances ≈ 0 and ``nonzero_frac ≈ 1``.
    """
    loss, stats = batch_all_triplet_tensor(emb, labels, margin)
    return loss, dict(zip(STAT_NAMES, stats.tolist(), strict=True))


@dataclass(frozen=True)
class TripletIndices:
    """Which distances of a batch are anchor-positive / anchor-negative pairs, as device tensors.

    They depend only on which rows share a label, not on the label values: for the trainer's P×K batches (P distinct
    subjects, K consecutive rows each) they are the same every step, so a loop builds them once
    (:func:`pk_triplet_indices`) and the step needs no host-to-device copy and no host work for the loss.
    """

    pos_idx: torch.Tensor  # (n, kp) int64: each anchor's positives first (the anchor itself included)
    neg_idx: torch.Tensor  # (n, kn) int64
    valid: torch.Tensor  # (1, n, kp, kn) bool: real (positive, negative) pairs
    off_diag: torch.Tensor  # (n, n) bool: same label, different row
    diff: torch.Tensor  # (n, n) bool: different label
    n: int


def triplet_indices(labels: torch.Tensor, device: torch.device | str | None = None) -> TripletIndices:
    """The :class:`TripletIndices` of integer ``labels (n,)`` (computed on the CPU, placed on ``device``)."""
    lab = labels.detach().cpu()
    n = int(lab.shape[0])
    same = lab.unsqueeze(0) == lab.unsqueeze(1)  # (n, n), diagonal included (anchor = its own positive)
    diff = ~same
    if not bool(diff.any(1).all()) or not bool((same.sum(1) > 1).all()):
        raise LossInputError(
            f"every anchor needs another sequence of its subject and one of another subject; labels: {lab.tolist()}"
        )
    pos_idx, pos_ok = _grouped(same)  # (n, kp)
    neg_idx, neg_ok = _grouped(diff)  # (n, kn)
    valid = (pos_ok.unsqueeze(2) & neg_ok.unsqueeze(1)).unsqueeze(0)  # (1, n, kp, kn)
    off_diag = same & ~torch.eye(n, dtype=torch.bool)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    moved = (t.to(dev, non_blocking=True) for t in (pos_idx, neg_idx, valid, off_diag, diff))
    return TripletIndices(*moved, n=n)


def pk_triplet_indices(p: int, k: int, device: torch.device | str | None = None) -> TripletIndices:
    """:func:`triplet_indices` of a P×K batch: rows ``i*k .. i*k+k-1`` share a subject, the P subjects differ."""
    return triplet_indices(torch.arange(p).repeat_interleave(k), device)


def is_pk_layout(labels: torch.Tensor | Any, p: int, k: int) -> bool:
    """True when ``labels`` (host values) form the P×K layout of :func:`pk_triplet_indices`."""
    lab = torch.as_tensor(labels).reshape(-1)
    if lab.numel() != p * k or lab.device.type != "cpu":
        return False
    blocks = lab.reshape(p, k)
    return bool((blocks == blocks[:, :1]).all()) and int(torch.unique(blocks[:, 0]).numel()) == p


def batch_all_triplet_tensor(
    emb: torch.Tensor, labels: torch.Tensor, margin: float = 0.2, indices: TripletIndices | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """As :func:`batch_all_triplet`, but the statistics stay a detached tensor ``(4,)`` on ``emb``'s device, in the
    order of :data:`STAT_NAMES`, so that a training loop on a GPU need not synchronise every step.

    ``indices``: the batch's :class:`TripletIndices`, already on ``emb``'s device (a caller that knows its label layout
    passes them; ``labels`` is then only checked for its length). Without it they are computed from ``labels``.
    """
    if emb.dim() != 3:
        raise LossInputError(f"embeddings must be (n, parts, d), got shape {tuple(emb.shape)}")
    n = emb.shape[0]
    if tuple(labels.shape) != (n,):
        raise LossInputError(f"labels must be ({n},) to match the embeddings, got shape {tuple(labels.shape)}")
    if indices is None:
        indices = triplet_indices(labels, emb.device)  # index bookkeeping on the CPU (labels are small)
    elif indices.n != n:
        raise LossInputError(f"triplet indices are for {indices.n} rows but the embeddings have {n}")
    pos_idx, neg_idx, valid = indices.pos_idx, indices.neg_idx, indices.valid

    x = emb.float().transpose(0, 1).contiguous()  # (parts, n, d); distances in fp32 also under autocast
    dist = pairwise_distances(x)  # (parts, n, n)
    parts = dist.shape[0]
    d_ap = torch.gather(dist, 2, pos_idx.unsqueeze(0).expand(parts, -1, -1))  # (parts, n, kp)
    d_an = torch.gather(dist, 2, neg_idx.unsqueeze(0).expand(parts, -1, -1))  # (parts, n, kn)
    terms = torch.relu(margin + d_ap.unsqueeze(3) - d_an.unsqueeze(2)) * valid  # (parts, n, kp, kn)

    flat = terms.reshape(parts, -1)
    nonzero = (flat > 0).sum(1)  # (parts,)
    per_part = flat.sum(1) / nonzero.clamp_min(1).to(flat.dtype)
    loss = per_part.mean()

    with torch.no_grad():  # masked means, not dist[:, mask]: boolean indexing would wait for the device every step
        off, diff = indices.off_diag, indices.diff
        stats = torch.stack(
            [
                loss.detach(),
                (dist * off).sum() / (off.sum() * parts),
                (dist * diff).sum() / (diff.sum() * parts),
                nonzero.sum().float() / (valid.sum().float() * parts),
            ]
        )
    return loss, stats


__all__ = [
    "STAT_NAMES",
    "LossInputError",
    "TripletIndices",
    "batch_all_triplet",
    "batch_all_triplet_tensor",
    "is_pk_layout",
    "pairwise_distances",
    "pk_triplet_indices",
    "triplet_indices",
]
