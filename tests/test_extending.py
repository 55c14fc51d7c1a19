"""docs/extending.md's temporal-module recipe, followed by a test: a throwaway module written and registered here (no
project file is touched), then a smoke study that varies it, its dry-run cost, its training and its report page."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gstsn.cli import main
from gstsn.config import ModelConfig
from gstsn.config.registry import TEMPORAL_MODULES, Component

STUDY = """
description = "GSTSN with the paper's LSTM or a throwaway mean over three neighbouring frames"
seeds = [0]

[base]
temporal = true
idr_stat = "median"

[axes]
temporal_module = ["lstm", "mean3"]

[baseline]
temporal_module = "lstm"
"""


class MeanOfThreeFrames(nn.Module):
    """Mean of each frame and its two neighbours, times a learned gain per channel (a throwaway test module)."""

    def __init__(self, cfg: ModelConfig) -> None:  # step 1: the constructor takes the ModelConfig
        super().__init__()
        self.gain = nn.Parameter(torch.ones(cfg.channels[2]))

    def forward(self, seqs: torch.Tensor, seq_lens: list[int], mask: torch.Tensor | None) -> torch.Tensor:
        n, s, h, c = seqs.shape  # step 2: (n, s, h, c) in, the same shape out
        x = seqs.permute(0, 2, 3, 1).reshape(n * h, c, s)
        x = F.avg_pool1d(F.pad(x, (1, 1), mode="replicate"), kernel_size=3, stride=1)
        return (x.reshape(n, h, c, s).permute(0, 3, 1, 2)) * self.gain


@pytest.fixture
def mean3():
    """Step 3: one registry entry (in the project: one line in gstsn/config/registry.py; here, for the test only)."""
    entry = TEMPORAL_MODULES.add(Component("mean3", "mean of 3 frames", MeanOfThreeFrames))
    yield entry
    TEMPORAL_MODULES.remove("mean3")


def test_a_module_registered_from_outside_works_in_a_study_and_its_report(tmp_path, monkeypatch, capsys, mean3):
    monkeypatch.chdir(tmp_path)  # every default path (caches, results) lands here, never in the checkout
    assert mean3.scope == "temporal.mean3" and "mean3" in TEMPORAL_MODULES.names
    study = tmp_path / "ablations" / "throwaway_module.toml"  # step 4: a study with the new value on an axis
    study.parent.mkdir()
    study.write_text(STUDY)
    data = "synth:subjects=6,frames_min=8,frames_max=12"
    folders = [f"--{name}={tmp_path / folder}" for name, folder in (("results", "results"), ("work", "work"))]
    common = [*folders, f"--cache-root={tmp_path / 'cache'}", "--profile=smoke", f"--data={data}", "--device=cpu"]
    common.append("--jobs=1")  # one process: the one that registered mean3 (a registry line reaches every process)
    assert main(["ablations", "run", str(study), *common, "--dry-run"]) == 0
    dry = capsys.readouterr().out
    mean3_line = next(line for line in dry.splitlines() if "temporal_module=mean3" in line)
    assert mean3_line.split()[3].isalnum() and "to do" in mean3_line  # its run id, its cost from measured FLOPs
    assert main(["ablations", "run", str(study), *common, "--no-progress"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "results" / "throwaway_module" / "runs.jsonl").open()]
    assert [(r["cell"], r["temporal_module"]) for r in rows] == [
        ("temporal_module=lstm", "lstm"),
        ("temporal_module=mean3", "mean3"),
    ]
    assert all(0 <= r["rank1.per_part.NM"] <= 100 for r in rows)
    assert main(["report", str(tmp_path / "results"), "--out", str(tmp_path / "reports")]) == 0
    page = (tmp_path / "reports" / "study-throwaway_module.html").read_text(encoding="utf-8")
    assert "mean3 (mean of 3 frames)" in page and "temporal_module=mean3" in page
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ablations", "cache", "reports", "results", "work"]


def test_a_name_is_registered_once_and_unknown_names_list_the_registered_ones(mean3):
    from gstsn.config import ConfigError

    with pytest.raises(ConfigError, match="'mean3' is registered already"):
        TEMPORAL_MODULES.add(Component("mean3", build=MeanOfThreeFrames))
    with pytest.raises(ConfigError, match="temporal_module = 'mean4'.*'lstm', 'tconv', 'mean3'"):
        ModelConfig(temporal_module="mean4")


def test_an_idr_statistic_registered_from_outside_is_a_value_a_sum_term_and_runs_in_the_idr_scope():
    from gstsn.config.registry import IDR_STATISTICS
    from gstsn.models import build_model

    entry = IDR_STATISTICS.add(Component("std", build=lambda x, dim: x.std(dim=dim)))
    try:
        assert entry.scope == "temporal.idr"
        cfg = ModelConfig(idr_stat="std + median", channels=(4, 8, 16), hpm_bins=(1, 2, 4), embed_dim=8)
        assert cfg.idr_stat == "median+std"  # one spelling of a sum: its terms in alphabetical order
        with torch.inference_mode():
            assert build_model(cfg)(torch.rand(2, 5, 32, 22)).shape == (2, 21, 8)
    finally:
        IDR_STATISTICS.remove("std")
