"""Imports that would lose or mislabel data: nothing imported never replaces a cache, a smaller replacement says so,
and frames that are not silhouettes are refused or flagged, naming the file (issue 13, items 2 and 9)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from PIL import Image

from gstsn.cli import main
from gstsn.data.cache import SilhouetteCache
from gstsn.data.cache_format import CacheError, pack_frames
from gstsn.data.cache_writer import CacheWriter
from gstsn.data.casiab import DataImportError, crop_binarize, import_casia_b
from gstsn.data.quality import assess, binarity

KEYS = [("001", "bg-01", "000"), ("001", "nm-01", "000"), ("001", "nm-01", "018"), ("002", "cl-02", "180")]


def _npz(path, lengths=(5, 1, 8, 3)):
    frames = (np.random.default_rng(0).random((sum(lengths), 64, 44)) < 0.3).astype(np.uint8)
    np.savez(
        path,
        frames=pack_frames(frames),
        subject=np.array([k[0] for k in KEYS]),
        seq_type=np.array([k[1] for k in KEYS]),
        view=np.array([k[2] for k in KEYS]),
        start=np.cumsum((0,) + tuple(lengths[:-1])).astype(np.int64),
        length=np.array(lengths, dtype=np.int64),
    )
    return path


def _files(path):
    return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.name != "verified.json"}


# ------------------------------------------------------------------------------------------ item 2: empty imports
def test_an_import_that_skips_everything_replaces_nothing(tmp_path, capsys):
    dest = tmp_path / "cache"
    assert main(["data", "import", str(_npz(tmp_path / "c.npz")), str(dest), "--no-progress"]) == 0
    good = _files(dest)
    capsys.readouterr()
    code = main(["data", "import", str(tmp_path / "c.npz"), str(dest), "--min-frames", "100", "--overwrite",
                 "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "gstsn data import: error: " in err and "c.npz: no sequence to import: all 4 were skipped" in err
    assert "5 frames (< min_frames=100)" in err and f"{dest} is left as it was" in err
    assert _files(dest) == good, "the good cache is untouched"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npz", "cache"], "no temp dir left behind"
    with pytest.raises(DataImportError, match="nothing was written to"):
        import_casia_b(tmp_path / "c.npz", tmp_path / "new", min_frames=100, progress=False)
    assert not (tmp_path / "new").exists()


def test_a_tree_where_every_sequence_is_skipped_is_an_error(tmp_path):
    for key in KEYS[:2]:
        seq = tmp_path / "tree" / key[0] / key[1] / key[2]
        seq.mkdir(parents=True)
        (seq / "notes.txt").write_text("no frames here")
    with pytest.raises(DataImportError, match=r"tree: no sequence to import: all 2 were skipped, e.g. .*no .png"):
        import_casia_b(tmp_path / "tree", tmp_path / "c", layout="png", progress=False)
    assert not (tmp_path / "c").exists()


def test_the_writer_never_writes_an_empty_cache(tmp_path):
    with CacheWriter(tmp_path / "c", 64, 44) as w:
        w.add("001", "nm-01", "000", np.zeros((2, 64, 44), np.uint8))
        w.finish()
    with CacheWriter(tmp_path / "c", 64, 44, overwrite=True) as w, pytest.raises(CacheError, match="no sequence"):
        w.finish()
    assert len(SilhouetteCache.open(tmp_path / "c")) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c"]


def test_replacing_a_cache_by_a_smaller_one_says_how_much_smaller(tmp_path, capsys):
    dest = tmp_path / "cache"
    assert main(["data", "import", str(_npz(tmp_path / "c.npz")), str(dest), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["data", "import", str(tmp_path / "c.npz"), str(dest), "--min-frames", "4", "--overwrite",
                 "--no-progress"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert f"gstsn data import: WARNING: replaced a larger cache at {dest}: sequences 4 -> 2 (-2, -50.0 %), frames " \
           "17 -> 13 (-4, -23.5 %)" in err  # fmt: skip
    assert main(["data", "import", str(tmp_path / "c.npz"), str(dest), "--overwrite", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "replaced the cache at" in err and "sequences 2 -> 4, frames 13 -> 17" in err and "WARNING" not in err


# -------------------------------------------------------------------------------------- item 9: non-silhouettes
def _silhouettes(t, rng):
    """Pretreated-looking 64×64 frames: a bright body with grey resize edges, on black."""
    frames = np.zeros((t, 64, 64), np.uint8)
    for i in range(t):
        left = int(rng.integers(24, 30))
        frames[i, 4:60, left : left + 14] = 255
        frames[i, 4:60, left - 1] = frames[i, 4:60, left + 14] = 120  # the grey band of a bicubic resize
    return frames


def _png_tree(root, seqs):
    for (s, t, v), frames in seqs.items():
        folder = root / s / t / v
        folder.mkdir(parents=True)
        for i, img in enumerate(frames):
            Image.fromarray(img).save(folder / f"{s}-{t}-{v}-{i + 1:03d}.png")


def test_binarity_and_fill_tell_silhouettes_from_noise_and_photos():
    rng = np.random.default_rng(0)
    sil = _silhouettes(6, rng)
    assert binarity(sil).min() > 0.9
    assert assess(sil, crop_binarize(sil)).verdict == "ok"
    noise = rng.integers(0, 256, (6, 64, 64), dtype=np.uint8)
    q = assess(noise, crop_binarize(noise))
    assert q.verdict == "refused" and q.binarity < 0.05 and "not binary" in q.reason
    inverted = 255 - sil
    q = assess(inverted, crop_binarize(inverted))
    assert q.verdict == "refused" and q.fill > 0.6 and "mostly foreground" in q.reason
    wide = np.zeros((4, 64, 64), np.uint8)
    wide[:, :, 10:36] = 255  # a body covering 26 of the 44 kept columns: fill 0.59
    assert assess(wide, crop_binarize(wide)).verdict == "borderline"


def test_grey_noise_pngs_are_refused_naming_the_file(tmp_path, capsys):
    rng = np.random.default_rng(1)
    _png_tree(tmp_path / "tree", {KEYS[0]: _silhouettes(4, rng), KEYS[1]: rng.integers(0, 256, (3, 64, 64), np.uint8)})
    code = main(["data", "import", str(tmp_path / "tree"), str(tmp_path / "c"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert "tree/001/nm-01/000/001-nm-01-000-00" in err and "does not look like a binary silhouette" in err
    assert "binarity 0.0" in err and "--accept-non-silhouettes" in err and "nothing was written to" in err
    assert not (tmp_path / "c").exists()

    code = main(["data", "import", str(tmp_path / "tree"), str(tmp_path / "c"), "--no-progress",
                 "--accept-non-silhouettes"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0 and "WARNING: 1 sequence(s) do not look quite like binary silhouettes" in err
    assert "imported but not quite like silhouettes: 1" in out
    cache = SilhouetteCache.open(tmp_path / "c")
    assert len(cache) == 2 and cache.source["params"]["accept_non_silhouettes"] is True
    (entry,) = cache.report["suspicious"]
    assert (entry["seq_type"], entry["verdict"]) == ("nm-01", "accepted") and entry["binarity"] < 0.05


def test_rgb_photos_are_refused(tmp_path):
    y, x = np.mgrid[0:64, 0:64]
    photo = np.stack([(x * 4) % 256, (y * 4) % 256, (x + y) * 2 % 256], axis=-1).astype(np.uint8)
    folder = tmp_path / "tree" / "001" / "nm-01" / "090"
    folder.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.roll(photo, i, axis=1), "RGB").save(folder / f"{i:03d}.png")
    with pytest.raises(DataImportError, match=r"090/00\d.png does not look like a binary silhouette: not binary"):
        import_casia_b(tmp_path / "tree", tmp_path / "c", progress=False)


def test_inverted_pickles_are_refused_and_borderline_ones_flagged(tmp_path):
    rng = np.random.default_rng(2)
    sil = _silhouettes(5, rng)
    wide = np.zeros((4, 64, 64), np.uint8)
    wide[:, :, 10:36] = 255
    for key, arr in ((KEYS[0], sil), (KEYS[1], wide), (KEYS[2], 255 - sil)):
        path = tmp_path / "pkl" / key[0] / key[1] / key[2] / f"{key[2]}.pkl"
        path.parent.mkdir(parents=True)
        path.write_bytes(pickle.dumps(arr))
    with pytest.raises(DataImportError, match=r"nm-01/018/018.pkl \(frame \d\) does not look .* mostly foreground"):
        import_casia_b(tmp_path / "pkl", tmp_path / "c", progress=False)
    (tmp_path / "pkl" / "001" / "nm-01" / "018" / "018.pkl").unlink()
    cache = SilhouetteCache.open(import_casia_b(tmp_path / "pkl", tmp_path / "c", progress=False))
    assert len(cache) == 2, "the folder left without its pickle is skipped"
    (entry,) = cache.report["suspicious"]
    assert (entry["seq_type"], entry["view"], entry["verdict"]) == ("nm-01", "000", "borderline")
    assert entry["path"].endswith("000.pkl (frame 0)") and "more foreground" in entry["reason"]
