"""``matches.npz``: the keys the writer (``gstsn.eval.who_matched``) stores are the keys ``gstsn.results.matches``
declares and its reader requires, in the declared order; a writer with a key too many or too few is refused."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from gstsn.data.naming import SEQ_TYPES, VIEWS
from gstsn.eval.retrieval import evaluate_retrieval
from gstsn.eval.who_matched import build_matches, save_matches
from gstsn.results.matches import MATCHES_FORMAT, MATCHES_KEYS, MatchesError, load_matches, matches_arrays


def _matches():
    """The arrays of a small evaluation: 6 subjects in the CASIA-B layout (10 sequence types x 11 views)."""
    rng = np.random.default_rng(4)
    rows = [(f"{s:03d}", t, v) for s in range(1, 7) for t in sorted(SEQ_TYPES) for v in VIEWS]
    subject, seq_type, view = (np.array([r[i] for r in rows]) for i in range(3))
    code = np.unique(subject, return_inverse=True)[1]
    feats = (rng.standard_normal((6, 2, 6))[code] + rng.standard_normal((len(subject), 2, 6))).astype(np.float32)
    res = evaluate_retrieval(feats, subject, seq_type, view)
    return build_matches(res, feats, subject, seq_type, view, lambda rows: np.full((len(rows), 4, 3), 7, np.uint8))


def test_the_writer_stores_the_declared_keys_in_order_and_the_reader_reads_them(tmp_path):
    arrays = _matches()
    assert tuple(arrays) == MATCHES_KEYS and int(arrays["format"]) == MATCHES_FORMAT
    path = save_matches(tmp_path / "matches.npz", dict(reversed(list(arrays.items()))))
    with zipfile.ZipFile(path) as archive:
        assert [n.removesuffix(".npy") for n in archive.namelist()] == list(MATCHES_KEYS)
    back = load_matches(path)
    assert tuple(back) == MATCHES_KEYS
    for key in MATCHES_KEYS:
        np.testing.assert_array_equal(back[key], arrays[key])


def test_an_undeclared_or_missing_key_is_refused_before_writing(tmp_path):
    arrays = _matches()
    with pytest.raises(ValueError, match=r"not declared \['extra'\]"):
        save_matches(tmp_path / "a.npz", {**arrays, "extra": np.zeros(1)})
    with pytest.raises(ValueError, match=r"missing \['xy'\]"):
        matches_arrays({k: v for k, v in arrays.items() if k != "xy"})
    assert not list(tmp_path.iterdir())


def test_the_reader_names_a_file_of_another_format(tmp_path):
    arrays = _matches()
    np.savez_compressed(tmp_path / "m.npz", **{**arrays, "format": np.array(2)})
    with pytest.raises(MatchesError, match="has format 2; this report reads format 1"):
        load_matches(tmp_path / "m.npz")
