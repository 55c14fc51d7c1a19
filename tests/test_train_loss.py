"""BA+ triplet loss: equals a slow loop reference, finite gradients with duplicates, clear input errors."""

from __future__ import annotations

import itertools

import pytest
import torch

from gstsn.train.loss import LossInputError, batch_all_triplet, pairwise_distances


def reference_ba_plus(emb: torch.Tensor, labels: list[int], margin: float) -> tuple[float, dict[str, float]]:
    """Plain loops: every (part, anchor, positive incl. itself, negative) triplet; per part sum / #non-zero."""
    n, parts, _ = emb.shape
    part_losses, aps, ans, nonzero, total = [], [], [], 0, 0
    for p in range(parts):
        s, cnt, ap, an = 0.0, 0, [], []
        for a, j, k in itertools.product(range(n), repeat=3):
            if labels[a] != labels[j] or labels[a] == labels[k]:
                continue
            d_ap = float(torch.linalg.norm(emb[a, p] - emb[j, p]))
            d_an = float(torch.linalg.norm(emb[a, p] - emb[k, p]))
            term = max(0.0, margin + d_ap - d_an)
            total += 1
            if term > 0:
                s += term
                cnt += 1
        for a, b in itertools.product(range(n), repeat=2):
            d = float(torch.linalg.norm(emb[a, p] - emb[b, p]))
            if labels[a] == labels[b] and a != b:
                ap.append(d)
            elif labels[a] != labels[b]:
                an.append(d)
        part_losses.append(s / cnt if cnt else 0.0)
        nonzero += cnt
        aps.append(sum(ap) / len(ap))
        ans.append(sum(an) / len(an))
    stats = {
        "loss": sum(part_losses) / parts,
        "dist_ap": sum(aps) / parts,
        "dist_an": sum(ans) / parts,
        "nonzero_frac": nonzero / total,
    }
    return stats["loss"], stats


@pytest.mark.parametrize(
    "labels",
    [
        [0, 0, 1, 1, 2, 2],  # P×K 3×2
        [3, 1, 3, 1, 3, 1, 7, 7],  # unordered labels, unequal group sizes
        [0, 0, 0, 1, 1, 2, 2, 2, 2],
    ],
)
def test_matches_loop_reference(labels):
    g = torch.Generator().manual_seed(len(labels))
    emb = torch.randn(len(labels), 3, 5, generator=g, dtype=torch.float64) * 0.3
    loss, stats = batch_all_triplet(emb, torch.tensor(labels), margin=0.2)
    ref_loss, ref_stats = reference_ba_plus(emb, labels, 0.2)
    assert float(loss) == pytest.approx(ref_loss, abs=1e-5)
    for key, value in ref_stats.items():
        assert stats[key] == pytest.approx(value, abs=1e-5), key
    assert 0 < stats["nonzero_frac"] < 1  # a mixed batch: the BA+ mean over non-zero terms matters


def test_all_easy_triplets_give_zero_loss_not_nan():
    emb = torch.tensor([[[0.0]], [[0.0]], [[10.0]], [[10.0]]], requires_grad=True)
    loss, stats = batch_all_triplet(emb, torch.tensor([0, 0, 1, 1]))
    loss.backward()
    assert loss.item() == 0.0 and stats["nonzero_frac"] == 0.0
    assert torch.isfinite(emb.grad).all()


def test_duplicate_sequences_give_finite_gradients():
    g = torch.Generator().manual_seed(1)
    base = torch.randn(4, 6, 8, generator=g) * 0.02  # close together: the duplicate pairs sit in active triplets
    emb = torch.cat([base, base]).requires_grad_(True)  # every sequence twice: d = 0 off the diagonal too
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    loss, _ = batch_all_triplet(emb, labels)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(emb.grad).all()
    assert emb.grad.abs().sum() > 0


def test_naive_sqrt_of_clamp_would_give_nan():
    """Guards the test above: the pitfall it protects against is real (clamp_min's backward passes the inf)."""
    x = torch.zeros(1, 3, 4)
    x[0, 1] = 1.0
    x.requires_grad_(True)
    sq = (x * x).sum(-1)
    d2 = sq.unsqueeze(2) + sq.unsqueeze(1) - 2 * torch.bmm(x, x.transpose(1, 2))
    torch.sqrt(d2.clamp_min(0)).sum().backward()
    assert not torch.isfinite(x.grad).all()
    y = x.detach().clone().requires_grad_(True)
    pairwise_distances(y).sum().backward()
    assert torch.isfinite(y.grad).all()


def test_collapsed_embeddings_show_margin_and_zero_distances():
    emb = torch.ones(6, 2, 4)
    loss, stats = batch_all_triplet(emb, torch.tensor([0, 0, 1, 1, 2, 2]), margin=0.2)
    assert float(loss) == pytest.approx(0.2)
    assert stats["dist_ap"] == 0 and stats["dist_an"] == 0 and stats["nonzero_frac"] == 1.0


def test_bf16_embeddings_are_scored_in_fp32():
    emb = torch.randn(6, 2, 4).to(torch.bfloat16)
    loss, _ = batch_all_triplet(emb, torch.tensor([0, 0, 1, 1, 2, 2]))
    assert loss.dtype == torch.float32


@pytest.mark.parametrize(
    ("emb_shape", "labels", "match"),
    [
        ((4, 8), [0, 0, 1, 1], "must be \\(n, parts, d\\)"),
        ((4, 2, 8), [0, 0, 1], "labels must be \\(4,\\)"),
        ((4, 2, 8), [0, 0, 0, 0], "one of another subject"),
        ((4, 2, 8), [0, 1, 2, 2], "another sequence of its subject"),
    ],
)
def test_bad_inputs_are_named(emb_shape, labels, match):
    with pytest.raises(LossInputError, match=match):
        batch_all_triplet(torch.zeros(emb_shape), torch.tensor(labels))
