"""Subject splits: the CASIA-B lists, user files, proportional splits; train and test never overlap."""

from __future__ import annotations

import json

import pytest

from gstsn.data.naming import CASIA_B_SUBJECTS
from gstsn.data.splits import SPLIT_NAMES, SplitError, load_split

EXPECTED_TRAIN = {"LT": 74, "MT": 62, "ST": 24}


def test_the_validation_split_lies_inside_lts_training_subjects():
    val, lt = load_split("LT-val", CASIA_B_SUBJECTS), load_split("lt", CASIA_B_SUBJECTS)
    assert val.name == "LT-val" and val.mode == "fixed"
    assert val.train == [f"{i:03d}" for i in range(1, 63)] and val.test == [f"{i:03d}" for i in range(63, 75)]
    assert set(val.train) | set(val.test) == set(lt.train) and not (set(val.train) | set(val.test)) & set(lt.test)


@pytest.mark.parametrize("name", ("LT", "MT", "ST"))
def test_casia_b_splits(name):
    split = load_split(name, CASIA_B_SUBJECTS)
    n = EXPECTED_TRAIN[name]
    assert split.mode == "fixed" and split.name == name
    assert split.train == [f"{i:03d}" for i in range(1, n + 1)]
    assert split.test == [f"{i:03d}" for i in range(n + 1, 125)]
    assert not set(split.train) & set(split.test)


@pytest.mark.parametrize("n_subjects", [2, 7, 50, 60, 123, 124, 300])
@pytest.mark.parametrize("name", SPLIT_NAMES)
def test_train_and_test_never_overlap(name, n_subjects):
    available = [f"{i:03d}" for i in range(1, n_subjects + 1)]
    if n_subjects == 123 and name != "LT-val":  # auto mode reads it as CASIA-B, which then lacks subject 124
        with pytest.raises(SplitError, match="needs 1 subject"):
            load_split(name, available)
        return
    split = load_split(name, available)
    assert not set(split.train) & set(split.test)
    assert split.train and split.test
    assert set(split.train) | set(split.test) <= set(available)


def test_proportional_split_for_synthetic_sizes():
    split = load_split("LT", [f"{i:03d}" for i in range(1, 51)])
    assert split.mode == "proportional"
    assert split.train == [f"{i:03d}" for i in range(1, 31)]  # round(50 * 74 / 124) = 30
    assert split.test == [f"{i:03d}" for i in range(31, 51)]
    assert len(load_split("ST", [f"{i:03d}" for i in range(1, 51)]).train) == 10  # round(50 * 24 / 124)


def test_data_lacking_subjects_that_the_split_needs_is_one_error_naming_them():
    available = [s for s in CASIA_B_SUBJECTS if s not in ("005", "100")]
    with pytest.raises(SplitError, match=r"split LT needs 2 subject\(s\) that the data lacks \(005, 100; it has 122"):
        load_split("LT", available)
    assert load_split("LT", available, mode="proportional").mode == "proportional"  # the library's way out


def test_fixed_mode_on_data_without_the_test_subjects_is_an_error():
    with pytest.raises(SplitError, match=r"split LT needs 74 subject\(s\) that the data lacks \(051, 052,"):
        load_split("LT", [f"{i:03d}" for i in range(1, 51)], mode="fixed")


def test_user_split_file(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"TRAIN_SET": ["1", "002", "003"], "TEST_SET": ["004", "005"]}))
    split = load_split(path, ["001", "002", "003", "004", "005"])
    assert (split.train, split.test, split.name) == (["001", "002", "003"], ["004", "005"], "mine")
    path.write_text(json.dumps({"TRAIN_SET": ["001", "002"], "TEST_SET": ["002", "003"]}))
    with pytest.raises(SplitError, match=r"subject\(s\) \['002'\] are in both TRAIN_SET and TEST_SET"):
        load_split(path, ["001", "002", "003"])
    path.write_text(json.dumps({"TRAIN": ["001"], "TEST_SET": ["002"]}))
    with pytest.raises(SplitError, match=r"unknown key\(s\) \['TRAIN'\]"):
        load_split(path, ["001", "002"])
    path.write_text("[1, 2")
    with pytest.raises(SplitError, match="not JSON"):
        load_split(path, ["001", "002"])


def test_unknown_split_and_mode():
    with pytest.raises(SplitError, match=r"unknown split 'XL': expected one of \['LT', 'MT', 'ST', 'LT-val'\]"):
        load_split("XL", CASIA_B_SUBJECTS)
    with pytest.raises(SplitError, match="split mode 'random' is invalid"):
        load_split("LT", CASIA_B_SUBJECTS, mode="random")
    with pytest.raises(SplitError, match="need at least 2 subjects"):
        load_split("LT", ["001"])
