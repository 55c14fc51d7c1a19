"""Data-parallel training: 2 CPU processes (gloo) follow the 1-process loss curve; environment parsing; sharding."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from gstsn.config import resolve_profile
from gstsn.data.cache import SilhouetteCache
from gstsn.train.distributed import DistContext, DistributedSetupError, shard_rows
from gstsn.train.trainer import train

CFG = {"height": 32, "width": 22, "downsample": 2, "temporal": True, "iterations": 3, "checkpoint_every": 3}
SUBJECTS = [f"{i:03d}" for i in range(1, 7)]


def _worker(rank: int, world: int, cache_dir: str, out: str, rendezvous: str) -> None:
    torch.set_num_threads(1)
    try:
        train(
            resolve_profile("smoke", **CFG),
            out,
            dataset=SilhouetteCache.open(cache_dir),
            train_subjects=SUBJECTS,
            device="cpu",
            progress=False,
            dist_ctx=DistContext(rank=rank, world_size=world, local_rank=rank),
            dist_init_method=f"file://{rendezvous}",
        )
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _losses(out: Path) -> list[float]:
    with (out / "train_log.csv").open(newline="") as fh:
        return [float(r["loss"]) for r in csv.DictReader(fh)]


def test_two_gloo_processes_match_one_process(tmp_path):
    from helpers.toy_data import make_toy_cache

    cache = make_toy_cache(tmp_path / "cache")
    single = train(
        resolve_profile("smoke", **CFG),
        tmp_path / "one",
        dataset=cache,
        train_subjects=SUBJECTS,
        device="cpu",
        progress=False,
    )
    mp.spawn(_worker, args=(2, str(tmp_path / "cache"), str(tmp_path / "two"), str(tmp_path / "rdv")), nprocs=2)
    one, two = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert len(one) == len(two) == 3
    assert two[0] == pytest.approx(one[0], rel=1e-6)  # same weights, same global batch
    assert two == pytest.approx(one, rel=1e-4)  # same updates up to summation order
    assert one[-1] < one[0]  # and the run actually trains
    assert single.world_size == 1 and [p.name for p in (tmp_path / "two" / "checkpoints").iterdir()] == [
        "ckpt-0000003.pt"
    ]


def test_env_context():
    assert DistContext.from_env({}) == DistContext(0, 1, 0)
    assert DistContext.from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}) == DistContext(1, 2, 1)
    with pytest.raises(DistributedSetupError, match="RANK=2, WORLD_SIZE=2"):
        DistContext.from_env({"RANK": "2", "WORLD_SIZE": "2"})
    with pytest.raises(DistributedSetupError, match="WORLD_SIZE='two'"):
        DistContext.from_env({"WORLD_SIZE": "two"})


def test_shard_rows():
    assert shard_rows(16, DistContext(1, 2, 1)) == slice(8, 16)
    assert shard_rows(16, DistContext()) == slice(0, 16)
    with pytest.raises(DistributedSetupError, match="16 sequences does not split evenly over WORLD_SIZE=3"):
        shard_rows(16, DistContext(0, 3, 0))
