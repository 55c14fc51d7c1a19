"""``gstsn data import|synth|info`` and ``open_dataset`` on small fake sources (no real data needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gstsn.cli import main
from gstsn.config import ConfigError
from gstsn.data.cache import SilhouetteCache
from gstsn.data.cache_format import pack_frames
from gstsn.data.sources import DataSpecError, dataset_info, format_info, open_dataset

TINY = "synth:subjects=2,frames_min=6,frames_max=8"


def _fake_npz(path, lengths=(5, 1, 8, 3)):
    keys = [("001", "bg-01", "000"), ("001", "nm-01", "000"), ("001", "nm-01", "018"), ("002", "cl-02", "180")]
    frames = (np.random.default_rng(0).random((sum(lengths), 64, 44)) < 0.3).astype(np.uint8)
    np.savez_compressed(
        path,
        frames=pack_frames(frames),
        subject=np.array([k[0] for k in keys]),
        seq_type=np.array([k[1] for k in keys]),
        view=np.array([k[2] for k in keys]),
        start=np.cumsum((0,) + tuple(lengths[:-1])).astype(np.int64),
        length=np.array(lengths, dtype=np.int64),
    )
    return path


def test_open_dataset_synth_is_generated_once(tmp_path, monkeypatch):
    import gstsn.data.sources as sources

    calls = []
    real = sources.generate_synth
    monkeypatch.setattr(sources, "generate_synth", lambda cfg, progress: calls.append(cfg) or real(cfg, progress))
    a = open_dataset(TINY, tmp_path)
    b = open_dataset("synth:frames-max=8, subjects=2,frames_min=6", tmp_path)  # same config, other spelling
    assert len(calls) == 1 and a.path == b.path and a.fingerprint == b.fingerprint
    assert len(a) == 2 * 110 and a.height == 64 and a.width == 44
    assert a.source["kind"] == "synthetic" and a.source["config"]["subjects"] == 2
    assert set(a.index.subject) == {"001", "002"}
    c = open_dataset("synth:subjects=2,frames_min=6,frames_max=8,seed=1", tmp_path)
    assert c.path != a.path and c.fingerprint != a.fingerprint and len(calls) == 2
    assert open_dataset(str(a.path)).fingerprint == a.fingerprint, "a cache directory opens as it is"


def test_open_dataset_casia_b_npz_is_imported_once(tmp_path):
    npz = _fake_npz(tmp_path / "c.npz")
    a = open_dataset(f"casia-b:{npz}", tmp_path / "cache")
    assert len(a) == 4 and a.source["layout"] == "npz"
    mtime = (a.path / "meta.json").stat().st_mtime_ns
    b = open_dataset(f"casia-b:{npz}", tmp_path / "cache")
    assert b.path == a.path and (b.path / "meta.json").stat().st_mtime_ns == mtime
    assert len(list((tmp_path / "cache").iterdir())) == 1


@pytest.mark.parametrize(
    ("spec", "error", "match"),
    [
        ("nonsense", DataSpecError, r"unknown data spec 'nonsense'; expected 'synth'"),
        ("synth:subjects", DataSpecError, "is not key=value"),
        ("synth:legs=3", ConfigError, r"unknown key\(s\) \['legs'\] in data spec 'synth:legs=3'"),
        ("synth:subjects=two", ConfigError, "SynthConfig.subjects = 'two' is not a int"),
        ("casia-b:", DataSpecError, "lacks a path"),
        ("casia-b:/no/such/file.npz", DataSpecError, "no such file or folder"),
        ("", DataSpecError, "empty"),
    ],
)
def test_open_dataset_errors(tmp_path, spec, error, match):
    with pytest.raises(error, match=match):
        open_dataset(spec, tmp_path)


def test_open_dataset_hints_casia_b_prefix_for_a_file(tmp_path):
    npz = _fake_npz(tmp_path / "c.npz")
    with pytest.raises(DataSpecError, match=r"to import it, use 'casia-b:"):
        open_dataset(str(npz), tmp_path)


def test_cli_import_and_info(tmp_path, capsys):
    npz = _fake_npz(tmp_path / "c.npz")
    assert main(["data", "import", str(npz), str(tmp_path / "cache"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "sequences: 4" in out
    assert "missing sequences (vs. the full CASIA-B grid of the 2 subjects present): 216" in out
    assert "short sequences (< 5 frames): 2" in out and "001/nm-01/000: 1 frames" in out
    assert main(["data", "info", str(tmp_path / "cache"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["sequences"] == 4 and info["frames"] == 17 and len(info["missing"]) == 216
    assert info["counts"]["nm-01"]["018"] == 1 and info["bytes_on_disk"] > 17 * 64 * 6
    assert main(["data", "info", str(npz)]) == 0, "info also reads a compact npz directly"
    assert "npz: " in capsys.readouterr().out


def test_cli_reports_errors_without_traceback(tmp_path, capsys):
    assert main(["data", "info", str(tmp_path / "missing")]) == 2
    assert "gstsn data info: error: no cache at" in capsys.readouterr().err
    assert main(["data", "import", str(tmp_path / "nothing"), str(tmp_path / "c"), "--no-progress"]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_cli_synth(tmp_path, capsys):
    dest = tmp_path / "syn"
    args = ["data", "synth", str(dest), "--subjects", "2", "--frames-min", "6", "--frames-max", "8", "--no-progress"]
    assert main(args) == 0
    cache = SilhouetteCache.open(dest)
    assert len(cache) == 220 and cache.source["config"]["frames_max"] == 8
    assert "missing sequences (vs. the full CASIA-B grid of the 2 subjects present): 0" in capsys.readouterr().out
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2 and "already exists; remove it or pass --overwrite" in err  # the flag, not the Python argument


def test_info_text_lists_holes(tmp_path):
    npz = _fake_npz(tmp_path / "c.npz", lengths=(5, 0, 8, 3))
    info = dataset_info(npz)
    assert info.n_sequences == 4 and info.n_frames == 16 and len(info.short) == 2
    text = format_info(info, list_limit=3)
    assert "001/nm-01/000: 0 frames" in text and "... 213 more (--list -1 shows all)" in text
    totals = [line.split() for line in text.splitlines() if line.startswith("total ")]
    assert totals and totals[-1][-1] == "4", "the count table ends with the grand total"


def test_cli_synth_preview_writes_a_picture_of_the_generated_dataset(tmp_path, capsys):
    from PIL import Image

    args = ["data", "synth", str(tmp_path / "s"), "--subjects", "1", "--frames-min", "4", "--frames-max", "5"]
    assert main([*args, "--no-progress", "--preview", str(tmp_path / "p.png")]) == 0
    with Image.open(tmp_path / "p.png") as image:
        assert image.format == "PNG" and image.width > 11 * 44 and image.height > 64
        assert len(set(image.convert("L").getdata())) > 1, "the preview shows silhouettes, not a blank image"
    assert "preview written to" in capsys.readouterr().out


def test_a_full_disk_is_one_line_naming_the_cache_and_the_space_left(tmp_path, capsys, monkeypatch, full_disk_file):
    """``data import`` into a disk that fills up: exit 1 (not bad input: the same command works once space is freed),
    one line naming DEST and the free space, no traceback, and no partial folder left behind."""
    import builtins

    from gstsn.data import cache_writer

    npz = _fake_npz(tmp_path / "c.npz")
    monkeypatch.setattr(
        cache_writer, "open", lambda p, *a, **k: full_disk_file(builtins.open(p, *a, **k), 1000), raising=False
    )
    dest = tmp_path / "out" / "cache"
    code = main(["data", "import", str(npz), str(dest), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"gstsn data import: error: no space left on device writing {dest} (") and " free of " in err
    assert "nothing was written there" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not list((tmp_path / "out").iterdir()), "the partial cache is removed"


def test_ctrl_c_after_the_import_says_it_completed(tmp_path, capsys, monkeypatch):
    """SIGINT while ``data import --overwrite`` prints its summary: the new cache is in place, and the command says so
    (exit 130 all the same: the output was cut short)."""
    from gstsn.data import commands

    npz = _fake_npz(tmp_path / "c.npz")
    dest = tmp_path / "cache"
    assert main(["data", "import", str(npz), str(dest), "--no-progress"]) == 0
    capsys.readouterr()
    _fake_npz(tmp_path / "d.npz", lengths=(6, 2, 8, 3))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "format_info", interrupted)
    code = main(["data", "import", str(tmp_path / "d.npz"), str(dest), "--overwrite", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 130
    assert (
        f"gstsn data import: interrupted by SIGINT after the new cache was completed: {dest} holds 4 sequences" in err
    )
    assert "nothing needs to be run again" in err
    assert SilhouetteCache.open(dest).lengths.tolist() == [6, 2, 8, 3]

    from gstsn.data import cache_writer

    monkeypatch.setattr(cache_writer, "write_stamp", interrupted)  # once the new cache is renamed into place
    code = main(["data", "import", str(npz), str(dest), "--overwrite", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 130 and "after the new cache was completed" in err
    assert SilhouetteCache.open(dest).lengths.tolist() == [5, 1, 8, 3]

    monkeypatch.setattr(commands, "import_casia_b", interrupted)  # Ctrl-C during the import: nothing is claimed
    code = main(["data", "import", str(npz), str(dest), "--overwrite", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 130 and err.strip() == "gstsn data import: interrupted (SIGINT)"
