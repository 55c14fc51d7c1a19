"""What a run stores for "who matched": the PCA coordinates, the shown cases and the arrays of matches.npz."""

from __future__ import annotations

import numpy as np
from helpers.toy_data import casia_layout

from gstsn.eval.retrieval import evaluate_retrieval
from gstsn.eval.who_matched import build_matches, project_2d, save_matches


def test_pca_coordinates_equal_a_full_svd_on_structured_embeddings():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 5, 400)
    x = (5 * rng.standard_normal((5, 5, 10))[labels] + rng.standard_normal((400, 5, 10))).astype(np.float32)
    xy, share = project_2d(x)
    flat = x.reshape(400, -1).astype(np.float64)
    u, s, _ = np.linalg.svd(flat - flat.mean(0), full_matrices=False)
    np.testing.assert_allclose(np.abs(xy), np.abs(u[:, :2] * s[:2]), atol=1e-3 * s[0])
    np.testing.assert_allclose(share, s[:2] ** 2 / np.sum(s**2), rtol=1e-4)
    again, _ = project_2d(x)
    np.testing.assert_array_equal(xy, again)


def test_matches_hold_failing_cases_with_their_thumbnails(tmp_path):
    rng = np.random.default_rng(4)
    subject, seq_type, view = casia_layout(6, 0.0, rng)
    code = np.unique(subject, return_inverse=True)[1]
    feats = (rng.standard_normal((6, 2, 6))[code] + rng.standard_normal((len(subject), 2, 6))).astype(np.float32)
    res = evaluate_retrieval(feats, subject, seq_type, view)
    m = build_matches(res, feats, subject, seq_type, view, lambda rows: np.full((len(rows), 4, 3), 7, np.uint8))
    assert len(m["case_probe"]) > 0 and {k.split()[0] for k in m["case_kind"]} <= {"worst", "CL"}
    for p, v in zip(m["case_probe"], m["case_view"], strict=True):
        top1 = m["top_index"][p, v, 0]
        assert m["row_subject"][top1] != m["row_subject"][m["probe_row"][p]]  # every case is a failure
        assert v != m["row_view"][m["probe_row"][p]]  # at another view than the probe's
        assert set(m["top_index"][p, v]) <= set(m["thumb_row"]) and m["probe_row"][p] in m["thumb_row"]
    assert m["thumbs"].shape == (len(m["thumb_row"]), 4, 3)
    assert [str(m["seq_types"][t]) for t in m["row_seq_type"]] == list(seq_type)
    path = save_matches(tmp_path / "matches.npz", m)
    with np.load(path, allow_pickle=False) as back:
        np.testing.assert_array_equal(back["top_index"], m["top_index"])
