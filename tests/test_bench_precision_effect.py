"""bench/precision_effect.py: each fp32 run of a committed study is paired with the same config in bf16 (nothing else
changed, run ids kept), the bf16 run goes through the ablation runner's execute_run, and the table pairs by seed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import precision_effect  # noqa: E402

from gstsn.config import RunConfig, config_hash, config_to_dict, resolve_profile  # noqa: E402

SYNTH = "synth:subjects=6,frames_min=8,frames_max=12"


def test_the_committed_gaitset_runs_pair_with_their_bf16_twins():
    rows = precision_effect.fp32_rows(precision_effect.DEFAULT_STUDY, "gaitset", [0, 1, 2])
    assert [r["seed"] for r in rows] == [0, 1, 2] and {r["method"] for r in rows} == {"gaitset"}
    for row in rows:
        fp32 = RunConfig.from_row(row)
        assert config_hash(fp32) == row["run_id"]
        spec = precision_effect.twin_spec(row, data="casia-b:/somewhere/else/casia-b-sil-64x44.npz")
        assert spec.run_id == precision_effect.twin_spec(row).run_id != row["run_id"]  # the data path is not hashed
        a, b = config_to_dict(fp32), config_to_dict(spec.config)
        assert b["train"].pop("cpu_precision") == "bf16" and a["train"].pop("cpu_precision") == "fp32"
        b["data"]["source"] = a["data"]["source"]
        assert a == b and (spec.method, spec.profile) == ("gaitset", "cpu-real")


def test_a_seed_the_study_lacks_is_named():
    with pytest.raises(SystemExit, match=r"no fp32 gaitset run for seed\(s\) \[7\]"):
        precision_effect.fp32_rows(precision_effect.DEFAULT_STUDY, "gaitset", [0, 7])


def test_the_table_pairs_by_seed_and_gives_the_mean_difference(tmp_path):
    rows = precision_effect.fp32_rows(precision_effect.DEFAULT_STUDY, "gaitset", [0, 1, 2])
    for row, shift in zip(rows[:2], (1.0, -0.5), strict=True):  # seed 2 not run yet
        bf16 = {**row, "run_id": precision_effect.twin_spec(row).run_id, "cpu_bf16": [], "cpu_model": "Test CPU"}
        bf16.update({f"rank1.per_part.{c}": row[f"rank1.per_part.{c}"] + shift for c in ("NM", "BG", "CL")})
        (tmp_path / bf16["run_id"]).mkdir()
        (tmp_path / bf16["run_id"] / precision_effect.ROW_FILE).write_text(json.dumps(bf16))
    table = precision_effect.markdown(precision_effect.paired(rows, tmp_path))
    lines = table.splitlines()
    assert lines[2].startswith(f"| 0 | {rows[0]['run_id']} | ") and "| +1.0 / +1.0 / +1.0 |" in lines[2]
    epyc = rows[0]["cpu_model"]  # the committed fp32 runs' CPU, named beside the bf16 runs' one
    assert f"| -0.5 / -0.5 / -0.5 | {epyc} | Test CPU (bf16 emulated: no bf16 in hardware) |" in lines[3]
    assert lines[4] == f"| 2 | {rows[2]['run_id']} | — | 56.8 / 39.7 / 24.7 | — | — | {epyc} | — |"  # not run: dashes
    assert lines[-1].startswith("bf16 − fp32, mean over 2 paired seed(s), 95 % t-interval: NM +0.2 [")
    here = {**rows[0], "cpu_model": "Test CPU", **{f"rank1.per_part.{c}": 0.0 for c in ("NM", "BG", "CL")}}
    (tmp_path / rows[0]["run_id"]).mkdir()
    (tmp_path / rows[0]["run_id"] / precision_effect.ROW_FILE).write_text(json.dumps(here))  # --fp32-here's rerun
    first = precision_effect.markdown(precision_effect.paired(rows, tmp_path)).splitlines()[2]
    assert "| 0.0 / 0.0 / 0.0 |" in first and "| Test CPU | Test CPU (bf16 emulated" in first  # paired with it


def test_a_bf16_twin_trains_and_evaluates_through_the_runner(tmp_path, monkeypatch):
    """End to end on synthetic data: an fp32 smoke row in a study folder, its bf16 twin run (emulated where the CPU
    lacks bf16), its row saved and read back into the table."""
    monkeypatch.setenv("GSTSN_CACHE_ROOT", str(tmp_path / "cache"))
    cfg = resolve_profile("smoke", source=SYNTH, iterations=2, eval_every=0)
    study = tmp_path / "study"
    study.mkdir()
    row = {**cfg.flat(), "run_id": config_hash(cfg), "method": "gstsn" if cfg.model.temporal else "gaitset",
           "profile": "smoke", "precision": "fp32"}  # fmt: skip
    row.update({f"rank1.per_part.{c}": 50.0 for c in ("NM", "BG", "CL")})
    (study / "runs.jsonl").write_text(json.dumps(row) + "\n")
    work = tmp_path / "work"
    args = ["--study", str(study), "--method", row["method"], "--seeds", "0", "--work", str(work), "--data", SYNTH]
    assert precision_effect.main(args) == 0
    bf16_id = precision_effect.twin_spec(row).run_id
    saved = json.loads((work / bf16_id / precision_effect.ROW_FILE).read_text())
    assert (saved["run_id"], saved["cpu_precision"], saved["precision"]) == (bf16_id, "bf16", "bf16")
    assert 0 <= saved["rank1.per_part.NM"] <= 100
    assert precision_effect.main(args) == 0  # finished: skipped, the table again
    assert precision_effect.main([*args, "--fp32-here"]) == 0  # the fp32 run again here (same id), then paired
    again = json.loads((work / row["run_id"] / precision_effect.ROW_FILE).read_text())
    assert (again["run_id"], again["precision"]) == (row["run_id"], "fp32")
