"""CASIA-B readers: the compact npz, raw / pretreated PNG trees and pickles, pretreatment, and bad input."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
from PIL import Image

from gstsn.data.cache import SilhouetteCache
from gstsn.data.cache_format import CacheError, pack_frames
from gstsn.data.cache_writer import write_cache
from gstsn.data.casiab import (
    DataImportError,
    crop_binarize,
    detect_layout,
    import_casia_b,
    pretreat_raw_frame,
    read_npz_index,
    source_key,
)
from gstsn.data.naming import NamingError
from gstsn.data.safe_pickle import UnsafePickleError

KEYS = [("001", "bg-01", "000"), ("001", "nm-01", "000"), ("001", "nm-01", "018"), ("002", "cl-02", "180")]


# ---------------------------------------------------------------------------------------------------------- npz
def _npz(path, rng, lengths, keys=KEYS, gap=0, **override):
    """A compact-format npz: frames packed (F, 64, 6), rows in `keys` order, optional unused frames between rows."""
    frames = (rng.random((sum(lengths) + gap * len(lengths), 64, 44)) < 0.3).astype(np.uint8)
    starts = np.cumsum([0] + [n + gap for n in lengths[:-1]]).astype(np.int64)
    arrays = {
        "frames": pack_frames(frames),
        "subject": np.array([k[0] for k in keys]),
        "seq_type": np.array([k[1] for k in keys]),
        "view": np.array([k[2] for k in keys]),
        "start": starts,
        "length": np.array(lengths, dtype=np.int64),
    }
    arrays.update(override)
    np.savez_compressed(path, **arrays)
    return frames, starts


def test_npz_import_copies_packed_frames(tmp_path):
    rng = np.random.default_rng(0)
    frames, starts = _npz(tmp_path / "c.npz", rng, [5, 1, 8, 3], gap=2)
    path = import_casia_b(tmp_path / "c.npz", tmp_path / "cache", progress=False)
    cache = SilhouetteCache.open(path)
    assert len(cache) == 4 and cache.n_frames == 17, "frames no row refers to are not copied"
    for i, key in enumerate(KEYS):
        row = cache.index.iloc[i]
        assert (row.subject, row.seq_type, row.view) == key
        np.testing.assert_array_equal(cache.sequence(i), frames[starts[i] : starts[i] + row.length])
    assert cache.meta["source"]["layout"] == "npz"
    assert [e["length"] for e in cache.meta["report"]["short"]] == [1, 3]
    assert len(cache.meta["report"]["missing"]) == 2 * 110 - 4


def test_npz_min_frames_skip_is_reported(tmp_path):
    _npz(tmp_path / "c.npz", np.random.default_rng(1), [5, 1, 8, 0])
    cache = SilhouetteCache.open(import_casia_b(tmp_path / "c.npz", tmp_path / "c", min_frames=2, progress=False))
    assert len(cache) == 2
    skipped = cache.meta["report"]["skipped"]
    assert [(e["seq_type"], e["reason"]) for e in skipped] == [
        ("nm-01", "1 frames (< min_frames=2)"),
        ("cl-02", "0 frames (< min_frames=2)"),
    ]


def test_npz_index_read_without_frames(tmp_path):
    _npz(tmp_path / "c.npz", np.random.default_rng(2), [5, 1, 8, 3])
    info = read_npz_index(tmp_path / "c.npz")
    assert info.frames_shape == (17, 64, 6)
    assert info.index["length"].tolist() == [5, 1, 8, 3]


@pytest.mark.parametrize(
    ("override", "error", "match"),
    [
        ({"view": np.array(["000", "000", "017", "180"])}, NamingError, r"unknown view '017' in .*c.npz row 2"),
        ({"seq_type": np.array(["bg-01", "nm-01", "nm-01", "xx-01"])}, NamingError, "unknown sequence type 'xx-01'"),
        ({"view": np.array(["000", "018", "018", "180"])}, DataImportError, "duplicate sequence 001/nm-01/018"),
        ({"start": np.array([0, 2, 6, 14])}, DataImportError, "overlap"),
        ({"length": np.array([5, 1, 8, 99])}, DataImportError, "out of range"),
        ({"start": np.array([0.0, 5, 6, 14])}, DataImportError, "'start' is float64; expected integers"),
        ({"subject": np.array(["1", "1", "1", "2"])}, NamingError, "not canonical"),
    ],
)
def test_npz_bad_input(tmp_path, override, error, match):
    _npz(tmp_path / "c.npz", np.random.default_rng(3), [5, 1, 8, 3], **override)
    with pytest.raises(error, match=match):
        import_casia_b(tmp_path / "c.npz", tmp_path / "cache", progress=False)
    assert not (tmp_path / "cache").exists()


def test_npz_missing_key_and_not_a_zip(tmp_path):
    np.savez(tmp_path / "c.npz", frames=np.zeros((1, 64, 6), np.uint8))
    with pytest.raises(DataImportError, match=r"c.npz lacks the array 'subject'"):
        import_casia_b(tmp_path / "c.npz", tmp_path / "cache", layout="npz")
    (tmp_path / "x.npz").write_bytes(b"not a zip")
    with pytest.raises(DataImportError, match="x.npz is a file but not an .npz"):
        import_casia_b(tmp_path / "x.npz", tmp_path / "cache")


def test_npz_nonzero_pad_bits_rejected(tmp_path):
    frames48 = np.ones((3, 64, 48), np.uint8)  # columns 44..47 set: not a 44-wide packing
    np.savez(
        tmp_path / "c.npz",
        frames=np.packbits(frames48, axis=-1),
        subject=np.array(["001"]),
        seq_type=np.array(["nm-01"]),
        view=np.array(["000"]),
        start=np.array([0]),
        length=np.array([3]),
    )
    with pytest.raises(CacheError, match="pad bits beyond width 44"):
        import_casia_b(tmp_path / "c.npz", tmp_path / "cache", progress=False)


def test_npz_fingerprint_matches_in_memory_write(tmp_path):
    frames, _ = _npz(tmp_path / "c.npz", np.random.default_rng(5), [4, 2, 6, 3])
    a = SilhouetteCache.open(import_casia_b(tmp_path / "c.npz", tmp_path / "a", progress=False))
    b = SilhouetteCache.open(write_cache(tmp_path / "b", frames, a.index))
    assert a.fingerprint == b.fingerprint


# -------------------------------------------------------------------------------------------------- pretreatment
def _person(h: int, w: int, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    img = np.zeros((h, w), np.uint8)
    img[top:bottom, left:right] = 255
    return img


def test_pretreat_raw_frame_crops_scales_and_centres():
    img = _person(240, 320, 40, 200, 100, 140)  # a 160x40 box, off-centre
    out = pretreat_raw_frame(img)
    assert out.shape == (64, 64) and out.dtype == np.uint8
    rows = np.flatnonzero(out.sum(axis=1))
    assert rows[0] == 0 and rows[-1] == 63, "cropped to the silhouette rows and resized to height 64"
    cols = np.flatnonzero(out.max(axis=0) >= 128)
    assert abs((cols[0] + cols[-1]) / 2 - 32) <= 1, "x-centred on the half cumulative column sum"
    assert 15 <= cols.size <= 17, "aspect kept: rows 160 -> 64, so the 40-column box becomes 16 columns"


def test_pretreat_drops_faint_frames_and_pads_edges():
    assert pretreat_raw_frame(np.full((240, 320), 0, np.uint8)) is None
    faint = _person(240, 320, 100, 110, 100, 103)  # 30 pixels x 255 = 7650 <= 10000
    assert pretreat_raw_frame(faint) is None
    wide = _person(100, 400, 0, 100, 0, 400)  # window leaves the image: zero-padded, never wrapped
    out = pretreat_raw_frame(wide)
    assert out.shape == (64, 64) and out[:, :20].max() > 0


def test_crop_binarize():
    frames = np.zeros((2, 64, 64), np.uint8)
    frames[:, :, 9] = 255  # cut away
    frames[:, :, 10] = 128  # kept, at threshold
    frames[:, :, 11] = 127  # below threshold
    out = crop_binarize(frames)
    assert out.shape == (2, 64, 44) and set(np.unique(out)) == {0, 1}
    assert out[:, :, 0].all() and not out[:, :, 1].any()
    assert crop_binarize(frames // 255).shape == (2, 64, 44), "0/1 frames are taken as already binary"


# ---------------------------------------------------------------------------------------------------------- trees
def _save_png(path, img):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)


def _pretreated(rng, t):
    frames = np.zeros((t, 64, 64), np.uint8)
    for i in range(t):
        top, left = rng.integers(0, 8), rng.integers(14, 30)
        frames[i, top : top + 56, left : left + 20] = rng.integers(100, 256)
    return frames


def _png_tree(root, rng, seqs):
    data = {}
    for (s, t, v), n in seqs.items():
        data[(s, t, v)] = _pretreated(rng, n)
        for i, img in enumerate(data[(s, t, v)]):
            _save_png(root / s / t / v / f"{s}-{t}-{v}-{i + 1:03d}.png", img)
    return data


def test_png_tree_import(tmp_path):
    rng = np.random.default_rng(6)
    data = _png_tree(tmp_path / "tree", rng, {KEYS[0]: 6, KEYS[1]: 1, KEYS[3]: 4})
    assert detect_layout(tmp_path / "tree") == "png"
    cache = SilhouetteCache.open(import_casia_b(tmp_path / "tree", tmp_path / "c", progress=False))
    assert len(cache) == 3 and cache.width == 44
    for i in range(len(cache)):
        key = tuple(cache.index.iloc[i][["subject", "seq_type", "view"]])
        np.testing.assert_array_equal(cache.sequence(i), crop_binarize(data[key]))
    assert [e["length"] for e in cache.meta["report"]["short"]] == [1, 4], "1-frame sequences are kept and reported"
    assert cache.meta["source"]["layout"] == "png"


def test_raw_png_tree_import(tmp_path):
    raw = [_person(240, 320, 30 + i, 210, 120 + 3 * i, 160 + 3 * i) for i in range(5)]
    raw.insert(2, np.zeros((240, 320), np.uint8))  # empty frame: dropped by the pretreatment
    for i, img in enumerate(raw):
        _save_png(tmp_path / "raw" / "001" / "nm-01" / "090" / f"001-nm-01-090-{i + 1:03d}.png", img)
    assert detect_layout(tmp_path / "raw") == "raw-png"
    cache = SilhouetteCache.open(import_casia_b(tmp_path / "raw", tmp_path / "c", progress=False))
    expected = crop_binarize(np.stack([f for f in map(pretreat_raw_frame, raw) if f is not None]))
    assert expected.shape == (5, 64, 44)
    np.testing.assert_array_equal(cache.sequence(0), expected)
    assert cache.meta["pretreatment"]["frames_dropped"] == 1


def test_pkl_tree_import_and_protocols(tmp_path):
    rng = np.random.default_rng(7)
    arrays = {}
    for proto, key in zip((2, 4, 5), KEYS[:3], strict=True):
        arrays[key] = _pretreated(rng, 3 + proto)
        path = tmp_path / "pkl" / key[0] / key[1] / key[2] / f"{key[2]}.pkl"
        path.parent.mkdir(parents=True)
        path.write_bytes(pickle.dumps(arrays[key], protocol=proto))
    assert detect_layout(tmp_path / "pkl") == "pkl"
    cache = SilhouetteCache.open(import_casia_b(tmp_path / "pkl", tmp_path / "c", progress=False))
    for i in range(len(cache)):
        key = tuple(cache.index.iloc[i][["subject", "seq_type", "view"]])
        np.testing.assert_array_equal(cache.sequence(i), crop_binarize(arrays[key]))


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    good = tmp_path / "pkl" / "001" / "bg-01" / "000" / "000.pkl"
    good.parent.mkdir(parents=True)
    good.write_bytes(pickle.dumps(_pretreated(np.random.default_rng(8), 3)))
    evil = tmp_path / "pkl" / "001" / "nm-01" / "000" / "000.pkl"
    evil.parent.mkdir(parents=True)
    evil.write_bytes(pickle.dumps(_Exploit(marker)))
    with pytest.raises(UnsafePickleError, match=r"refusing to load .*nm-01/000/000.pkl: it refers to .*system"):
        import_casia_b(tmp_path / "pkl", tmp_path / "c", progress=False)
    assert not marker.exists(), "the pickle's payload must not run"
    assert not (tmp_path / "c").exists()


def test_pickle_of_other_objects_is_refused(tmp_path):
    path = tmp_path / "pkl" / "001" / "nm-01" / "000" / "000.pkl"
    path.parent.mkdir(parents=True)
    path.write_bytes(pickle.dumps({"frames": [1, 2, 3]}))
    with pytest.raises(UnsafePickleError, match=r"000.pkl holds a dict; only a numpy array"):
        import_casia_b(tmp_path / "pkl", tmp_path / "c", layout="pkl", progress=False)


def test_bad_tree_input_is_skipped_and_reported(tmp_path):
    rng = np.random.default_rng(9)
    root = tmp_path / "tree"
    _png_tree(root, rng, {KEYS[0]: 4, KEYS[1]: 3, KEYS[2]: 3, KEYS[3]: 2})
    _save_png(root / "001" / "xx-01" / "000" / "a.png", _pretreated(rng, 1)[0])  # unknown type
    _save_png(root / "001" / "nm-02" / "017" / "a.png", _pretreated(rng, 1)[0])  # unknown view
    _save_png(root / "walk" / "nm-01" / "000" / "a.png", _pretreated(rng, 1)[0])  # not a subject id
    (root / "002" / "nm-03" / "000").mkdir(parents=True)  # empty sequence folder
    (root / "README.txt").write_text("files beside the folders are ignored")
    seq = root / "001" / "nm-01" / "000"
    png = sorted(seq.iterdir())[0]
    png.write_bytes(png.read_bytes()[:60])  # a truncated image: that frame is dropped
    for f in (root / "001" / "nm-01" / "018").iterdir():
        f.write_bytes(b"garbage")  # every frame unreadable: the sequence is skipped
    _save_png(root / "002" / "cl-02" / "180" / "zzz.png", np.zeros((80, 64), np.uint8))  # wrong size
    cache = SilhouetteCache.open(import_casia_b(root, tmp_path / "c", layout="png", progress=False))
    report = cache.meta["report"]
    reasons = {(e["subject"], e["seq_type"], e["view"]): e["reason"] for e in report["skipped"]}
    assert "unknown sequence type 'xx-01'" in reasons[("001", "xx-01", "")]
    assert "unknown view '017'" in reasons[("001", "nm-02", "017")]
    assert "not a subject folder" in reasons[("", "", "")]
    assert reasons[("002", "nm-03", "000")] == "no .png frames"
    assert reasons[("001", "nm-01", "018")].startswith("no valid frames (3 PNGs")
    assert "zzz.png is 64x80; the 'png' layout expects 64x64" in reasons[("002", "cl-02", "180")]
    assert len(report["unreadable_frames"]) == 4 and png.name in report["unreadable_frames"][0]["path"]
    assert cache.index[["subject", "seq_type", "view"]].apply(tuple, axis=1).tolist() == [KEYS[0], KEYS[1]]
    assert cache.lengths.tolist() == [4, 2]
    with pytest.raises(DataImportError, match=r"tree/001/nm-02/017: unknown view '017'; expected one of \['000'"):
        import_casia_b(root, tmp_path / "strict", layout="png", strict=True, progress=False)
    assert not (tmp_path / "strict").exists()


def test_tree_errors(tmp_path):
    with pytest.raises(DataImportError, match="no such file or folder"):
        import_casia_b(tmp_path / "absent", tmp_path / "c")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataImportError, match="holds no <id>/<type-nn>/<view>/ sequence folders"):
        import_casia_b(tmp_path / "empty", tmp_path / "c", layout="png")
    rng = np.random.default_rng(10)
    _png_tree(tmp_path / "dup", rng, {("001", "nm-01", "000"): 2, ("1", "nm-01", "000"): 2})
    with pytest.raises(DataImportError, match=r"duplicate sequence 001/nm-01/000: both .*001/nm-01/000 and .*1/nm"):
        import_casia_b(tmp_path / "dup", tmp_path / "c", progress=False)
    with pytest.raises(DataImportError, match="unknown layout"):
        import_casia_b(tmp_path / "dup", tmp_path / "c", layout="jpeg")


def test_worker_processes_give_the_same_cache(tmp_path):
    rng = np.random.default_rng(11)
    _png_tree(tmp_path / "tree", rng, {k: 3 for k in KEYS})
    one = SilhouetteCache.open(import_casia_b(tmp_path / "tree", tmp_path / "a", progress=False))
    two = SilhouetteCache.open(import_casia_b(tmp_path / "tree", tmp_path / "b", progress=False, workers=2))
    assert one.fingerprint == two.fingerprint and len(one) == 4


def test_source_key_tracks_content_and_params(tmp_path):
    _npz(tmp_path / "c.npz", np.random.default_rng(12), [5, 1, 8, 3])
    k1 = source_key(tmp_path / "c.npz")
    assert k1 == source_key(tmp_path / "c.npz", "npz")
    assert k1 != source_key(tmp_path / "c.npz", min_frames=2)
    _npz(tmp_path / "c.npz", np.random.default_rng(13), [5, 1, 8, 3])
    assert source_key(tmp_path / "c.npz") != k1


# ------------------------------------------------------------------------------------------ unusual trees (issue 25)
def test_a_symlink_loop_in_a_tree_is_passed_over_by_the_key_and_the_import(tmp_path):
    """``train --data casia-b:TREE`` computes the tree's source key first: a file that links to itself (ELOOP) must
    not stop it, as it does not stop the import."""
    from gstsn.data.sources import open_dataset

    root = tmp_path / "tree"
    _png_tree(root, np.random.default_rng(14), {k: 3 for k in KEYS})
    loop = root / "001" / "bg-01" / "000" / "loop.png"
    loop.symlink_to(loop)
    key = source_key(root)
    cache = open_dataset(f"casia-b:{root}", tmp_path / "caches")
    assert len(cache) == 4 and cache.path.name == f"casia-b-{key}"
    loop.unlink()
    _save_png(loop, _pretreated(np.random.default_rng(15), 1)[0])
    assert source_key(root) != key, "the entry counts by its name: once it is a readable frame, the key changes"


def _unreadable(monkeypatch, folder):
    """Listing ``folder`` fails with PermissionError (chmod cannot show it: the tests may run as root)."""
    from pathlib import Path

    real = Path.iterdir

    def iterdir(self):
        if self == folder:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)


@pytest.mark.parametrize("level", ["sequence", "subject"])
def test_an_unreadable_folder_is_skipped_and_recorded(tmp_path, monkeypatch, level):
    root = tmp_path / "tree"
    _png_tree(root, np.random.default_rng(16), {k: 3 for k in KEYS})
    folder = root / "001" / "nm-01" / "018" if level == "sequence" else root / "002"
    _unreadable(monkeypatch, folder)
    cache = SilhouetteCache.open(import_casia_b(root, tmp_path / "c", progress=False))
    assert len(cache) == 3
    [skipped] = cache.meta["report"]["skipped"]
    assert (
        skipped["path"] == str(folder) and skipped["reason"] == "unreadable folder (PermissionError: Permission denied)"
    )
    with pytest.raises(DataImportError, match=rf"{folder}: unreadable folder \(PermissionError"):
        import_casia_b(root, tmp_path / "strict", layout="png", strict=True, progress=False)
    _unreadable(monkeypatch, root)
    with pytest.raises(DataImportError, match=rf"cannot read the tree: {root}: unreadable folder"):
        import_casia_b(root, tmp_path / "none", layout="png", progress=False)


def test_a_decompression_bomb_as_the_first_png_is_recorded_as_unreadable(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 64 * 64)  # a 200×200 frame is then a bomb (> twice the limit)
    root = tmp_path / "tree"
    _png_tree(root, np.random.default_rng(17), {k: 3 for k in KEYS})
    bomb = root / "001" / "bg-01" / "000" / "000-bomb.png"  # sorts first: the tree's first PNG
    _save_png(bomb, np.zeros((200, 200), np.uint8))
    assert detect_layout(root) == "png"
    cache = SilhouetteCache.open(import_casia_b(root, tmp_path / "c", progress=False))
    [bad] = cache.meta["report"]["unreadable_frames"]
    assert bad["path"] == str(bomb) and "DecompressionBombError" in bad["reason"]
    for seq in (root / k[0] / k[1] / k[2] for k in KEYS):
        for png in seq.glob("0*.png"):
            png.unlink()
    _save_png(root / KEYS[0][0] / KEYS[0][1] / KEYS[0][2] / "001.png", np.zeros((200, 200), np.uint8))
    with pytest.raises(DataImportError, match=r"no readable .png or .pkl frames .*001.png: unreadable image \(Decomp"):
        detect_layout(root)


def test_frames_of_different_sizes_are_refused_by_the_layout_detection(tmp_path, capsys):
    """One 128×128 frame first in a tree of 64×64 ones: the detection samples folders over the whole tree, sees
    that they disagree and refuses, naming one of each; ``--layout`` decides."""
    from gstsn.cli import main
    from gstsn.data.casiab import explain_layout

    root = tmp_path / "tree"
    _png_tree(root, np.random.default_rng(18), {k: 3 for k in KEYS})
    first = sorted((root / "001" / "bg-01" / "000").iterdir())[0]
    _save_png(first, np.zeros((128, 128), np.uint8))
    with pytest.raises(DataImportError, match=r"its frames disagree \(4 of its 4 sequence folders sampled") as caught:
        detect_layout(root)
    example = root / "001" / "nm-01" / "000" / "001-nm-01-000-001.png"
    assert f"is 64x64 in 3 folder(s) (pretreated, e.g. {example}) and" in str(caught.value)
    assert f"of another size in 1 (raw, e.g. {first} is 128x128); pass --layout png" in str(caught.value)
    assert main(["data", "import", str(root), str(tmp_path / "c"), "--no-progress"]) == 2
    assert "gstsn data import: error: cannot tell the layout of" in capsys.readouterr().err
    assert main(["data", "import", str(root), str(tmp_path / "c"), "--layout", "png", "--no-progress"]) == 0
    assert (
        "is 128x128; the 'png' layout expects 64x64"
        in SilhouetteCache.open(tmp_path / "c").report["skipped"][0]["reason"]
    )

    _save_png(first, _pretreated(np.random.default_rng(19), 1)[0])
    layout, why = explain_layout(root)
    assert (
        layout == "png"
        and why
        == "the first frame is 64x64 in each of the 4 folder(s) looked at (4 of its 4 "
        "sequence folders sampled, spread over the tree)"
    )
    assert main(["data", "import", str(root), str(tmp_path / "d"), "--no-progress"]) == 0
    assert f"gstsn data import: layout 'png' detected: {why} (--layout chooses one)" in capsys.readouterr().err


def test_layout_detection_samples_folders_over_the_whole_tree(tmp_path):
    from gstsn.data.casiab_layout import LAYOUT_SAMPLE

    seqs = {
        (f"{s:03d}", t, v): 1 for s in (1, 2) for t in ("nm-01", "nm-02") for v in ("000", "018", "036", "054", "072")
    }
    root = tmp_path / "tree"
    _png_tree(root, np.random.default_rng(20), seqs)
    assert len(seqs) > LAYOUT_SAMPLE // 2
    last = root / "002" / "nm-02" / "072"
    for png in last.iterdir():
        _save_png(png, np.zeros((240, 320), np.uint8))
    with pytest.raises(DataImportError, match=rf"raw, e.g. {last}/.* is 320x240"):
        detect_layout(root)
