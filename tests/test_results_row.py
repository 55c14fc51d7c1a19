"""The results row, declared once (``gstsn.results.row``): the executor fills a :class:`RunRow`, whose keys come out
in the declared order; the committed stores' rows hold the declared keys in that order (older rows lacking the keys
added since), and readers name the keys they read through ``row_keys``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gstsn.results.metrics import is_percentage_key
from gstsn.results.row import (
    CONFIG_KEYS,
    HEAD_KEYS,
    PROVENANCE_KEYS,
    ROW_KEYS,
    TRAINED_KEYS,
    Provenance,
    RunRow,
    TrainedKeys,
    row_keys,
    study_row,
)

REPO = Path(__file__).resolve().parents[1]
STORES = [REPO / "tests" / "fixtures" / "smoke-store", *sorted(p for p in (REPO / "reference").iterdir() if p.is_dir())]


def _row(method: str = "gstsn", **kw) -> RunRow:
    trained = method != "gei"
    training = {"train_time_s": 8.5, "final_loss": 0.2, "collapsed": False} if trained else {}
    return RunRow(
        run_id="abc123",
        seed=1,
        method=method,
        config={"temporal": True, "lstm_layers": 2, "identity_cue": None, "seed": 1},
        profile="smoke",
        data_source="synth",
        data_fingerprint="f00",
        synthetic=True,
        split_mode="proportional",
        train_subjects=30,
        test_subjects=20,
        eval_time_s=1.5,
        **training,
        trained=TrainedKeys(False, 0.3, None, 0.01) if trained else None,
        eval_sequences=2200,
        eval_frames=35200,
        metrics={"rank1.per_part.NM": 15.3, "rank1_incl.per_part.NM": 18.1},
        rank1_notes=[],
        provenance=Provenance(None, None, "2.13", "cpu", "cpu", "x", "fp32", 1, "2026-01-01T00:00:00+00:00", None),
        config_hash="abc123",
        **kw,
    )


def test_a_row_holds_its_keys_in_the_declared_order():
    row = _row().as_dict()
    fixed = [k for k in ROW_KEYS if k not in ("study", "cell", "is_baseline")]
    assert [k for k in row if k in ROW_KEYS] == fixed
    # the config fields right after the identity, the metrics right after the evaluation counts
    keys = list(row)
    assert keys[3:6] == ["temporal", "lstm_layers", "identity_cue"]
    assert keys[keys.index("eval_frames") + 1 : keys.index("rank1_notes")] == [
        "rank1.per_part.NM",
        "rank1_incl.per_part.NM",
    ]
    assert row["train_time_s"] == 8.5 and row["final_dist_ap"] is None and row["cpu_others_share"] == 0.01
    assert [row[k] for k in PROVENANCE_KEYS][:4] == [None, None, "2.13", "cpu"]


def test_a_reference_row_has_null_training_and_no_trained_only_keys():
    row = _row("gei").as_dict()
    assert row["train_time_s"] is None and row["collapsed"] is False
    assert not set(TRAINED_KEYS) & set(row)


def test_a_config_field_named_like_an_identity_key_keeps_the_first_place():
    """As the dict literal the row once was: the config's ``seed`` lands in the place of the row's ``seed``."""
    row = _row().as_dict()
    assert list(row)[:3] == ["run_id", "seed", "method"] and list(row).count("seed") == 1


def test_a_study_row_puts_the_head_first():
    row = study_row(_row().as_dict(), run_id="abc123", study="s", cell="c", is_baseline=True, seed=1, method="gstsn")
    assert tuple(row)[: len(HEAD_KEYS)] == HEAD_KEYS
    assert row == {**row, "study": "s", "cell": "c", "is_baseline": True}
    with pytest.raises(ValueError, match="head"):
        study_row({}, run_id="abc123", study="s")


def test_row_keys_refuses_an_undeclared_name():
    assert row_keys("run_id", "cpu_others_share", "identity_cue", "lstm_layers") == (
        "run_id",
        "cpu_others_share",
        "identity_cue",
        "lstm_layers",
    )
    with pytest.raises(ValueError, match=r"\['train_time'\] are not results-row keys"):
        row_keys("run_id", "train_time")


@pytest.mark.parametrize("store", STORES, ids=lambda p: p.name)
def test_the_committed_rows_hold_declared_keys_in_the_declared_order(store):
    paths = sorted(store.glob("*/runs.jsonl"))
    assert paths
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            undeclared = [k for k in row if k not in ROW_KEYS and k not in CONFIG_KEYS and not is_percentage_key(k)]
            assert not undeclared, f"{path}: {undeclared}"
            assert [k for k in row if k in ROW_KEYS] == [k for k in ROW_KEYS if k in row], path
