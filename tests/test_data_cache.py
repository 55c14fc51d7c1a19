"""The silhouette cache: round trips, fingerprint, atomic writes, clear errors on incomplete or corrupt caches."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from gstsn.data.cache import SilhouetteCache, is_cache
from gstsn.data.cache_format import CacheError, pack_frames, unpack_frames
from gstsn.data.cache_writer import CacheWriter, write_cache, write_packed_cache
from gstsn.data.naming import SEQ_TYPES, VIEWS


def _table(rng: np.random.Generator, lengths: list[int], h: int = 64, w: int = 44):
    """Frames (F, h, w) in {0,1} and an index over subjects 001.., types/views in grid order (not table order)."""
    keys = [(f"{1 + i // 20:03d}", SEQ_TYPES[(i // 11) % 10], VIEWS[i % 11]) for i in range(len(lengths))]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    frames = (rng.random((int(sum(lengths)), h, w)) < 0.4).astype(np.uint8)
    index = pd.DataFrame(
        {
            "subject": [k[0] for k in keys],
            "seq_type": [k[1] for k in keys],
            "view": [k[2] for k in keys],
            "start": starts,
            "length": np.asarray(lengths, dtype=np.int64),
        }
    )
    return frames, index


def _seq(frames, index, subject, seq_type, view):
    r = index[(index.subject == subject) & (index.seq_type == seq_type) & (index.view == view)].iloc[0]
    return frames[r.start : r.start + r.length]


@pytest.mark.parametrize("width", [44, 16, 5, 64])
def test_pack_unpack_round_trip(width):
    frames = (np.random.default_rng(0).random((7, 9, width)) < 0.5).astype(np.uint8)
    packed = pack_frames(frames)
    assert packed.shape == (7, 9, (width + 7) // 8)
    np.testing.assert_array_equal(unpack_frames(packed, width), frames)


def test_pack_rejects_non_binary():
    with pytest.raises(CacheError, match="binary"):
        pack_frames(np.full((1, 4, 4), 255, np.uint8))


def test_write_open_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    frames, index = _table(rng, [5, 3, 0, 12, 1, 7, 4, 9])
    path = write_cache(tmp_path / "c", frames, index, {"source": {"kind": "test"}})
    cache = SilhouetteCache.open(path)
    assert len(cache) == 8 and cache.height == 64 and cache.width == 44
    assert cache.n_frames == sum([5, 3, 0, 12, 1, 7, 4, 9])
    assert isinstance(cache.packed, np.memmap)
    keys = list(zip(cache.index.subject, cache.index.seq_type, cache.index.view, strict=True))
    assert keys == sorted(keys), "rows are sorted by (subject, seq_type, view)"
    assert list(cache.index.columns) == ["subject", "seq_type", "view", "start", "length"]
    assert cache.index["start"].dtype == np.int64 and cache.index["length"].dtype == np.int64
    for i, (s, t, v) in enumerate(keys):
        np.testing.assert_array_equal(cache.sequence(i), _seq(frames, index, s, t, v))
    # frames() gathers arbitrary global ids in one go, repeats and any order allowed
    ids = np.array([cache.n_frames - 1, 0, 3, 3, 17])
    flat = np.concatenate([cache.sequence(i) for i in range(len(cache))])
    np.testing.assert_array_equal(cache.frames(ids), flat[ids])
    assert cache.meta["source"] == {"kind": "test"}
    assert cache.nbytes_on_disk() > cache.packed.nbytes


def test_report_lists_missing_and_short(tmp_path):
    frames, index = _table(np.random.default_rng(2), [6, 4, 0, 9])
    cache = SilhouetteCache.open(write_cache(tmp_path / "c", frames, index))
    report = cache.meta["report"]
    assert len(report["missing"]) == 110 - 4  # one subject present: 10 types x 11 views expected
    assert sorted(e["length"] for e in report["short"]) == [0, 4]
    assert report["skipped"] == []


def test_fingerprint_is_content_hash(tmp_path):
    frames, index = _table(np.random.default_rng(3), [4, 6, 2])
    a = SilhouetteCache.open(write_cache(tmp_path / "a", frames, index, {"source": "one"}))
    shuffled = index.iloc[::-1].reset_index(drop=True)  # same content, other row order and another source text
    b = SilhouetteCache.open(write_cache(tmp_path / "b", frames, shuffled, {"source": "two"}))
    packed = SilhouetteCache.open(write_packed_cache(tmp_path / "p", pack_frames(frames), 44, index))
    assert a.fingerprint == b.fingerprint == packed.fingerprint
    frames2 = frames.copy()
    frames2[0, 0, 0] ^= 1
    c = SilhouetteCache.open(write_cache(tmp_path / "c", frames2, index))
    assert c.fingerprint != a.fingerprint
    a.verify()


def test_verify_detects_changed_bytes(tmp_path):
    frames, index = _table(np.random.default_rng(4), [4, 6])
    path = write_cache(tmp_path / "c", frames, index)
    with open(path / "frames.npy", "r+b") as f:
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 0x80]))
    with pytest.raises(CacheError, match="corrupt"):
        SilhouetteCache.open(path).verify()


def test_writer_rejects_duplicates_and_bad_shapes(tmp_path):
    with CacheWriter(tmp_path / "c", 4, 5) as w:
        w.add("001", "nm-01", "000", np.zeros((2, 4, 5), np.uint8))
        with pytest.raises(CacheError, match="duplicate sequence 001/nm-01/000"):
            w.add("001", "nm-01", "000", np.zeros((2, 4, 5), np.uint8))
        with pytest.raises(CacheError, match=r"expected \(T, 4, 5\)"):
            w.add("001", "nm-02", "000", np.zeros((2, 4, 6), np.uint8))
        with pytest.raises(CacheError, match="pad bits"):
            w.add_packed("001", "nm-03", "000", np.full((1, 4, 1), 0xFF, np.uint8))
    assert not (tmp_path / "c").exists()
    assert not list(tmp_path.iterdir()), "an unfinished writer leaves nothing behind"


def test_exception_mid_write_leaves_no_cache(tmp_path):
    frames, index = _table(np.random.default_rng(5), [3, 3])
    index.loc[1, "length"] = 10**6  # points past the frames: write_cache fails before writing anything
    with pytest.raises(CacheError, match="past the last frame"):
        write_cache(tmp_path / "c", frames, index)
    with pytest.raises(RuntimeError), CacheWriter(tmp_path / "d", 64, 44) as w:
        w.add("001", "nm-01", "000", frames[:3])
        raise RuntimeError("interrupted")
    assert not list(tmp_path.iterdir())


def test_killed_import_never_looks_complete(tmp_path):
    """A process killed mid-write leaves only a hidden temp dir: opening says so, and the next write cleans it up."""
    dest = tmp_path / "cache"
    script = textwrap.dedent(
        f"""
        import os, numpy as np
        from gstsn.data.cache_writer import CacheWriter
        w = CacheWriter({str(dest)!r}, 64, 44)
        w.add("001", "nm-01", "000", np.ones((5, 64, 44), np.uint8))
        os._exit(3)  # dies without finishing, like a killed import
        """
    )
    assert subprocess.run([sys.executable, "-c", script], check=False).returncode == 3
    assert not dest.exists() and not is_cache(dest)
    with pytest.raises(CacheError, match=r"no cache at .*cache.*interrupted"):
        SilhouetteCache.open(dest)
    frames, index = _table(np.random.default_rng(6), [2])
    write_cache(dest, frames, index)
    assert [p.name for p in tmp_path.iterdir()] == ["cache"], "the stale temp dir of the dead process is removed"


def test_incomplete_and_corrupt_caches_name_the_path(tmp_path):
    frames, index = _table(np.random.default_rng(7), [3, 4])
    path = write_cache(tmp_path / "c", frames, index)
    (path / "meta.json").rename(path / "meta.bak")
    with pytest.raises(CacheError, match=r"c is not a complete cache: meta.json is missing"):
        SilhouetteCache.open(path)
    (path / "meta.bak").rename(path / "meta.json")

    raw = (path / "frames.npy").read_bytes()
    (path / "frames.npy").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CacheError, match=r"frames.npy is missing, truncated"):
        SilhouetteCache.open(path)
    (path / "frames.npy").write_bytes(raw)

    meta = json.loads((path / "meta.json").read_text())
    (path / "meta.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(CacheError, match="format version 99"):
        SilhouetteCache.open(path)
    (path / "meta.json").write_text(json.dumps({**meta, "n_frames": 3}))
    with pytest.raises(CacheError, match="meta.json says"):
        SilhouetteCache.open(path)
    (path / "meta.json").write_text("{not json")
    with pytest.raises(CacheError, match="meta.json is unreadable"):
        SilhouetteCache.open(path)
    with pytest.raises(CacheError, match="no cache at"):
        SilhouetteCache.open(tmp_path / "nothing")


def test_existing_destination(tmp_path):
    frames, index = _table(np.random.default_rng(8), [3])
    path = write_cache(tmp_path / "c", frames, index)
    with pytest.raises(CacheError, match="already exists"):
        write_cache(path, frames, index)
    frames2, index2 = _table(np.random.default_rng(9), [5, 2])
    write_cache(path, frames2, index2, overwrite=True)
    assert len(SilhouetteCache.open(path)) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["c"]


def test_in_memory_and_rows_filter(tmp_path):
    frames, index = _table(np.random.default_rng(10), [3, 0, 5, 2, 8] * 5)
    path = write_cache(tmp_path / "c", frames, index)
    cache = SilhouetteCache.open(path, in_memory=True)
    assert not isinstance(cache.packed, np.memmap)
    rows = cache.rows(subjects=["002"], min_length=1)
    assert set(cache.index.subject.iloc[rows]) == {"002"} and (cache.lengths[rows] >= 1).all()
    got = cache.rows(views=["000", "018"], seq_types=["nm-01", "nm-02"])
    expected = index[index.view.isin(["000", "018"]) & index.seq_type.isin(["nm-01", "nm-02"])]
    assert len(got) == len(expected) == 4
    assert set(cache.index.view.iloc[got]) == {"000", "018"}
    with pytest.raises(IndexError, match="frame ids"):
        cache.frames(np.array([cache.n_frames]))
    with pytest.raises(IndexError, match="out of range"):
        cache.sequence(len(cache))


def _fill_disk_after(monkeypatch, full_disk_file, room: int) -> None:
    """The cache writer's frames.npy sits on a disk with ``room`` bytes left (other files write normally)."""
    import builtins

    from gstsn.data import cache_writer

    def on_a_small_disk(path, mode="r", *args, **kwargs):
        fh = builtins.open(path, mode, *args, **kwargs)
        return full_disk_file(fh, room) if str(path).endswith("frames.npy") else fh

    monkeypatch.setattr(cache_writer, "open", on_a_small_disk, raising=False)


@pytest.mark.parametrize("room", [0, 300, 5000])  # in the reserved header, in the first rows, further on
def test_a_full_disk_removes_the_partial_cache_and_names_the_space_left(tmp_path, monkeypatch, full_disk_file, room):
    from gstsn.atomic import DiskFullError

    frames, index = _table(np.random.default_rng(11), [3, 4, 5, 6] * 3)
    old = write_cache(tmp_path / "c", frames[:3], index.iloc[:1])
    before = {p.name: p.read_bytes() for p in old.iterdir()}
    _fill_disk_after(monkeypatch, full_disk_file, room)
    with pytest.raises(DiskFullError) as caught:
        write_cache(tmp_path / "c", frames, index, overwrite=True)
    message = str(caught.value)
    assert message.startswith(f"no space left on device writing {tmp_path / 'c'} (")
    assert re.search(r"\([\d.,]+ [MG]B free of [\d.,]+ [MG]B on the file system of ", message), message
    assert "the unfinished copy" in message and "was removed and the cache there is left as it was" in message
    assert [p.name for p in tmp_path.iterdir()] == ["c"], "no partial folder is left behind"
    assert {p.name: p.read_bytes() for p in old.iterdir()} == before, "the cache that was there is untouched"
    with pytest.raises(DiskFullError, match="nothing was written there"):
        write_cache(tmp_path / "new", frames, index)
    assert not (tmp_path / "new").exists() and [p.name for p in tmp_path.iterdir()] == ["c"]


def test_abort_removes_the_partial_even_when_closing_the_file_fails(tmp_path, monkeypatch, full_disk_file):
    frames, index = _table(np.random.default_rng(12), [3])
    _fill_disk_after(monkeypatch, full_disk_file, 10**6)
    w = CacheWriter(tmp_path / "c", 64, 44)
    w._file._full = True  # a write failed earlier: closing flushes the pending bytes and fails again
    w.abort()
    assert not list(tmp_path.iterdir())
