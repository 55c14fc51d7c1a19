"""Rank-5, mAP, mINP, first matches (standard protocol) and OpenGait's cross-view-gallery protocol: the fast path
against plain-loop references, exactly, on constructed ties too; and the same invariances as the rank-1 evaluator."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from helpers.toy_data import casia_layout, with_ties

from gstsn.data.naming import VIEWS
from gstsn.eval.crossview import CV_GALLERY_TYPES, CV_PROBE_SETS, evaluate_cross_view
from gstsn.eval.protocol import GALLERY_TYPES, PROBE_SETS, ProtocolError, canonical_distances, evaluate_rank1
from gstsn.eval.retrieval import evaluate_retrieval


# ------------------------------------------------------------------------------------------ references (slow)
def stable_order(probe: np.ndarray, gallery_feats: np.ndarray, distance: str) -> tuple[list[int], np.ndarray]:
    """Positions 0.. of the gallery rows sorted by canonical distance, ties in input order (plain Python sort)."""
    dist = canonical_distances(probe, gallery_feats, distance) if len(gallery_feats) else np.zeros(0)
    return sorted(range(len(dist)), key=lambda j: (dist[j], j)), dist


def per_probe_metrics(order: list[int], relevant: list[bool]) -> dict[str, float]:
    positions = [pos for pos, j in enumerate(order) if relevant[j]]
    out = {"rank1": bool(positions) and positions[0] < 1, "rank5": bool(positions) and positions[0] < 5}
    if positions:
        total = 0.0
        for m, pos in enumerate(positions, start=1):
            total += m / (pos + 1)
        out["map"] = total / len(positions)
        out["minp"] = len(positions) / (positions[-1] + 1)
    else:
        out["map"] = out["minp"] = math.nan
    return out


def reference_retrieval(feats, subject, seq_type, view, distance: str, top_k: int = 5):
    """Standard protocol with loops: {metric: {cond: 11x11}} and {(probe row, gallery view): first top_k rows}."""
    feats = np.asarray(feats, dtype=np.float64)
    n = len(feats)
    tables = {m: {} for m in ("rank1", "rank5", "map", "minp")}
    tops = {}
    for cond, types in PROBE_SETS.items():
        for m in tables:
            tables[m][cond] = np.full((11, 11), np.nan)
        for a, v1 in enumerate(VIEWS):
            probes = [i for i in range(n) if seq_type[i] in types and view[i] == v1]
            for b, v2 in enumerate(VIEWS):
                gallery = [j for j in range(n) if seq_type[j] in GALLERY_TYPES and view[j] == v2]
                if not probes or not gallery:
                    continue
                values = {m: [] for m in tables}
                for i in probes:
                    order, _ = stable_order(feats[i], feats[gallery], distance)
                    tops[(i, v2)] = [gallery[j] for j in order[:top_k]]
                    got = per_probe_metrics(order, [subject[j] == subject[i] for j in gallery])
                    for m in tables:
                        values[m].append(got[m])
                for m in ("rank1", "rank5"):
                    tables[m][cond][a, b] = np.round(sum(values[m]) * 100 / len(probes), 2)
                for m in ("map", "minp"):
                    present = [x for x in values[m] if not math.isnan(x)]
                    tables[m][cond][a, b] = np.round(np.mean(np.array(present)) * 100, 2) if present else np.nan
    return tables, tops


def reference_cross_view(feats, subject, seq_type, view, distance: str):
    """Cross-view protocol with loops: {metric: {cond: (11,) per probe view}}."""
    feats = np.asarray(feats, dtype=np.float64)
    n = len(feats)
    gallery = [j for j in range(n) if seq_type[j] in CV_GALLERY_TYPES]
    out = {"cv_rank1": {}, "cv_map": {}}
    for cond, types in CV_PROBE_SETS.items():
        acc, aps_view = np.full(11, np.nan), np.full(11, np.nan)
        for a, v1 in enumerate(VIEWS):
            probes = [i for i in range(n) if seq_type[i] in types and view[i] == v1]
            if not probes:
                continue
            hits, aps = [], []
            for i in probes:
                kept = [j for j in gallery if not (subject[j] == subject[i] and view[j] == view[i])]
                order, _ = stable_order(feats[i], feats[kept], distance)
                got = per_probe_metrics(order, [subject[j] == subject[i] for j in kept])
                hits.append(float(got["rank1"]))
                if not math.isnan(got["map"]):
                    aps.append(got["map"])
            acc[a] = np.round(np.mean(np.array(hits)) * 100, 2)
            aps_view[a] = np.round(np.mean(np.array(aps)) * 100, 2) if aps else np.nan
        out["cv_rank1"][cond], out["cv_map"][cond] = acc, aps_view
    return out


def opengait_cross_view(feats, subject, seq_type, view):
    """OpenGait's ``cross_view_gallery_evaluation`` / ``compute_ACC_mAP`` transcribed (per_part distance, float64
    numpy instead of CUDA, stable argsort): an independent check of the rule, to 0.01 after its own rounding."""
    feats = np.asarray(feats, dtype=np.float64)
    label, view = np.asarray(subject), np.asarray(view)
    res = {}
    for type_, probe_seq in {"NM": ["nm-01"], "BG": ["bg-01"], "CL": ["cl-01"]}.items():
        acc, mean_ap = np.zeros(11) - 1.0, np.zeros(11) - 1.0
        for v1, probe_view in enumerate(VIEWS):
            pm = np.isin(seq_type, probe_seq) & np.isin(view, probe_view)
            gm = np.isin(seq_type, ["nm-02", "bg-02", "cl-02"])
            dist = np.sqrt(((feats[pm][:, None] - feats[gm][None]) ** 2).sum(-1)).mean(-1)
            q_pids, g_pids, q_views, g_views = label[pm], label[gm], view[pm], view[gm]
            all_acc, all_ap = [], []
            for q in range(len(dist)):
                mask = np.isin(g_views, q_views[q], invert=True) | np.isin(g_pids, q_pids[q], invert=True)
                matches = (g_pids[mask][np.argsort(dist[q][mask], kind="stable")] == q_pids[q]).astype(np.int32)
                cmc = matches.cumsum()
                cmc[cmc > 1] = 1
                all_acc.append(cmc[0])
                if matches.sum() > 0:
                    tmp = np.asarray([x / (i + 1.0) for i, x in enumerate(matches.cumsum())]) * matches
                    all_ap.append(tmp.sum() / matches.sum())
            acc[v1] = np.round(np.mean(all_acc) * 100, 2)
            mean_ap[v1] = np.round(np.mean(all_ap) * 100, 2)
        res[type_] = (acc, mean_ap)
    return res


def assert_retrieval_matches(res, feats, subject, seq_type, view, distance):
    ref, tops = reference_retrieval(feats, subject, seq_type, view, distance, top_k=res.top_index.shape[2])
    for metric, per_cond in ref.items():
        for cond, table in per_cond.items():
            np.testing.assert_array_equal(res.tables[metric][cond].to_numpy(), table, err_msg=f"{metric} {cond}")
    for p, row in enumerate(res.probe_rows):
        for v2 in range(11):
            want = tops.get((int(row), VIEWS[v2]), [])
            got = [int(j) for j in res.top_index[p, v2] if j >= 0]
            assert got == want, (int(row), VIEWS[v2])


def assert_cross_view_matches(res, feats, subject, seq_type, view, distance):
    ref = reference_cross_view(feats, subject, seq_type, view, distance)
    for metric, per_cond in ref.items():
        for cond, values in per_cond.items():
            np.testing.assert_array_equal(res.per_view[metric][cond].to_numpy(), values, err_msg=f"{metric} {cond}")


# -------------------------------------------------------------------------------------------------------- tests
def test_hand_computed_map_and_minp():
    """One probe, one view, 1-D features. Gallery (nm-01..04) at 000: 001 at 0.0, 002 at 1.0, 001 at 3.0, 002 at
    1.0 (a tie with the second: input order). Probe 001 (nm-05) at 0.9: distances 0.9, 0.1, 2.1, 0.1 -> order
    002(b), 002(d), 001(a), 001(c) -> relevant at positions 2, 3: AP = (1/3 + 2/4) / 2 = 5/12, INP = 2/4,
    rank-1 miss, rank-5 hit; first matches b, d, a, c."""
    subject = ["001", "002", "001", "002", "001"]
    seq_type = ["nm-01", "nm-02", "nm-03", "nm-04", "nm-05"]
    view = ["000"] * 5
    feats = np.array([0.0, 1.0, 3.0, 1.0, 0.9], dtype=np.float32)[:, None]
    res = evaluate_retrieval(feats, subject, seq_type, view)
    nm = {m: res.tables[m]["NM"].at["000", "000"] for m in ("rank1", "rank5", "map", "minp")}
    assert nm == {"rank1": 0.0, "rank5": 100.0, "map": round(500 / 12, 2), "minp": 50.0}
    assert res.top_index[0, 0].tolist() == [1, 3, 0, 2, -1]
    np.testing.assert_allclose(res.top_distance[0, 0, :4], [0.1, 0.1, 0.9, 2.1], rtol=1e-6)
    assert res.probe_rows.tolist() == [4] and res.probe_set.tolist() == ["NM"]


@pytest.mark.parametrize("distance", ["per_part", "flat"])
def test_retrieval_equals_reference_with_ties_and_holes(distance):
    rng = np.random.default_rng(11)
    subject, seq_type, view = casia_layout(5, 0.08, rng)
    drop = ((subject == "003") & np.isin(seq_type, GALLERY_TYPES) & (view == "090")) | (
        np.isin(seq_type, PROBE_SETS["BG"]) & (view == "126")
    )
    subject, seq_type, view = subject[~drop], seq_type[~drop], view[~drop]
    feats = with_ties(rng.standard_normal((len(subject), 4, 6)).astype(np.float32), seq_type, view, rng)
    res = evaluate_retrieval(feats, subject, seq_type, view, distance=distance, probe_chunk=17, part_chunk=3)
    assert_retrieval_matches(res, feats, subject, seq_type, view, distance)
    rank1 = evaluate_rank1(feats, subject, seq_type, view, distance=distance)
    for cond in PROBE_SETS:  # rank-1 here is the rank-1 evaluator's, number for number
        np.testing.assert_array_equal(res.tables["rank1"][cond].to_numpy(), rank1.tables[cond].to_numpy())
    assert res.summary_excl["rank1"] == dict(rank1.summary_excl)
    assert res.tables["map"]["BG"].loc["126"].isna().all()


@pytest.mark.parametrize("distance", ["per_part", "flat"])
def test_retrieval_equals_reference_with_many_exact_ties(distance):
    """Small-integer features: distances tie all the time, some probes equal gallery features (distance 0)."""
    rng = np.random.default_rng(5)
    subject, seq_type, view = casia_layout(4, 0.05, rng)
    feats = rng.integers(0, 3, size=(len(subject), 2, 3)).astype(np.float32)
    res = evaluate_retrieval(feats, subject, seq_type, view, distance=distance, probe_chunk=64)
    assert_retrieval_matches(res, feats, subject, seq_type, view, distance)
    assert res.n_rechecked > 0
    cv = evaluate_cross_view(feats, subject, seq_type, view, distance=distance, probe_chunk=10)
    assert_cross_view_matches(cv, feats, subject, seq_type, view, distance)
    assert cv.n_rechecked > 0


@pytest.mark.parametrize("distance", ["per_part", "flat"])
def test_near_ties_below_float64_matmul_resolution_follow_canonical(distance):
    """Two gallery sequences of different subjects 1e-9 apart at distance ~1e3: only the canonical values decide."""
    rng = np.random.default_rng(8)
    subject, seq_type, view = casia_layout(3, 0.0, rng)
    feats = rng.standard_normal((len(subject), 3, 5)) * 100.0
    gal = np.flatnonzero(np.isin(seq_type, GALLERY_TYPES) & (view == "036"))
    probe = np.flatnonzero(np.isin(seq_type, PROBE_SETS["NM"]) & (view == "000"))[0]
    a, b = gal[0], gal[-1]
    feats[a] = feats[probe] + 1.0
    feats[b] = feats[probe] + 1.0
    feats[b, 0, 0] -= 1e-9  # b nearer by ~1e-9
    res = evaluate_retrieval(feats, subject, seq_type, view, distance=distance)
    assert_retrieval_matches(res, feats, subject, seq_type, view, distance)
    p = int(np.flatnonzero(res.probe_rows == probe)[0])
    assert res.top_index[p, VIEWS.index("036"), :2].tolist() == [b, a] and res.n_rechecked > 0


@pytest.mark.parametrize("distance", ["per_part", "flat"])
def test_cross_view_equals_reference_and_opengait(distance):
    rng = np.random.default_rng(3)
    subject, seq_type, view = casia_layout(6, 0.05, rng)
    _, code = np.unique(subject, return_inverse=True)
    centres = rng.standard_normal((code.max() + 1, 3, 8))
    feats = (0.7 * centres[code] + rng.standard_normal((len(subject), 3, 8))).astype(np.float32)  # some hits
    res = evaluate_cross_view(feats, subject, seq_type, view, distance=distance, probe_chunk=7, part_chunk=2)
    assert_cross_view_matches(res, feats, subject, seq_type, view, distance)
    if distance == "per_part":
        og = opengait_cross_view(feats, subject, seq_type, view)
        for cond, (acc, mean_ap) in og.items():
            np.testing.assert_allclose(res.per_view["cv_rank1"][cond].to_numpy(), acc, atol=0.011)
            np.testing.assert_allclose(res.per_view["cv_map"][cond].to_numpy(), mean_ap, atol=0.011)
    for metric in ("cv_rank1", "cv_map"):
        for cond in CV_PROBE_SETS:
            assert res.summary[metric][cond] == pytest.approx(np.nanmean(res.per_view[metric][cond].to_numpy()))


def test_cross_view_removes_only_the_own_subject_at_the_own_view():
    """Probe 001 (nm-01) at 000 at 0.0. Gallery: 001 at 000 at 0.0 (removed: own subject, own view), 002 at 000 at
    0.5 (kept: another subject at that view), 001 at 018 at 1.0. -> nearest kept is 002: miss; AP = 1/2."""
    subject = ["001", "001", "002", "001"]
    seq_type = ["nm-01", "nm-02", "nm-02", "bg-02"]
    view = ["000", "000", "000", "018"]
    feats = np.array([0.0, 0.0, 0.5, 1.0], dtype=np.float32)[:, None]
    res = evaluate_cross_view(feats, subject, seq_type, view)
    assert res.per_view["cv_rank1"].at["000", "NM"] == 0.0 and res.per_view["cv_map"].at["000", "NM"] == 50.0
    assert math.isnan(res.summary["cv_rank1"]["BG"]) and any("no probe sequences" in n for n in res.notes)


@pytest.mark.parametrize("distance", ["per_part", "flat"])
def test_chunks_threads_inputs_and_device_do_not_change_the_numbers(distance):
    rng = np.random.default_rng(2)
    subject, seq_type, view = casia_layout(5, 0.1, rng)
    feats = with_ties(rng.standard_normal((len(subject), 5, 8)).astype(np.float32), seq_type, view, rng)
    base = evaluate_retrieval(feats, subject, seq_type, view, distance=distance)
    cv_base = evaluate_cross_view(feats, subject, seq_type, view, distance=distance)
    for kwargs in ({"probe_chunk": 1, "part_chunk": 1}, {"probe_chunk": 7, "part_chunk": 2}, {"probe_chunk": 10_000}):
        assert evaluate_retrieval(feats, subject, seq_type, view, distance, **kwargs).same_numbers(base), kwargs
        assert evaluate_cross_view(feats, subject, seq_type, view, distance, **kwargs).same_numbers(cv_base)
    saved = torch.get_num_threads()
    try:
        for threads in (1, 3):
            torch.set_num_threads(threads)
            assert evaluate_retrieval(feats, subject, seq_type, view, distance).same_numbers(base), threads
            assert evaluate_cross_view(feats, subject, seq_type, view, distance).same_numbers(cv_base), threads
    finally:
        torch.set_num_threads(saved)
    tensor = torch.from_numpy(feats)
    assert evaluate_retrieval(tensor, pd.Series(subject), list(seq_type), view, distance, "cpu").same_numbers(base)
    assert evaluate_retrieval(feats.astype(np.float64), subject, seq_type, view, distance).same_numbers(base)
    assert evaluate_cross_view(tensor, subject, seq_type, view, distance, device="cpu").same_numbers(cv_base)


def test_to_rows_name_the_distance_and_metrics():
    rng = np.random.default_rng(6)
    subject, seq_type, view = casia_layout(3, 0.0, rng)
    feats = rng.standard_normal((len(subject), 2, 4)).astype(np.float32)
    rows = pd.DataFrame(evaluate_retrieval(feats, subject, seq_type, view, "flat").to_rows())
    assert set(rows.distance) == {"flat"}
    assert rows.groupby("metric").size().to_dict() == {
        **{m: 3 * 121 for m in ("rank5", "map", "minp")},
        **{f"{m}_{s}": 3 * 12 for m in ("rank5", "map", "minp") for s in ("excl_identical", "incl_identical")},
    }
    cv = pd.DataFrame(evaluate_cross_view(feats, subject, seq_type, view).to_rows())
    assert cv.groupby("metric").size().to_dict() == {"cv_rank1": 36, "cv_map": 36} and set(cv.gallery_view) == {"all"}


def test_bad_input_is_named():
    args = (np.zeros((3, 2, 3), dtype=np.float32), ["001", "001", "002"], ["nm-01", "nm-07", "nm-05"], ["000"] * 3)
    with pytest.raises(ProtocolError, match=r"seq_type holds unknown value\(s\) \['nm-07'\]"):
        evaluate_retrieval(*args)
    with pytest.raises(ProtocolError, match="distance='cosine' is unknown"):
        evaluate_cross_view(*args[:2], ["nm-01", "nm-02", "nm-05"], args[3], distance="cosine")
    bad = np.zeros((3, 2, 3), dtype=np.float32)
    bad[1, 0, 0] = np.nan
    with pytest.raises(ProtocolError, match="row 1 holds NaN or inf"):
        evaluate_retrieval(bad, ["001", "001", "002"], ["nm-01", "nm-02", "nm-05"], ["000"] * 3)


@pytest.mark.cuda
def test_cuda_gives_the_cpu_numbers():
    rng = np.random.default_rng(9)
    subject, seq_type, view = casia_layout(6, 0.05, rng)
    feats = with_ties(rng.standard_normal((len(subject), 16, 32)).astype(np.float32), seq_type, view, rng)
    for distance in ("per_part", "flat"):
        cpu = evaluate_retrieval(feats, subject, seq_type, view, distance=distance)
        gpu = evaluate_retrieval(torch.from_numpy(feats).to("cuda"), subject, seq_type, view, distance=distance)
        assert gpu.same_numbers(cpu)
        cv = evaluate_cross_view(feats, subject, seq_type, view, distance=distance)
        assert evaluate_cross_view(feats, subject, seq_type, view, distance=distance, device="cuda").same_numbers(cv)
