"""torchrun's rendezvous from Slurm's environment (gstsn.train.slurm_torchrun), parsed on the CPU from fake SLURM_*
variables; the real thing on the one-node cluster is in test_ablate_slurm_cluster.py."""

from __future__ import annotations

import pytest

from gstsn.train import slurm_torchrun
from gstsn.train.distributed import DistributedSetupError
from gstsn.train.slurm_torchrun import first_host, torchrun_args

TWO_NODES = {
    "SLURM_JOB_ID": "4242",
    "SLURM_JOB_NUM_NODES": "2",
    "SLURM_NODEID": "1",
    "SLURM_NTASKS": "2",
    "SLURM_JOB_NODELIST": "gpu[07-08]",
    "SLURM_GPUS_ON_NODE": "4",
}


@pytest.mark.parametrize(
    ("nodelist", "host"),
    [
        ("node1", "node1"),
        ("gpu[07-08]", "gpu07"),
        ("gpu[003,010-012]", "gpu003"),
        ("gpu[03-04,07],cpu1", "gpu03"),
        ("rack[1-2]-n[01-02]", "rack1-n01"),
        ("a.example.org,b.example.org", "a.example.org"),
    ],
)
def test_first_host_of_a_slurm_hostlist(nodelist, host):
    assert first_host(nodelist) == host


def test_second_node_of_a_two_node_job():
    assert torchrun_args(TWO_NODES) == [
        "--nnodes=2",
        "--node-rank=1",
        "--nproc-per-node=4",
        "--rdzv-backend=c10d",
        "--rdzv-endpoint=gpu07:29500",
        "--rdzv-id=4242",
    ]
    args = torchrun_args({**TWO_NODES, "SLURM_NODEID": "0"}, nproc_per_node=2, port=12345)
    assert "--node-rank=0" in args and "--nproc-per-node=2" in args and "--rdzv-endpoint=gpu07:12345" in args
    old_names = {k: v for k, v in TWO_NODES.items() if k not in ("SLURM_JOB_NUM_NODES", "SLURM_JOB_NODELIST")}
    assert torchrun_args({**old_names, "SLURM_NNODES": "2", "SLURM_NODELIST": "gpu[07-08]"}) == torchrun_args(TWO_NODES)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"SLURM_JOB_ID": None}, "SLURM_JOB_ID is not set"),
        ({"SLURM_NODEID": None}, "SLURM_NODEID not set: start this with srun"),
        ({"SLURM_JOB_NUM_NODES": "two"}, "SLURM_JOB_NUM_NODES='two' is not an integer"),
        ({"SLURM_NTASKS": "8"}, "run one torchrun per node (#SBATCH --ntasks-per-node=1)"),
        ({"SLURM_NODEID": "2"}, "SLURM_NODEID=2 is outside 0..1"),
        ({"SLURM_GPUS_ON_NODE": None}, "give --nproc-per-node N"),
        ({"SLURM_JOB_NODELIST": "gpu[07-08"}, "is not a Slurm hostlist"),
    ],
)
def test_inconsistent_environment_is_a_clear_error(change, message):
    env = {k: v for k, v in {**TWO_NODES, **change}.items() if v is not None}
    with pytest.raises(DistributedSetupError) as info:
        torchrun_args(env)
    assert message in str(info.value)


def test_main_prints_the_command_or_names_the_problem(monkeypatch, capsys):
    for key, value in TWO_NODES.items():
        monkeypatch.setenv(key, value)
    assert slurm_torchrun.main(["--dry-run", "--", "-m", "gstsn", "train", "--profile", "paper"]) == 0
    err = capsys.readouterr().err
    assert "-m torch.distributed.run --nnodes=2 --node-rank=1 --nproc-per-node=4" in err
    assert err.rstrip().endswith("--rdzv-id=4242 -m gstsn train --profile paper")
    monkeypatch.delenv("SLURM_JOB_ID")
    assert slurm_torchrun.main(["--", "-m", "gstsn", "train"]) == 2
    assert "SLURM_JOB_ID is not set" in capsys.readouterr().err
