"""The CASIA-B rank-1 protocol: a hand-computed case, and the fast path against a plain-loop reference, exactly."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from helpers.toy_data import casia_layout, with_ties

from gstsn.data.naming import VIEWS
from gstsn.eval.protocol import (
    GALLERY_TYPES,
    PROBE_SETS,
    ProtocolError,
    Rank1Result,
    canonical_distances,
    evaluate_rank1,
)


# ------------------------------------------------------------------------------------------ the reference (slow)
def reference_distance(p: np.ndarray, g: np.ndarray, distance: str) -> float:
    """One pair, float64, straight from the definition: p, g (parts, d)."""
    if distance == "per_part":
        return float(np.mean(np.sqrt(np.sum((p - g) ** 2, axis=1))))
    return math.sqrt(float(np.sum((p - g) ** 2)))


def reference_tables(features, subject, seq_type, view, distance: str) -> dict[str, np.ndarray]:
    """OpenGait's single-view-gallery rule with plain loops: 11 x 11 tables, NaN where there is nothing to match."""
    feats = np.asarray(features, dtype=np.float64)
    if feats.ndim == 2:
        feats = feats[:, None, :]
    n = len(feats)
    tables = {}
    for cond, probe_types in PROBE_SETS.items():
        table = np.full((len(VIEWS), len(VIEWS)), np.nan)
        for a, v1 in enumerate(VIEWS):
            probes = [i for i in range(n) if seq_type[i] in probe_types and view[i] == v1]
            for b, v2 in enumerate(VIEWS):
                gallery = [j for j in range(n) if seq_type[j] in GALLERY_TYPES and view[j] == v2]
                if not probes or not gallery:
                    continue
                correct = 0
                for i in probes:
                    best_j, best_d = None, math.inf
                    for j in gallery:  # in input order; strict < keeps the first of equal distances (argmin)
                        dist = reference_distance(feats[i], feats[j], distance)
                        if best_j is None or dist < best_d:
                            best_j, best_d = j, dist
                    correct += int(subject[best_j] == subject[i])
                table[a, b] = np.round(correct * 100 / len(probes), 2)  # OpenGait's arithmetic
        tables[cond] = table
    return tables


def reference_summary(table: np.ndarray) -> tuple[float, float]:
    """(identical views excluded, included) with loops: per probe view the mean over present cells, then the mean."""
    excl, incl = [], []
    for a in range(len(table)):
        others = [table[a, b] for b in range(len(table)) if b != a and not math.isnan(table[a, b])]
        everything = [table[a, b] for b in range(len(table)) if not math.isnan(table[a, b])]
        if others:
            excl.append(sum(others) / len(others))
        if everything:
            incl.append(sum(everything) / len(everything))
    mean = lambda xs: sum(xs) / len(xs) if xs else math.nan  # noqa: E731
    return mean(excl), mean(incl)


def assert_matches_reference(result: Rank1Result, features, subject, seq_type, view, distance: str) -> None:
    ref = reference_tables(features, subject, seq_type, view, distance)
    assert result.distance == distance
    for cond in PROBE_SETS:
        np.testing.assert_array_equal(result.tables[cond].to_numpy(), ref[cond], err_msg=f"{cond} table")
        excl, incl = reference_summary(ref[cond])
        for got, want in ((result.summary_excl[cond], excl), (result.summary_incl[cond], incl)):
            assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, abs=1e-9), cond


# --------------------------------------------------------------------------------------------------------- tests
def test_hand_computed_tiny_case():
    """Two subjects, two views, 1-D features: every number below is worked out by hand.

    Gallery (nm-01): subject 001 at 0.0 (view 000) and 10.0 (view 018); subject 002 at 1.0 (000) and 11.0 (018).
    Probes NM (nm-05): 001 at 0.4 (000) -> nearest at 000 is 0.0 (001, hit), at 018 is 10.0 (001, hit);
    002 at 0.6 (000) -> 1.0 (002, hit) / 10.0 (001, miss); 001 at 10.6 (018) -> 1.0 (002, miss) / 11.0 (002, miss);
    002 at 11.0 (018) -> 1.0 (002, hit) / 11.0 (002, hit). BG (bg-01): 001 at 0.5 (000) -> ties 0.0 and 1.0 at
    distance 0.5 (first = 001, hit), and 10.0 vs 11.0 (001, hit). No CL probes at all.
    """
    subject = ["001", "001", "002", "002", "001", "002", "001", "002", "001"]
    seq_type = ["nm-01", "nm-01", "nm-01", "nm-01", "nm-05", "nm-05", "nm-05", "nm-05", "bg-01"]
    view = ["000", "018", "000", "018", "000", "000", "018", "018", "000"]
    feats = np.array([0.0, 10.0, 1.0, 11.0, 0.4, 0.6, 10.6, 11.0, 0.5], dtype=np.float32)[:, None]
    res = evaluate_rank1(feats, subject, seq_type, view)
    nm, bg, cl = (res.tables[c] for c in ("NM", "BG", "CL"))
    assert nm.loc[["000", "018"], ["000", "018"]].to_numpy().tolist() == [[100.0, 50.0], [50.0, 50.0]]
    assert bg.loc[["000"], ["000", "018"]].to_numpy().tolist() == [[100.0, 100.0]]
    assert nm.drop(columns=["000", "018"]).isna().all().all() and bg.loc["018"].isna().all() and cl.isna().all().all()
    assert res.per_view_excl.loc[["000", "018"], "NM"].tolist() == [50.0, 50.0]
    assert res.per_view_incl.loc[["000", "018"], "NM"].tolist() == [75.0, 50.0]
    assert res.summary_excl["NM"] == 50.0 and res.summary_incl["NM"] == 62.5
    assert res.summary_excl["BG"] == 100.0 and res.summary_incl["BG"] == 100.0
    assert math.isnan(res.summary_excl["CL"]) and math.isnan(res.summary_incl["CL"])
    assert res.n_probes.loc["000"].tolist() == [2, 1, 0] and res.n_gallery.loc[["000", "018", "036"]].tolist() == [
        2,
        2,
        0,
    ]
    text = " ".join(res.notes)
    assert (
        "gallery view(s) 036, 054" in text and "CL: probe view(s) 000, 018" in text and "BG: probe view(s) 018" in text
    )
    for distance in ("per_part", "flat"):
        assert_matches_reference(
            evaluate_rank1(feats, subject, seq_type, view, distance), feats, subject, seq_type, view, distance
        )


def test_rounding_and_identical_view_exclusion_follow_opengait():
    """Cells are rounded to 2 decimals (1/3 -> 33.33) and the excluded figure is OpenGait's de_diag, bit for bit."""
    rng = np.random.default_rng(3)
    subject, seq_type, view = casia_layout(3, 0.0, rng)
    feats = rng.standard_normal((len(subject), 2, 3)).astype(np.float32)
    res = evaluate_rank1(feats, subject, seq_type, view)
    for cond in PROBE_SETS:
        acc = res.tables[cond].to_numpy()
        assert set(acc.ravel()).issubset({0.0, 16.67, 33.33, 50.0, 66.67, 83.33, 100.0})
        de_diag = np.sum(acc - np.diag(np.diag(acc)), 1) / 10.0  # OpenGait evaluator.de_diag
        np.testing.assert_array_equal(res.per_view_excl[cond].to_numpy(), de_diag)
        assert res.summary_excl[cond] == np.mean(de_diag)


@pytest.mark.parametrize("distance", ["per_part", "flat"])
def test_fast_path_equals_reference_on_random_features_with_ties_and_holes(distance):
    rng = np.random.default_rng(11)
    subject, seq_type, view = casia_layout(7, 0.08, rng)
    # a subject without any gallery sequence at view 090, and no BG probes at all at view 126
    drop = ((subject == "003") & np.isin(seq_type, GALLERY_TYPES) & (view == "090")) | (
        np.isin(seq_type, PROBE_SETS["BG"]) & (view == "126")
    )
    subject, seq_type, view = subject[~drop], seq_type[~drop], view[~drop]
    feats = with_ties(rng.standard_normal((len(subject), 4, 6)).astype(np.float32), seq_type, view, rng)
    res = evaluate_rank1(feats, subject, seq_type, view, distance=distance, probe_chunk=17, part_chunk=3)
    assert_matches_reference(res, feats, subject, seq_type, view, distance)
    assert res.tables["BG"].loc["126"].isna().all() and not res.tables["NM"].loc["126"].isna().any()
    assert any("003 at 090" in note and "misses" in note for note in res.notes)


@pytest.mark.parametrize("distance", ["per_part", "flat"])
def test_fast_path_equals_reference_with_many_exact_ties(distance):
    """Small-integer features: distances tie all the time (and some probes equal gallery features exactly)."""
    rng = np.random.default_rng(5)
    subject, seq_type, view = casia_layout(5, 0.05, rng)
    feats = rng.integers(0, 3, size=(len(subject), 2, 3)).astype(np.float32)
    res = evaluate_rank1(feats, subject, seq_type, view, distance=distance, probe_chunk=64)
    assert_matches_reference(res, feats, subject, seq_type, view, distance)
    assert res.n_rechecked > 0, "ties between subjects must go through the exact float64 recheck"


@pytest.mark.parametrize("distance", ["per_part", "flat"])
def test_canonical_distance_of_a_pair_does_not_depend_on_where_it_sits(distance):
    """Exact ties need identical pairs to give identical float64 values: whatever the row, the buffer and its
    alignment (odd widths put the rows of the float64 work buffer at every 8-byte offset)."""
    from gstsn.eval.exact import canonical_rows

    rng = np.random.default_rng(11)
    for parts, d in ((1, 3), (3, 37), (62, 256)):
        p = (rng.standard_normal((parts, d)) * 10).astype(np.float32)
        gallery = np.repeat((rng.standard_normal((1, parts, d)) * 10).astype(np.float32), 9, axis=0)
        want = canonical_distances(p, gallery, distance)
        assert np.all(want == want[0])
        flat = np.empty(9 * parts * d + 8)
        for shift in range(4):
            work = flat[shift : shift + 9 * parts * d].reshape(9, parts, d)
            np.testing.assert_array_equal(canonical_rows(p[None], gallery, distance, work), want)


@pytest.mark.parametrize("distance", ["per_part", "flat"])
def test_recheck_workers_do_not_change_the_numbers(distance, monkeypatch):
    """The float64 rechecks run in parallel chunks (one worker per torch thread): tiny chunks, 1 to 3 workers."""
    rng = np.random.default_rng(5)
    subject, seq_type, view = casia_layout(5, 0.05, rng)
    feats = rng.integers(0, 3, size=(len(subject), 2, 3)).astype(np.float32)
    monkeypatch.setattr("gstsn.eval.exact.RECHECK_BYTES", 8 * 2 * 3 * 5)  # five candidate pairs per chunk
    saved = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            results.append(evaluate_rank1(feats, subject, seq_type, view, distance=distance))
    finally:
        torch.set_num_threads(saved)
    assert results[0].n_rechecked > 20, "the test needs many rechecked (probe, view) pairs"
    assert all(r.same_numbers(results[0]) for r in results[1:])
    assert_matches_reference(results[-1], feats, subject, seq_type, view, distance)


@pytest.mark.parametrize("distance", ["per_part", "flat"])
def test_near_ties_below_float32_resolution_follow_float64(distance):
    """Two gallery sequences of different subjects whose distances differ below fp32 resolution: float64 decides."""
    rng = np.random.default_rng(8)
    subject, seq_type, view = casia_layout(4, 0.0, rng)
    feats = rng.standard_normal((len(subject), 3, 5)) * 100.0
    gal = np.flatnonzero(np.isin(seq_type, GALLERY_TYPES) & (view == "036"))
    probe = np.flatnonzero(np.isin(seq_type, PROBE_SETS["NM"]) & (view == "000"))[0]
    a, b = gal[0], gal[-1]  # different subjects (the first and the last)
    feats[a] = feats[probe] + 1.0
    feats[b] = feats[probe] + 1.0
    feats[b, 0, 0] -= 1e-9  # b is nearer by ~1e-9: invisible in fp32
    res = evaluate_rank1(feats, subject, seq_type, view, distance=distance)
    assert_matches_reference(res, feats, subject, seq_type, view, distance)
    d = canonical_distances(feats[probe], feats[[a, b]], distance)
    assert d[1] < d[0] and res.n_rechecked > 0


def test_chunk_sizes_and_input_types_do_not_change_the_numbers():
    rng = np.random.default_rng(2)
    subject, seq_type, view = casia_layout(6, 0.1, rng)
    feats = with_ties(rng.standard_normal((len(subject), 5, 8)).astype(np.float32), seq_type, view, rng)
    base = evaluate_rank1(feats, subject, seq_type, view)
    for kwargs in ({"probe_chunk": 1, "part_chunk": 1}, {"probe_chunk": 7, "part_chunk": 2}, {"probe_chunk": 10_000}):
        assert evaluate_rank1(feats, subject, seq_type, view, **kwargs).same_numbers(base), kwargs
    as_tensor = evaluate_rank1(torch.from_numpy(feats), pd.Series(subject), list(seq_type), view, device="cpu")
    assert as_tensor.same_numbers(base)
    assert evaluate_rank1(feats.astype(np.float64), subject, seq_type, view).same_numbers(base)
    half = torch.from_numpy(feats).to(torch.bfloat16)
    assert evaluate_rank1(half, subject, seq_type, view).same_numbers(
        evaluate_rank1(half.float(), subject, seq_type, view)
    )
    flat = evaluate_rank1(feats, subject, seq_type, view, distance="flat")
    assert flat.distance == "flat" and all(r["distance"] == "flat" for r in flat.to_rows())


def test_reduced_precision_matmul_settings_keep_results_exact():
    """With TF32/bf16 matmuls allowed the error bound widens accordingly; the numbers stay the reference's."""
    rng = np.random.default_rng(4)
    subject, seq_type, view = casia_layout(5, 0.0, rng)
    feats = with_ties(rng.standard_normal((len(subject), 3, 16)).astype(np.float32), seq_type, view, rng)
    base = evaluate_rank1(feats, subject, seq_type, view)
    saved = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("medium")
        assert evaluate_rank1(feats, subject, seq_type, view).same_numbers(base)
    finally:
        torch.set_float32_matmul_precision(saved)


def test_to_rows_is_tidy_and_complete():
    rng = np.random.default_rng(6)
    subject, seq_type, view = casia_layout(3, 0.0, rng)
    res = evaluate_rank1(rng.standard_normal((len(subject), 2, 4)).astype(np.float32), subject, seq_type, view)
    rows = pd.DataFrame(res.to_rows())
    assert list(rows.columns) == ["condition", "probe_view", "gallery_view", "metric", "value", "distance"]
    counts = rows.groupby("metric").size().to_dict()
    assert counts == {"rank1": 3 * 121, "rank1_excl_identical": 3 * 12, "rank1_incl_identical": 3 * 12, "n_probes": 33}
    mean = rows[(rows.metric == "rank1_excl_identical") & (rows.probe_view == "mean")].set_index("condition").value
    assert mean.to_dict() == dict(res.summary_excl)
    cell = rows[
        (rows.metric == "rank1") & (rows.condition == "CL") & (rows.probe_view == "090") & (rows.gallery_view == "180")
    ]
    assert cell.value.item() == res.tables["CL"].at["090", "180"]
    assert res.summary is res.summary_excl and res.probe_sets == ("NM", "BG", "CL")


def test_empty_inputs_leave_everything_out_with_notes():
    res = evaluate_rank1(np.zeros((0, 2, 3), dtype=np.float32), [], [], [])
    assert all(res.tables[c].isna().all().all() for c in PROBE_SETS) and math.isnan(res.summary_excl["NM"])
    assert res.to_rows() == [r for r in res.to_rows() if r["metric"] == "n_probes"]
    assert any("no gallery sequences" in n for n in res.notes)


def test_all_zero_features_are_ties_resolved_to_the_first_gallery_sequence():
    subject, seq_type, view = casia_layout(3, 0.0, np.random.default_rng(0))
    res = evaluate_rank1(np.zeros((len(subject), 2, 3), dtype=np.float32), subject, seq_type, view)
    # every probe matches subject 001 (first in each gallery block): exactly a third of the probes are hits
    assert all((res.tables[c].to_numpy() == 33.33).all() for c in PROBE_SETS)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"distance": "cosine"}, "distance='cosine' is unknown"),
        ({"features": np.zeros((4, 2, 2, 2), dtype=np.float32)}, "expected (N, parts, d)"),
        ({"features": np.zeros((4, 2, 3), dtype=np.int64)}, "expected a floating dtype"),
        ({"features": [[0.0]] * 4}, "numpy array or a torch tensor"),
        ({"view": ["000", "018", "0", "000"]}, "view holds unknown value(s) ['0']"),
        ({"seq_type": ["nm-01", "nm-07", "nm-05", "bg-01"]}, "seq_type holds unknown value(s) ['nm-07']"),
        ({"subject": ["001", "002"]}, "subject has shape (2,); expected (4,)"),
        ({"probe_chunk": 0}, "expected positive integers"),
    ],
)
def test_bad_input_is_named(kwargs, message):
    args = {
        "features": np.zeros((4, 2, 3), dtype=np.float32),
        "subject": ["001", "001", "002", "002"],
        "seq_type": ["nm-01", "nm-01", "nm-05", "bg-01"],
        "view": ["000", "018", "000", "000"],
    }
    args.update(kwargs)
    with pytest.raises(ProtocolError) as err:
        evaluate_rank1(**args)
    assert message in str(err.value)


@pytest.mark.parametrize(("bad", "row"), [(np.nan, 2), (np.inf, 2), (np.nan, 1), (-np.inf, 0)])
def test_non_finite_features_are_refused(bad, row):
    feats = np.zeros((4, 2, 3), dtype=np.float32)
    feats[row, 1, 0] = bad
    with pytest.raises(ProtocolError, match=f"row {row} holds NaN or inf"):
        evaluate_rank1(feats, ["001", "001", "002", "002"], ["nm-01", "nm-01", "nm-05", "bg-01"], ["000"] * 4)


@pytest.mark.cuda
def test_cuda_gives_the_cpu_numbers():
    rng = np.random.default_rng(9)
    subject, seq_type, view = casia_layout(8, 0.05, rng)
    feats = with_ties(rng.standard_normal((len(subject), 16, 32)).astype(np.float32), seq_type, view, rng)
    for distance in ("per_part", "flat"):
        cpu = evaluate_rank1(feats, subject, seq_type, view, distance=distance)
        gpu = evaluate_rank1(torch.from_numpy(feats).to("cuda"), subject, seq_type, view, distance=distance)
        assert gpu.same_numbers(cpu)
        assert evaluate_rank1(feats, subject, seq_type, view, distance=distance, device="cuda").same_numbers(cpu)
