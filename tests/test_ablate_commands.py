"""``gstsn ablations`` / ``python -m gstsn.ablate``: options, dry-run, summary, merge and clear errors (exit 2)."""

from __future__ import annotations

import argparse
import json

import pytest
from helpers.studies import layers_study

from gstsn.ablate import commands
from gstsn.cli import main

STUDY = layers_study("cli", seeds=(0, 1))


@pytest.fixture
def studies(tmp_path):
    (tmp_path / "ablations").mkdir()
    (tmp_path / "ablations" / "layers.toml").write_text(STUDY)
    return tmp_path


def run(argv, capsys):
    code = main(["ablations", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_register_adds_the_subcommands():
    parser = argparse.ArgumentParser(prog="gstsn")
    commands.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["ablations", "run", "idr_statistic", "--shard", "1/4", "--set", "iterations=10"])
    assert args.studies == ["idr_statistic"] and args.shard == "1/4" and args.overrides == ["iterations=10"]
    for sub in ("run", "dry-run", "merge", "summary"):
        with pytest.raises(SystemExit) as info:
            parser.parse_args(["ablations", sub, "--help"])
        assert info.value.code == 0


def test_dry_run_lists_runs_and_estimates(studies, capsys):
    base = ["--studies-dir", str(studies / "ablations"), "--results", str(studies / "r"), "--device", "cpu"]
    code, out, _ = run(["dry-run", *base, "--profile", "smoke", "--jobs", "2"], capsys)
    assert code == 0
    assert out.count("to do") == 4 and "4 runs to train" in out and "with 2 job(s)" in out
    assert not (studies / "r").exists()  # a dry run writes nothing
    code, out2, _ = run(["run", "--dry-run", *base, "--profile", "smoke", "--jobs", "2"], capsys)
    assert code == 0 and out2 == out
    code, out, _ = run(["dry-run", *base, "--profile", "smoke", "--shard", "0/2", "--seeds", "0,1,2"], capsys)
    assert code == 0 and "in shard 0/2" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--set", "lstm_layers=1"], "overrides an axis"),
        (["--set", "iteration=3"], "unknown field --set.'iteration'"),
        (["--shard", "2/2"], "--shard '2/2' is invalid"),
        (["missing_study"], "unknown study 'missing_study'"),
        (["--data", "synth:subjcts=3"], "subjcts"),
    ],
)
def test_errors_exit_2_with_a_message(studies, capsys, argv, message):
    code, _, err = run(["dry-run", "--studies-dir", str(studies / "ablations"), "--device", "cpu", *argv], capsys)
    assert code == 2 and message in err and err.startswith("gstsn ablations dry-run: error:")


def test_bad_value_in_a_study_file_names_file_key_and_choices(studies, capsys):
    (studies / "ablations" / "bad.toml").write_text(STUDY.replace("[0, 2]", "[0, 3]"))
    code, _, err = run(["dry-run", "--studies-dir", str(studies / "ablations"), "--device", "cpu"], capsys)
    assert code == 2 and "bad.toml: axes.lstm_layers = 3" in err and "(0, 1, 2)" in err


def test_summary_and_merge(studies, tmp_path, capsys):
    folder = tmp_path / "res" / "layers"
    folder.mkdir(parents=True)
    (folder / "study.json").write_text(
        json.dumps(
            {"study": "layers", "axes": {"lstm_layers": [0, 2]}, "baseline": {"lstm_layers": 2}, "seeds": [0, 1]}
        )
    )
    rows = [
        {"run_id": f"{c}{s}", "cell": f"lstm_layers={c}", "seed": s, "method": "gstsn", "lstm_layers": c,
         "rank1.per_part.NM": 50.0 + c + s, "rank1.per_part.BG": 40.0, "rank1.per_part.CL": 30.0 + s}
        for c in (0, 2) for s in (0, 1)
    ]  # fmt: skip
    (folder / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, out, _ = run(["summary", "--results", str(tmp_path / "res")], capsys)
    assert code == 0 and "lstm_layers=0 vs lstm_layers=2: NM -2.0 [-2.0, -2.0] p < 0.001 Holm < 0.001 worse" in out
    code, out, _ = run(["merge", str(tmp_path / "res"), "--into", str(tmp_path / "merged")], capsys)
    assert code == 0 and "layers: 4 run(s) merged" in out
    assert len((tmp_path / "merged" / "layers" / "runs.jsonl").read_text().splitlines()) == 4
    code, _, err = run(["summary", "nope", "--results", str(tmp_path / "res")], capsys)
    assert code == 2 and "holds no study.json" in err


def test_data_lacking_the_splits_subjects_fails_once_before_any_training(studies, tmp_path, capsys):
    """A fixed split (here a split file) naming subjects the data lacks: one error naming them and the data, exit 2,
    and nothing trained."""
    split = tmp_path / "needs-more.json"
    train, test = [f"{i:03d}" for i in range(1, 7)], [f"{i:03d}" for i in range(7, 11)] + ["099"]
    split.write_text(json.dumps({"TRAIN_SET": train, "TEST_SET": test}))  # 10 of its 11 subjects: read as fixed
    argv = ["run", "--studies-dir", str(studies / "ablations"), "--results", str(tmp_path / "r"),
            "--work", str(tmp_path / "w"), "--cache-root", str(tmp_path / "c"), "--profile", "smoke",
            "--data", "synth:subjects=10,frames_min=8,frames_max=12", "--set", f"split={split}",
            "--device", "cpu", "--no-progress"]  # fmt: skip
    code, _, err = run(argv, capsys)
    assert code == 2 and "split needs-more needs 1 subject(s) that the data lacks (099; it has 10 subjects)" in err
    assert "data synth:" in err and "subjects=10:" in err
    assert not (tmp_path / "w").exists() or not any((tmp_path / "w").iterdir())


TINY = "synth:subjects=6,frames_min=8,frames_max=12"


def _run_ids(out: str) -> set[str]:
    return {line.split()[3] for line in out.splitlines() if line.startswith("layers ")}


def test_precision_auto_follows_the_cpu_and_a_stored_study_keeps_its_own(studies, capsys, monkeypatch):
    """``--precision auto``: bf16 run ids where the CPU has bf16, fp32 ones where it has not; a study whose
    study.json is already in --results (one written before the field counts as fp32) keeps its precision, and an
    explicit other precision is refused by the store (one precision per study)."""
    base = ["--studies-dir", str(studies / "ablations"), "--results", str(studies / "r"), "--device", "cpu"]
    dry = ["dry-run", *base, "--profile", "smoke"]
    monkeypatch.setenv("GSTSN_CPU_BF16", "0")
    code, out, err = run(dry, capsys)
    fp32 = _run_ids(out)
    assert code == 0 and "layers: CPU precision fp32: this CPU has no bf16 in hardware" in err
    monkeypatch.setenv("GSTSN_CPU_BF16", "1")
    code, out, err = run(dry, capsys)
    bf16 = _run_ids(out)
    assert code == 0 and "layers: CPU precision bf16: this CPU computes bf16 in hardware" in err
    assert len(fp32) == len(bf16) == 4 and not fp32 & bf16
    assert _run_ids(run([*dry, "--precision", "fp32"], capsys)[1]) == fp32
    # a study already stored in fp32 (its study.json predates the field): auto keeps fp32 on a bf16 CPU
    train = ["run", *base, "--profile", "smoke", "--set", "iterations=1", "--seeds", "0", "--no-progress", "--jobs",
             "1", "--cache-root", str(studies / "c"), "--work", str(studies / "w"), "--data", TINY]  # fmt: skip
    code, _, err = run([*train, "--precision", "fp32"], capsys)
    assert code == 0, err
    definition = json.loads((studies / "r" / "layers" / "study.json").read_text())
    assert definition["base"]["cpu_precision"] == "fp32"
    del definition["base"]["cpu_precision"]
    (studies / "r" / "layers" / "study.json").write_text(json.dumps(definition))
    code, out, err = run(dry, capsys)
    assert code == 0 and "CPU precision fp32: the precision of the runs already stored" in err
    assert _run_ids(out) == fp32
    code, _, err = run([*train, "--precision", "bf16"], capsys)
    assert code == 2 and "holds study 'layers' with another definition" in err
