"""Trainer: end-to-end smoke run, bit-identical resume after a crash, NaN stop, collapse flag, atomic checkpoints."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import pytest
import torch
from helpers.toy_data import SUBJECTS, make_toy_cache, read_log, toy_cfg
from torch import nn

from gstsn.config import resolve_profile
from gstsn.data.sampling import TripletSampler
from gstsn.models import build_model
from gstsn.train.checkpoint import list_checkpoints, load_checkpoint
from gstsn.train.logs import LOG_COLUMNS
from gstsn.train.trainer import TrainingDiverged, TrainingError, train


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_cache(tmp_path_factory.mktemp("toy") / "cache")


def run(cfg, out, toy, **kwargs):
    kwargs.setdefault("train_subjects", SUBJECTS[:6])
    return train(cfg, out, dataset=toy, device="cpu", progress=False, **kwargs)


def test_smoke_run_writes_log_checkpoints_and_config(toy, tmp_path):
    res = run(toy_cfg(), tmp_path, toy)
    assert res.status == "completed" and res.iteration == 4 and res.resumed_from is None
    rows = read_log(tmp_path)
    assert list(rows[0]) == list(LOG_COLUMNS)
    assert [int(r["iteration"]) for r in rows] == [1, 2, 3, 4]
    assert all(0 <= float(r["nonzero_frac"]) <= 1 for r in rows)
    walls = [float(r["wall_time"]) for r in rows]
    assert walls == sorted(walls) and walls[0] > 0
    assert [i for i, _ in list_checkpoints(tmp_path / "checkpoints")] == [2, 4]
    assert (tmp_path / "config.json").is_file()
    payload = load_checkpoint(res.checkpoint)
    assert payload["iteration"] == 4 and payload["config"]["train"]["iterations"] == 4
    assert not res.collapse["detected"]
    # the share of the CPUs others took while it trained: measured over the training time, kept for a resume
    assert res.cpu_others_share is not None and 0.0 <= res.cpu_others_share <= 1.0
    assert payload["cpu_capacity_s"] > 0 and "cpu_others_s" in payload


def test_training_leaves_the_global_torch_rng_alone_and_draws_nothing_from_it(toy, tmp_path):
    """No hidden global state: the caller's torch RNG is where it was, and a different one gives the same run."""
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = run(toy_cfg(), tmp_path / "a", toy)
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(999)  # another global state: the weights, batches and losses do not depend on it
    second = run(toy_cfg(), tmp_path / "b", toy)
    assert [r["loss"] for r in read_log(tmp_path / "a")] == [r["loss"] for r in read_log(tmp_path / "b")]
    assert first.iteration == second.iteration


class CrashAfter:
    """Sampler wrapper that dies when batch ``n`` is drawn (a killed job, as seen by the training loop)."""

    def __init__(self, n: int):
        self.n = n

    def __call__(self, *args, **kwargs):
        sampler = TripletSampler(*args, **kwargs)
        real_next, count = sampler.next_batch, [0]

        def next_batch():
            count[0] += 1
            if count[0] == self.n:
                raise KeyboardInterrupt("simulated kill")
            return real_next()

        sampler.next_batch = next_batch
        return sampler


@pytest.mark.parametrize(
    ("input_type", "prefetch", "temporal", "schedule"),
    [("set", 0, False, {}), ("sequence", 2, True, {}), ("set", 0, False, {"lr_schedule": "cosine", "warmup": 1})],
    ids=["set-gaitset", "seq-gstsn", "cosine-warmup"],
)
def test_resume_after_kill_is_bit_identical(toy, tmp_path, input_type, prefetch, temporal, schedule):
    cfg = toy_cfg(input_type=input_type, prefetch=prefetch, temporal=temporal, **schedule)
    straight = run(cfg, tmp_path / "straight", toy)
    with pytest.raises(KeyboardInterrupt):  # dies drawing batch 4: after the checkpoint at 2 and step 3
        run(cfg, tmp_path / "killed", toy, sampler_factory=CrashAfter(4))
    assert [i for i, _ in list_checkpoints(tmp_path / "killed" / "checkpoints")] == [2]
    resumed = run(cfg, tmp_path / "killed", toy, resume=True)
    assert resumed.resumed_from == 2 and resumed.iteration == 4

    drop_time = [{k: v for k, v in r.items() if k != "wall_time"} for r in read_log(tmp_path / "straight")]
    again = [{k: v for k, v in r.items() if k != "wall_time"} for r in read_log(tmp_path / "killed")]
    assert again == drop_time  # the same loss curve to the last bit (CSV holds full float reprs), rows 3.. redone
    a, b = load_checkpoint(straight.checkpoint), load_checkpoint(resumed.checkpoint)
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    assert a["sampler"] == b["sampler"] and a["np_rng"] == b["np_rng"]


def test_resume_refuses_a_different_config_but_allows_more_iterations(toy, tmp_path):
    run(toy_cfg(iterations=2, temporal=False), tmp_path, toy)
    with pytest.raises(TrainingError, match="lr: checkpoint 0.001 vs now 0.01"):
        run(toy_cfg(iterations=2, temporal=False, lr=0.01), tmp_path, toy, resume=True)
    with pytest.raises(TrainingError, match="already holds checkpoints"):
        run(toy_cfg(iterations=2, temporal=False), tmp_path, toy)
    res = run(toy_cfg(iterations=3, temporal=False), tmp_path, toy, resume=True)
    assert res.resumed_from == 2 and res.iteration == 3


class PoisonAt(nn.Module):
    """The real model, whose output turns NaN from forward call ``n`` on."""

    def __init__(self, cfg, n: int):
        super().__init__()
        self.inner, self.n, self.calls = build_model(cfg), n, 0

    def forward(self, x, seq_lens=None):
        self.calls += 1
        out = self.inner(x, seq_lens)
        return out * float("nan") if self.calls >= self.n else out


def test_nan_loss_stops_and_keeps_last_good_checkpoint(toy, tmp_path):
    with pytest.raises(TrainingDiverged, match="loss is nan at iteration 4.*ckpt-0000002.pt") as err:
        run(toy_cfg(temporal=False, iterations=6), tmp_path, toy, model_factory=lambda c: PoisonAt(c, 4))
    assert err.value.iteration == 4
    assert [i for i, _ in list_checkpoints(tmp_path / "checkpoints")] == [2]
    good = load_checkpoint(err.value.checkpoint)
    assert all(torch.isfinite(v).all() for v in good["model"].values())
    assert [int(r["iteration"]) for r in read_log(tmp_path)] == [1, 2, 3]


class Constant(nn.Module):
    """A collapsed embedding: every sequence maps to the same point (a learnable one, so Adam has parameters)."""

    def __init__(self, cfg):
        super().__init__()
        self.point = nn.Parameter(torch.zeros(cfg.num_parts, cfg.embed_dim))

    def forward(self, x, seq_lens=None):
        return self.point.expand(x.shape[0], -1, -1)


def test_collapse_is_flagged_in_log_and_result(toy, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="gstsn.train"):
        res = run(toy_cfg(iterations=8), tmp_path, toy, model_factory=Constant)
    assert res.collapse["detected"] and res.collapse["first_iteration"] == 1 and res.collapse["collapsed_at_end"]
    flags = [int(r["collapsed"]) for r in read_log(tmp_path)]
    assert flags == [0, 0, 0, 0, 1, 1, 1, 1]  # flagged once 5 consecutive logged rows look collapsed
    assert "embedding collapsed at iteration 5" in caplog.text


def test_healthy_run_is_not_flagged(toy, tmp_path):
    res = run(toy_cfg(iterations=6, temporal=False, checkpoint_every=6), tmp_path, toy)
    assert not res.collapse["detected"]
    assert all(r["collapsed"] == "0" for r in read_log(tmp_path))


def test_time_limit_stops_with_a_checkpoint(toy, tmp_path):
    res = run(toy_cfg(iterations=1000, checkpoint_every=500), tmp_path, toy, time_limit_s=1e-9)
    assert res.status == "time_limit" and res.iteration == 1
    assert [i for i, _ in list_checkpoints(tmp_path / "checkpoints")] == [1]


def test_frame_size_mismatch_is_named(toy, tmp_path):
    with pytest.raises(TrainingError, match="frames are 32×22 but the config expects 64×44"):
        run(resolve_profile("smoke"), tmp_path, toy)


def test_cuda_request_without_gpu_fails_clearly(toy, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(TrainingError, match="no CUDA device"):
        train(toy_cfg(), tmp_path, dataset=toy, train_subjects=SUBJECTS[:6], device="cuda", progress=False)


def read_tensorboard(path: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the TensorBoard events under ``path``: tag -> [(step, value)] in step order, resolved the way
    TensorBoard shows them (purged steps dropped)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(path), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_has_the_csv_scalars_and_one_curve_after_a_resume(toy, tmp_path):
    import tensorboard  # noqa: F401 - the `test` extra installs it: a missing package fails, never skips

    cfg = toy_cfg(eval_every=2)
    with pytest.raises(KeyboardInterrupt):  # killed drawing batch 4: checkpoint at 2, step 3 logged, then redone
        run(cfg, tmp_path, toy, test_subjects=SUBJECTS[6:], tensorboard=True, sampler_factory=CrashAfter(4))
    run(cfg, tmp_path, toy, test_subjects=SUBJECTS[6:], tensorboard=True, resume=True)
    scalars = read_tensorboard(tmp_path / "tensorboard")
    rows = read_log(tmp_path)
    for stat in ("loss", "dist_ap", "dist_an", "nonzero_frac", "collapsed"):
        assert [s for s, _ in scalars[f"train/{stat}"]] == [1, 2, 3, 4], stat
        assert [v for _, v in scalars[f"train/{stat}"]] == pytest.approx([float(r[stat]) for r in rows]), stat
    with (tmp_path / "eval_log.csv").open(newline="") as fh:
        evals = list(csv.DictReader(fh))
    for probe_set in ("NM", "BG", "CL"):
        mine = [r for r in evals if r["probe_set"] == probe_set]
        assert [s for s, _ in scalars[f"rank1/{probe_set}"]] == [int(r["iteration"]) for r in mine] == [2, 4]
        assert [v for _, v in scalars[f"rank1/{probe_set}"]] == pytest.approx([float(r["rank1_excl"]) for r in mine])
        assert [v for _, v in scalars[f"rank1_incl/{probe_set}"]] == pytest.approx(
            [float(r["rank1_incl"]) for r in mine]
        )


def test_tensorboard_without_the_package_fails_before_any_work(toy, tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard") or name.startswith("tensorboard"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(TrainingError, match=r"--tensorboard needs the tensorboard package .*gstsn\[tensorboard\]"):
        run(toy_cfg(), tmp_path, toy, tensorboard=True)
    assert not (tmp_path / "train_log.csv").exists() and not (tmp_path / "checkpoints").exists()


def test_learning_rate_schedule_per_step():
    from gstsn.config import learning_rate

    tc = toy_cfg(lr=1e-3, iterations=11, warmup=1, lr_schedule="cosine").train
    rates = [learning_rate(tc, i) for i in range(1, 12)]
    assert rates[0] == pytest.approx(1e-3) and rates[5] == pytest.approx(5e-4) and rates[-1] == pytest.approx(0.0)
    assert all(a >= b for a, b in zip(rates, rates[1:], strict=False))
    tc = toy_cfg(lr=1e-3, iterations=10, warmup=4).train
    assert [learning_rate(tc, i) for i in (1, 2, 4, 5, 10)] == pytest.approx([2.5e-4, 5e-4, 1e-3, 1e-3, 1e-3])


def test_the_logged_rate_is_the_one_used(toy, tmp_path):
    run(toy_cfg(temporal=False, lr=1e-3, warmup=2, log_every=1), tmp_path, toy)
    assert [float(r["lr"]) for r in read_log(tmp_path)] == pytest.approx([5e-4, 1e-3, 1e-3, 1e-3])


def test_schedule_fields_leave_earlier_run_ids_unchanged():
    from gstsn.config import config_hash

    assert config_hash(toy_cfg()) == config_hash(toy_cfg(lr_schedule="constant", warmup=0))
    assert config_hash(toy_cfg()) != config_hash(toy_cfg(lr_schedule="cosine"))
    assert config_hash(resolve_profile("smoke")) == "6731d2447b3d"  # the id it had before the fields existed
