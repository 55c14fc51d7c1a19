"""One precision per run: ``cpu_precision`` (fp32 / bf16) on the CPU, ``amp`` on CUDA; ``--precision auto`` resolves to
bf16 where the CPU has it in hardware, and a study already stored keeps its runs' precision. Every fp32 run id from
before the field is unchanged; a bf16 run has its own id."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from gstsn.config import ConfigError, config_hash, resolve_profile
from gstsn.precision import autocast, autocast_dtype, precision_used, resolve_cpu_precision

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.fixture
def native(monkeypatch):
    def set_native(flag: bool) -> None:
        monkeypatch.setenv("GSTSN_CPU_BF16", "1" if flag else "0")

    return set_native


def test_auto_is_bf16_only_where_the_cpu_has_it(native):
    native(True)
    assert resolve_cpu_precision("auto")[0] == "bf16"
    native(False)
    value, why = resolve_cpu_precision("auto")
    assert value == "fp32" and "no bf16 in hardware" in why


def test_auto_keeps_the_precision_of_the_stored_runs(native):
    native(True)
    value, why = resolve_cpu_precision("auto", stored="fp32")
    assert value == "fp32" and "already stored" in why and "although this CPU has bf16" in why
    native(False)
    value, why = resolve_cpu_precision("auto", stored="bf16")
    assert value == "bf16" and "emulated" in why


def test_an_explicit_precision_is_used_as_given(native):
    native(False)
    assert resolve_cpu_precision("fp32", stored="bf16")[0] == "fp32"
    value, why = resolve_cpu_precision("bf16")
    assert value == "bf16" and "emulated" in why
    with pytest.raises(ValueError, match="--precision 'fp16' is invalid"):
        resolve_cpu_precision("fp16")


def test_autocast_follows_the_device_and_the_config():
    fp32, bf16 = SimpleNamespace(amp=True, cpu_precision="fp32"), SimpleNamespace(amp=False, cpu_precision="bf16")
    assert autocast_dtype(CPU, fp32) is None and precision_used(CPU, fp32) == "fp32"
    assert autocast_dtype(CPU, bf16) is torch.bfloat16 and precision_used(CPU, bf16) == "bf16"
    assert autocast_dtype(CUDA, fp32) is torch.bfloat16 and autocast_dtype(CUDA, bf16) is None  # amp decides there
    x, w = torch.randn(3, 4), torch.randn(4, 2)
    with autocast(CPU, bf16):
        assert (x @ w).dtype == torch.bfloat16
    with autocast(CPU, fp32):
        assert (x @ w).dtype == torch.float32


def test_the_run_id_names_bf16_and_keeps_every_fp32_id():
    smoke = resolve_profile("smoke")
    assert smoke.train.cpu_precision == "fp32"
    assert config_hash(smoke) == "6731d2447b3d"  # the smoke id from before the field existed
    assert config_hash(resolve_profile("smoke", cpu_precision="bf16")) != config_hash(smoke)
    with pytest.raises(ConfigError, match="TrainConfig.cpu_precision = 'fp16' is invalid"):
        resolve_profile("smoke", cpu_precision="fp16")


def test_the_committed_reference_runs_keep_their_ids():
    """Every learned run of the committed real-data stores is still the hash of its recorded config."""
    from gstsn.config import RunConfig

    rows = []
    for path in sorted((Path(__file__).resolve().parents[1] / "reference").glob("*/*/runs.jsonl")):
        rows += [json.loads(line) for line in path.read_text().splitlines()]
    learned = [r for r in rows if r.get("method") != "gei"]
    assert learned, "no committed reference runs found"
    for row in learned:
        assert config_hash(RunConfig.from_row(row)) == row["run_id"], row["run_id"]


def test_a_bf16_smoke_training_records_its_precision(tmp_path):
    """A CPU bf16 run (emulated where the CPU lacks it) trains, evaluates and records bf16 in its provenance."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "gstsn", "train", "--profile", "smoke", "--data", "synth:subjects=6,frames_min=8,"
           "frames_max=12", "--iterations", "2", "--device", "cpu", "--cpu-precision", "bf16", "--out", str(out),
           "--no-progress"]  # fmt: skip
    env = {"GSTSN_CACHE_ROOT": str(tmp_path / "cache")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    payload = json.loads((out / "results.json").read_text())
    assert payload["provenance"]["precision"] == "bf16"
    assert payload["config"]["train"]["cpu_precision"] == "bf16"
    assert "rank-1" in proc.stdout
