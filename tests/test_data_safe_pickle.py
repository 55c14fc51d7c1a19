"""The array-only unpickler bounds every allocation by the file's own size before making it (issue 13, item 7)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from gstsn.data.casiab import import_casia_b
from gstsn.data.safe_pickle import PickleReadError, UnsafePickleError, load_pickled_array


def _long(n: int) -> bytes:
    enc = pickle.encode_long(n)
    return b"\x8a" + bytes([len(enc)]) + enc  # LONG1


def _reconstruct_bomb(n: int) -> bytes:
    """A protocol-2 pickle asking numpy's allowed ``_reconstruct`` for an int8 array of shape ``(n,)``."""
    return (
        b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
        + _long(n)
        + b"\x85U\x01b\x87R."  # TUPLE1, dtype 'b', TUPLE3, REDUCE, STOP
    )


@pytest.mark.parametrize("n", [10**11, 10**15])
def test_a_tiny_pickle_cannot_ask_for_a_huge_array(tmp_path, n):
    path = tmp_path / "bomb.pkl"
    path.write_bytes(_reconstruct_bomb(n))
    assert path.stat().st_size < 80
    size = path.stat().st_size
    with pytest.raises(UnsafePickleError, match=rf"refusing to load .*bomb.pkl: it asks for an array of shape \({n},\) "
                       rf"and dtype int8 .*the file holds only {size} bytes"):  # fmt: skip
        load_pickled_array(path)


def test_many_small_arrays_together_are_bounded_too(tmp_path):
    # one _reconstruct of 32 bytes, then the same call repeated from the memo: each alone fits the file, all do not
    head = b"\x80\x02cnumpy.core.multiarray\n_reconstruct\nq\x00cnumpy\nndarray\nq\x01K\x20\x85U\x01b\x87q\x02"
    path = tmp_path / "many.pkl"
    path.write_bytes(head + b"h\x00h\x02R0" * 200 + b"N.")
    with pytest.raises(UnsafePickleError, match=r"after .* bytes of other arrays.*the file holds only"):
        load_pickled_array(path)


def test_ndarray_may_not_be_called_and_objects_are_refused(tmp_path):
    called = tmp_path / "called.pkl"
    called.write_bytes(b"\x80\x02cnumpy\nndarray\n" + _long(10**12) + b"\x85R.")  # ndarray((10**12,))
    with pytest.raises(PickleReadError, match="numpy.ndarray may only be named as the type to rebuild"):
        load_pickled_array(called)
    objects = tmp_path / "objects.pkl"
    objects.write_bytes(pickle.dumps(np.array([1, "a"], dtype=object)))
    with pytest.raises(UnsafePickleError, match="object array"):
        load_pickled_array(objects)
    zeros = tmp_path / "zeros.pkl"
    zeros.write_bytes(b"\x80\x02c__builtin__\nbytes\n" + _long(10**11) + b"\x85R.")  # bytes(10**11)
    with pytest.raises(PickleReadError, match=r"bytes\(...\) is only allowed without arguments"):
        load_pickled_array(zeros)


def test_a_file_over_the_cap_is_not_read(tmp_path):
    path = tmp_path / "big.pkl"
    path.write_bytes(pickle.dumps(np.zeros((10, 64, 64), np.uint8)))
    with pytest.raises(PickleReadError, match=r"big.pkl is 41,\d+ bytes; a sequence pickle is expected to be at most"):
        load_pickled_array(path, max_bytes=4096)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_real_arrays_still_load(tmp_path, protocol):
    arrays = [
        np.arange(2 * 64 * 64, dtype=np.uint8).reshape(2, 64, 64),
        np.zeros((0, 64, 64), np.uint8),  # protocol 2 writes its data as bytes()
        np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        np.arange(10, dtype=np.int16)[::2],
        np.ones((), np.float32),
    ]
    for i, arr in enumerate(arrays):
        path = tmp_path / f"a{i}.pkl"
        path.write_bytes(pickle.dumps(arr, protocol=protocol))
        got = load_pickled_array(path)
        assert got.dtype == arr.dtype and got.shape == arr.shape and np.array_equal(got, arr)


def test_an_import_meeting_the_bomb_stops_and_keeps_the_old_cache(tmp_path):
    good = tmp_path / "pkl" / "001" / "nm-01" / "000" / "000.pkl"
    good.parent.mkdir(parents=True)
    frames = np.zeros((3, 64, 64), np.uint8)
    frames[:, 4:60, 22:40] = 255
    good.write_bytes(pickle.dumps(frames))
    dest = import_casia_b(tmp_path / "pkl", tmp_path / "cache", progress=False)
    before = (dest / "frames.npy").read_bytes()
    bomb = tmp_path / "pkl" / "001" / "nm-02" / "000" / "000.pkl"
    bomb.parent.mkdir(parents=True)
    bomb.write_bytes(_reconstruct_bomb(10**11))
    with pytest.raises(UnsafePickleError, match=r"nm-02/000/000.pkl: it asks for an array of shape \(100000000000,\)"):
        import_casia_b(tmp_path / "pkl", dest, overwrite=True, progress=False)
    assert (dest / "frames.npy").read_bytes() == before
