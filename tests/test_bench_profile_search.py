"""bench/profile_search.py: every candidate is a valid ``gstsn train`` command on LT-val, and the table reads a
candidate's validation curve (quarters, final, plateau test) from its run folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import profile_search  # noqa: E402

from gstsn.cli import build_parser  # noqa: E402


@pytest.mark.parametrize("name", list(profile_search.CANDIDATES))
def test_each_candidate_is_a_train_command_on_the_validation_split(name, tmp_path):
    cmd = profile_search.train_command(name, "casia-b:/data/casia-b-sil-64x44.npz", tmp_path, "auto")
    args = build_parser().parse_args(cmd[cmd.index("train") :])
    assert args.split == "LT-val" and args.temporal is False and args.resume
    assert args.iterations == profile_search.CANDIDATES[name][1]["iterations"]
    assert args.eval_every * profile_search.EVAL_POINTS == args.iterations


def test_the_table_reads_quarters_final_and_the_plateau(tmp_path):
    run = tmp_path / "B"
    run.mkdir()
    iterations = profile_search.CANDIDATES["B"][1]["iterations"]
    lines = ["iteration,wall_time,distance,probe_set,rank1_excl"]
    for q, nm in zip((1, 2, 3, 4), (70.0, 80.0, 84.0, 84.5), strict=True):
        for cond, value in (("NM", nm), ("BG", nm - 10), ("CL", nm - 30)):
            lines.append(f"{iterations * q // 4},{q * 100},per_part,{cond},{value}")
    (run / "eval_log.csv").write_text("\n".join(lines) + "\n")
    training = {"sec_per_iter": 0.7, "train_time_s": 2400.0, "cpu_others_share": 0.25}
    provenance = {"cpu_model": "Test CPU", "precision": "bf16"}
    (run / "results.json").write_text(json.dumps({"training": training, "provenance": provenance}))
    row = profile_search.summarise("B", run)
    assert row["done"] and row["q2"] == {"NM": 80.0, "BG": 70.0, "CL": 50.0}
    assert row["nm_rise_last_quarter"] == pytest.approx(0.5) and row["plateau"]
    table = profile_search.markdown([row, profile_search.summarise("C", tmp_path / "C")])
    assert "84.5 / 74.5 / 54.5" in table and "+0.5 (plateau)" in table and "25% (contended) | Test CPU, bf16 |" in table
    assert "| C: " in table and table.count("—") >= 8  # the candidate not run yet: dashes, no error


def _row(name: str, final: tuple[float, float, float] | None, plateau: bool = True) -> dict:
    q4 = dict(zip(("NM", "BG", "CL"), final, strict=True)) if final else None
    return {"name": name, "done": final is not None, "q4": q4, "plateau": plateau if final else None}


def test_the_rule_chooses_the_best_mean_at_plateau_and_names_the_close_ones():
    rows = [_row("B", (88.9, 84.7, 63.0)), _row("D", (89.8, 85.5, 62.5)), _row("C", (95.0, 90.0, 70.0), plateau=False),
            _row("E", None), _row("F", (80.0, 70.0, 50.0))]  # fmt: skip
    text = profile_search.choose(rows)
    assert text.startswith("Chosen by the rule: D, final validation rank-1 averaged over NM, BG and CL 79.3")
    assert "within a point of it, one seed's noise: B (78.9)" in text and "F (" not in text
    assert "not finished: E" in text and "short of their plateau (run longer before choosing): C" in text
    assert profile_search.choose([_row("E", None)]).startswith("Chosen: none yet")
