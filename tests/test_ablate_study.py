"""Study files: the shipped studies load; runs, ids and sharing; every kind of mistake fails before training, naming
the file, the key and the valid choices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gstsn.ablate.plan import find_study_files, plan_studies
from gstsn.ablate.spec import StudyError, StudyNotApplicable, canonical_source
from gstsn.ablate.study import load_study, parse_override, resolve_config
from gstsn.config import FIELD_SECTIONS, config_hash

REPO = Path(__file__).resolve().parents[1]
SHIPPED = ("gaitset_vs_gstsn", "idr_statistic", "lstm_layers", "input_type", "identity_cue", "temporal_module")

MINIMAL = """
description = "test"
seeds = [0, 1]
[base]
temporal = true
[axes]
idr_stat = ["median", "max"]
[baseline]
idr_stat = "median"
"""


def write(tmp_path: Path, text: str, name: str = "study.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_studies_load_with_the_config_field_names():
    files = find_study_files(studies_dir=REPO / "ablations")
    assert [f.stem for f in files] == list(SHIPPED)
    plan = plan_studies(files)
    axes = {s.name: list(s.axes) for s in plan.studies}
    assert axes == {
        "gaitset_vs_gstsn": ["temporal"],
        "idr_statistic": ["idr_stat"],
        "lstm_layers": ["lstm_layers"],
        "input_type": ["temporal", "input_type"],
        "identity_cue": ["temporal", "identity_cue"],
        "temporal_module": ["temporal_module"],
    }
    study = {s.name: s for s in plan.studies}
    assert study["idr_statistic"].axes["idr_stat"] == ["median", "max", "min", "mean", "max+median"]
    assert study["lstm_layers"].axes["lstm_layers"] == [0, 1, 2]
    assert study["identity_cue"].axes["identity_cue"] == [0.0, 0.5, 1.0]
    assert study["temporal_module"].axes["temporal_module"] == ["none", "lstm", "tconv"]
    assert study["gaitset_vs_gstsn"].references == ["gei"]
    for s in plan.studies:
        assert len(s.seeds) >= 3 and s.profile == "ablation"
        assert sum(c.is_baseline for c in s.cells) == 1
        assert len(s.runs) == len(s.cells) * len(s.seeds)
        for field in s.axes:
            assert field in FIELD_SECTIONS or field == "identity_cue"


def test_the_headline_gstsn_run_is_shared_and_trained_once():
    plan = plan_studies(find_study_files(studies_dir=REPO / "ablations"))
    bases = {s.name: s.definition()["base"] for s in plan.studies}
    assert bases["identity_cue"]["identity_cue"] is None and bases["lstm_layers"]["identity_cue"] == 0.5
    gstsn_seed0 = resolve_config("ablation", {"temporal": True, "idr_stat": "median", "lstm_layers": 2}, 0)
    users = plan.users[config_hash(gstsn_seed0)]
    # gaitset_vs_gstsn evaluates every 100 iterations (time-to-accuracy curves), so its runs are its own
    assert sorted(u.study for u in users) == sorted(set(SHIPPED) - {"gaitset_vs_gstsn"})
    assert len(plan.runs) < len(plan.study_runs)
    assert len(plan.runs) == len({sr.run_id for sr in plan.study_runs})
    # each study's copy of it carries that study's own cell label
    labels = {u.study: u.cell.label for u in users}
    assert labels["idr_statistic"] == "idr_stat=median"
    assert labels["identity_cue"] == "temporal=true, identity_cue=0.5"
    assert labels["temporal_module"] == "temporal_module=lstm"  # the default module: the same run id as before


def test_run_ids_are_the_config_hash_and_stable(tmp_path):
    study = load_study(write(tmp_path, MINIMAL))
    assert len(study.runs) == 4 and len({r.run_id for r in study.runs}) == 4
    again = load_study(write(tmp_path, MINIMAL.replace('["median", "max"]', '["median",   "max"]'), "b.toml"))
    assert [r.run_id for r in study.runs] == [r.run_id for r in again.runs]
    for r in study.runs:
        assert r.run_id == config_hash(r.spec.config)
        assert r.spec.config.seed == r.spec.seed
    assert {r.spec.seed for r in study.runs} == {0, 1}


def test_identity_cue_is_folded_into_a_canonical_data_spec():
    assert canonical_source("synth", {"identity_cue": 0.5}) == "synth"  # the generator's default
    assert canonical_source("synth:identity_cue=0.50") == "synth"
    assert canonical_source("synth:subjects=20,identity_cue=0", {}) == "synth:identity_cue=0.0,subjects=20"
    assert canonical_source("synth:subjects=20", {"identity_cue": 1}) == "synth:identity_cue=1.0,subjects=20"
    with pytest.raises(StudyError, match="only exist for 'synth'"):
        canonical_source("casia-b:/data/x.npz", {"identity_cue": 0.0})


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (('idr_stat = "median"\n', 'idr_stat = "medain"\n'), r"baseline.idr_stat = medain is not one of axes.idr_stat"),
        (('["median", "max"]', '["median", "medain"]'), r"axes.idr_stat = medain.*'medain'.*median.*max.*mean"),
        (("[axes]\nidr_stat", "[axes]\nidr_statt"), r"unknown field axes.'idr_statt' \(did you mean 'idr_stat'\?\)"),
        (("temporal = true", "temporal = true\nlstm_layer = 1"), r"unknown field base.'lstm_layer'.*valid fields:"),
        (('description = "test"', 'descripton = "test"'), r"unknown key 'descripton'.*valid keys: description"),
        (("temporal = true", "temporal = true\nlstm_layers = 3"), r"base.lstm_layers.*lstm_layers = 3.*\(0, 1, 2\)"),
        (("temporal = true", 'temporal = true\ninput_type = "ordered"'), r"base.input_type.*'ordered'.*set.*sequence"),
        (("seeds = [0, 1]", "seeds = [0, 0]"), r"seeds = \[0, 0\] is invalid"),
        (("temporal = true", "temporal = true\nseed = 3"), r"list the seeds in 'seeds"),
        (('idr_stat = "median"\n', ""), r"\[baseline\] must give one value for each axis"),
        (('description = "test"', 'description = "test"\norder = "first"'), r"order = 'first' is invalid"),
        (('description = "test"', 'description = "test"\nquestion = 3'), r"question = 3 is invalid"),
        (
            ('description = "test"', 'description = "test"\npaper_choice = { lstm_layers = 2 }'),
            r"paper_choice.lstm_layers is not an axis",
        ),
        (
            ('description = "test"', 'description = "test"\npaper_choice = { idr_stat = "mean" }'),
            r"paper_choice.idr_stat = mean is not one of axes.idr_stat",
        ),
    ],
)
def test_mistakes_fail_naming_file_key_and_choices(tmp_path, edit, expected):
    text = MINIMAL.replace(*edit)
    assert text != MINIMAL
    path = write(tmp_path, text)
    with pytest.raises(StudyError, match=expected) as info:
        load_study(path)
    assert str(path) in str(info.value)


def test_the_study_file_owns_its_question_the_papers_choice_and_its_order(tmp_path):
    text = MINIMAL.replace(
        'description = "test"',
        'description = "test"\nquestion = "Is the median best?"\norder = 2\npaper_choice = { idr_stat = "median" }',
    )
    definition = load_study(write(tmp_path, text, "b.toml")).definition()
    assert definition["question"] == "Is the median best?" and definition["order"] == 2
    assert definition["paper_choice"] == {"idr_stat": "median"}
    first = write(tmp_path, MINIMAL.replace('description = "test"', 'description = "test"\norder = 1'), "z.toml")
    unordered = write(tmp_path, MINIMAL, "a.toml")
    assert [p.name for p in find_study_files([], tmp_path)] == ["z.toml", "b.toml", "a.toml"]
    assert first.is_file() and unordered.is_file()


def test_an_invalid_study_stops_the_plan_before_anything_runs(tmp_path):
    good = write(tmp_path, MINIMAL, "good.toml")
    bad = write(tmp_path, MINIMAL.replace('"max"]', '"medain"]'), "bad.toml")
    with pytest.raises(StudyError, match="bad.toml"):
        plan_studies([good, bad])


def test_command_line_overrides(tmp_path):
    path = write(tmp_path, MINIMAL)
    study = load_study(path, profile="smoke", seeds=[5], overrides={"iterations": 7})
    assert study.seeds == [5] and all(r.spec.config.train.iterations == 7 for r in study.runs)
    assert all(r.spec.profile == "smoke" and r.spec.config.model.channels == (4, 8, 16) for r in study.runs)
    with pytest.raises(StudyError, match="overrides an axis"):
        load_study(path, overrides={"idr_stat": "max"})
    with pytest.raises(StudyError, match="unknown field --set.'iteration'"):
        load_study(path, overrides={"iteration": 3})
    assert parse_override("iterations=200") == ("iterations", 200)
    assert parse_override("channels=[4, 8, 16]") == ("channels", [4, 8, 16])
    assert parse_override("source=synth:subjects=8") == ("source", "synth:subjects=8")
    assert parse_override("max_test_frames=all") == ("max_test_frames", None)


def test_synthetic_only_study_is_not_applicable_to_real_data():
    path = REPO / "ablations" / "identity_cue.toml"
    with pytest.raises(StudyNotApplicable, match="identity_cue"):
        load_study(path, data="casia-b:/nowhere/casia-b.npz")
    plan = plan_studies(find_study_files(studies_dir=REPO / "ablations"), data="casia-b:/nowhere/casia-b.npz")
    assert [Path(f).stem for f, _ in plan.skipped] == ["identity_cue"]
    assert all(not r.spec.synthetic and r.spec.identity_cue is None for r in plan.study_runs)


def test_reference_rows_and_definition(tmp_path):
    path = write(tmp_path, MINIMAL.replace("seeds = [0, 1]", 'seeds = [0, 1, 2]\nreferences = ["gei"]'))
    study = load_study(path)
    gei = [r for r in study.runs if r.spec.method == "gei"]
    assert [r.cell.label for r in gei] == ["method=gei"] * 3 and not any(r.cell.is_baseline for r in gei)
    assert len({r.run_id for r in gei}) == 3
    fields = gei[0].spec.fields()
    assert fields["temporal"] is None and fields["idr_stat"] is None and fields["identity_cue"] == 0.5
    assert fields["iterations"] is None and fields["input_type"] is None and fields["downsample"] == 1
    assert fields["max_test_frames"] is None and fields["split"] == "LT" and fields["height"] == 64
    d = study.definition()
    assert d["axes"] == {"idr_stat": ["median", "max"]} and d["baseline"] == {"idr_stat": "median"}
    assert d["seeds"] == [0, 1, 2] and d["source_file"] == str(path) and d["base"]["temporal"] is True
    assert d["base"]["profile"] == "ablation" and d["base"]["identity_cue"] == 0.5
    with pytest.raises(StudyError, match="references"):
        load_study(write(tmp_path, MINIMAL.replace("seeds = [0, 1]", 'seeds = [0]\nreferences = ["gai"]'), "r.toml"))


def test_real_data_runs_carry_no_machine_local_path(tmp_path):
    """A committed store must not name the folder the data lived in: the row's source and data_source, the study's
    base and the run id use the portable form, so the same run has the same id on every machine."""
    from gstsn.config import portable_source

    assert portable_source("casia-b:/data/x/casia-b-sil-64x44.npz") == "casia-b:casia-b-sil-64x44.npz"
    assert portable_source("/data/caches/casia-b-64x44/") == "casia-b-64x44"
    assert portable_source("synth:subjects=6") == "synth:subjects=6"
    path = tmp_path / "ablations" / "s.toml"
    path.parent.mkdir()
    path.write_text('description = "d"\nseeds = [0]\n[axes]\ntemporal = [false, true]\n[baseline]\ntemporal = false\n')
    ids = []
    for where in ("/mnt/a", "/home/b/data"):
        study = load_study(path, profile="smoke", data=f"casia-b:{where}/casia-b-sil-64x44.npz")
        assert study.definition()["base"]["source"] == "casia-b:casia-b-sil-64x44.npz"
        assert all(sr.spec.fields()["source"] == "casia-b:casia-b-sil-64x44.npz" for sr in study.runs)
        ids.append([sr.run_id for sr in study.runs])
    assert ids[0] == ids[1]


def test_the_shipped_idr_study_planned_as_the_reference_was_keeps_the_committed_run_ids(tmp_path):
    folder = REPO / "reference" / "casia-b-cpu" / "idr_statistic"
    rows = [json.loads(line) for line in (folder / "runs.jsonl").read_text().splitlines()]
    committed = {(r["cell"], r["seed"]): r["run_id"] for r in rows}
    assert ("idr_stat=max+median", 0) in committed
    text = (REPO / "ablations" / "idr_statistic.toml").read_text()
    for spelling in ('"max+median"', '"median + max"'):
        path = write(tmp_path, text.replace('"max+median"', spelling), f"idr_statistic{len(spelling)}.toml")
        study = load_study(path, profile="cpu-real", data="casia-b:/any/casia-b-sil-64x44.npz", seeds=[0, 1, 2])
        assert {(sr.cell.label, sr.spec.seed): sr.run_id for sr in study.runs} == committed


def test_an_axis_value_has_one_spelling_and_two_spellings_of_it_are_refused(tmp_path):
    text = MINIMAL.replace('["median", "max"]', '["median", "median + max"]')
    study = load_study(write(tmp_path, text))
    assert study.axes == {"idr_stat": ["median", "max+median"]} and [c.label for c in study.cells] == [
        "idr_stat=median",
        "idr_stat=max+median",
    ]
    twice = MINIMAL.replace('["median", "max"]', '["median", "max+median", "median+max"]')
    path = write(tmp_path, twice, "twice.toml")
    with pytest.raises(StudyError) as info:
        load_study(path)
    message = str(info.value)
    assert str(path) in message and "axes.idr_stat" in message
    assert "'max+median' and 'median+max'" in message and "one value once parsed" in message
    baseline = write(tmp_path, MINIMAL.replace('idr_stat = "median"\n', 'idr_stat = " median"\n'), "base.toml")
    assert load_study(baseline).baseline == {"idr_stat": "median"}


def _study(base: str, axes: str, baseline: str) -> str:
    return f'description = "d"\nseeds = [0]\n[base]\n{base}\n[axes]\n{axes}\n[baseline]\n{baseline}\n'


def test_an_axis_that_does_not_change_the_model_is_refused_naming_why(tmp_path):
    path = write(tmp_path, _study("temporal = false", "lstm_layers = [0, 1, 2]", "lstm_layers = 2"))
    with pytest.raises(StudyError) as info:
        load_study(path)
    message = str(info.value)
    assert str(path) in message and "axes.lstm_layers has no effect on the model" in message
    assert "'lstm_layers=0' and 'lstm_layers=1'" in message and "temporal = false turns off" in message
    # on a grid with the model that reads it, GaitSet's cells would still coincide
    grid = _study("", "temporal = [false, true]\nlstm_layers = [0, 2]", "temporal = true\nlstm_layers = 2")
    with pytest.raises(StudyError, match="'temporal=false, lstm_layers=0' and 'temporal=false, lstm_layers=2'"):
        load_study(write(tmp_path, grid, "grid.toml"))
    modules = _study('temporal_module = "none"', "lstm_layers = [0, 2]", "lstm_layers = 2")
    with pytest.raises(StudyError, match=r"read only by the temporal module\(s\) lstm, and temporal_module = 'none'"):
        load_study(write(tmp_path, modules, "modules.toml"))
    one_value = _study("temporal = false", "lstm_layers = [2]", "lstm_layers = 2")  # one cell: nothing trains twice
    assert len(load_study(write(tmp_path, one_value, "one.toml")).cells) == 1


def test_study_json_base_leaves_out_the_axes(tmp_path):
    d = load_study(write(tmp_path, MINIMAL)).definition()
    assert "idr_stat" not in d["base"] and d["base"]["temporal"] is True and d["axes"]["idr_stat"] == ["median", "max"]
