"""Content verification: ``gstsn data verify`` recomputes the fingerprint and names what differs; ``open_dataset`` (what
training, evaluation and the ablations call) verifies unless the stamp says the files are unchanged since the last
hash (issue 13, item 8)."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from gstsn.cli import main
from gstsn.data.cache import SilhouetteCache
from gstsn.data.cache_format import CacheError
from gstsn.data.cache_writer import write_cache
from gstsn.data.sources import open_dataset


def _cache(path):
    rng = np.random.default_rng(0)
    frames = (rng.random((12, 64, 44)) < 0.3).astype(np.uint8)
    index = pd.DataFrame(
        {
            "subject": ["001", "001", "002"],
            "seq_type": ["nm-01", "nm-02", "nm-01"],
            "view": ["000", "000", "090"],
            "start": [0, 4, 8],
            "length": [4, 4, 4],
        }
    )
    return write_cache(path, frames, index)


def _flip_bit(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x10]))


def test_verify_passes_on_a_good_cache(tmp_path, capsys):
    path = _cache(tmp_path / "c")
    assert main(["data", "verify", str(path)]) == 0
    out = capsys.readouterr().out
    fp = SilhouetteCache.open(path).fingerprint
    assert f"{path}: ok: fingerprint {fp} recomputed from 12 frames of 3 sequences" in out


def test_one_flipped_bit_in_the_frames_is_caught_by_verify_info_and_training(tmp_path, capsys):
    path = _cache(tmp_path / "c")
    _flip_bit(path / "frames.npy", 256 + 1000)  # past the 256-byte header: frame data
    assert main(["data", "verify", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"gstsn data verify: error: {path} is corrupt: frames.npy's frame data differs from what was written" in err
    assert main(["data", "info", str(path)]) == 0
    assert "content: NOT verified (never hashed, or a file changed since): gstsn data verify" in capsys.readouterr().out
    with pytest.raises(CacheError, match=r"is corrupt: frames.npy's frame data differs"):
        open_dataset(str(path))  # what gstsn train / eval / ablations call
    assert open_dataset(str(path), verify=False).n_frames == 12, "verify=False opens it as it is"


def test_an_edited_fingerprint_or_index_is_named(tmp_path, capsys):
    path = _cache(tmp_path / "c")
    meta = json.loads((path / "meta.json").read_text())
    (path / "meta.json").write_text(json.dumps({**meta, "fingerprint": "0123456789abcdef"}))
    assert main(["data", "verify", str(path)]) == 2
    err = capsys.readouterr().err
    assert "meta.json records fingerprint 0123456789abcdef, but the content (frames and index as written) gives" in err
    assert meta["fingerprint"] in err
    (path / "meta.json").write_text(json.dumps(meta))

    index = np.load(path / "index.npy")
    index["view"][2] = "108"  # still a valid, sorted index: only the hash can tell
    np.save(path / "index.npy", index)
    with pytest.raises(CacheError, match=r"index.npy's table differs from what was written"):
        SilhouetteCache.open(path).verify()


def test_a_cache_without_content_hashes_still_verifies(tmp_path):
    path = _cache(tmp_path / "c")
    meta = json.loads((path / "meta.json").read_text())
    del meta["content_hashes"]  # as written before they were recorded
    (path / "meta.json").write_text(json.dumps(meta))
    SilhouetteCache.open(path).verify()
    _flip_bit(path / "frames.npy", 300)
    with pytest.raises(CacheError, match=rf"corrupt: content fingerprint [0-9a-f]{{16}} != {meta['fingerprint']}"):
        SilhouetteCache.open(path).verify()


def test_open_dataset_hashes_only_when_a_file_changed(tmp_path, monkeypatch):
    path = _cache(tmp_path / "c")
    calls = []
    real = SilhouetteCache.verify
    monkeypatch.setattr(SilhouetteCache, "verify", lambda self: calls.append(1) or real(self))
    open_dataset(str(path))
    assert calls == [], "the writer's stamp holds: no hash"
    st = (path / "frames.npy").stat()
    os.utime(path / "frames.npy", ns=(st.st_atime_ns, st.st_mtime_ns + 1))  # touched: the stamp goes stale
    open_dataset(str(path))
    open_dataset(str(path))
    assert calls == [1], "hashed once, then the refreshed stamp holds"
    (path / "verified.json").unlink()
    assert SilhouetteCache.open(path).ensure_verified() is True and len(calls) == 2
