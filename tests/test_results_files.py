"""The names of a run's files, declared once in ``gstsn.results.files``: the checkpoint names and their one parser,
which the trainer (resume) and the ablation store (a run's progress) both read."""

from __future__ import annotations

import pytest

from gstsn.ablate.store import WorkDir
from gstsn.results.files import CHECKPOINTS_DIR, checkpoint_iteration, checkpoint_name
from gstsn.train.checkpoint import checkpoint_path, list_checkpoints


def test_a_checkpoint_name_reads_back_as_its_iteration():
    assert checkpoint_name(1000) == "ckpt-0001000.pt"
    assert checkpoint_name(12345678) == "ckpt-12345678.pt"
    for it in (0, 7, 1000, 12345678):
        assert checkpoint_iteration(checkpoint_name(it)) == it


@pytest.mark.parametrize(
    "name",
    ["ckpt-0000004.pt.damaged", "ckpt-12.pt", "ckpt-+000004.pt", "ckpt-0_000_04.pt", ".ckpt-0000004.pt.tmp", "a.pt"],
)
def test_other_names_are_not_checkpoints(name):
    assert checkpoint_iteration(name) is None


def test_the_trainer_and_the_store_agree_on_which_files_are_checkpoints(tmp_path):
    work = WorkDir(tmp_path / "work")
    folder = work.run_dir("r1") / CHECKPOINTS_DIR
    folder.mkdir(parents=True)
    for it in (2, 4):
        checkpoint_path(folder, it).write_bytes(b"")
    for other in ("ckpt-0000006.pt.damaged", "ckpt-9.pt", "ckpt-+000008.pt"):  # the store once read 9 and 8 here
        (folder / other).write_bytes(b"")
    assert [it for it, _ in list_checkpoints(folder)] == [2, 4]
    assert work.checkpoint_iteration("r1") == 4
    assert work.checkpoint_iteration("r2") is None
