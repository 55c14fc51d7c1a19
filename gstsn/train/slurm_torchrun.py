"""``torchrun`` in a Slurm job, one per node, with the rendezvous taken from Slurm's variables (docs/cluster.md)::

    srun python -m gstsn.train.slurm_torchrun [--nproc-per-node N] [--port 29500] -- -m gstsn train ...

On every node of the allocation it runs ``python -m torch.distributed.run`` (torchrun) with

- ``--nnodes`` = ``SLURM_JOB_NUM_NODES`` and ``--node-rank`` = ``SLURM_NODEID``;
- ``--nproc-per-node`` = the option, else ``SLURM_GPUS_ON_NODE`` (one process per GPU);
- ``--rdzv-backend c10d``, ``--rdzv-endpoint`` = the allocation's first host (``SLURM_JOB_NODELIST``, a Slurm
  hostlist such as ``gpu[03-04,07]``) and ``--port``, ``--rdzv-id`` = ``SLURM_JOB_ID``.

torchrun then sets ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` for each worker (read by
:meth:`gstsn.train.distributed.DistContext.from_env`). Exactly one task per node is expected (``#SBATCH
--ntasks-per-node=1``): torchrun starts the node's processes itself.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from collections.abc import Mapping, Sequence

from gstsn.train.distributed import DistributedSetupError

DEFAULT_PORT = 29500


def first_host(nodelist: str) -> str:
    """The first host of a Slurm hostlist: ``gpu[03-04,07],cpu1`` → ``gpu03``; ``r[1-2]-n[01-02]`` → ``r1-n01``."""
    text = nodelist.strip()
    depth, end = 0, len(text)
    for i, c in enumerate(text):  # the first top-level comma ends the first group
        depth += {"[": 1, "]": -1}.get(c, 0)
        if c == "," and depth == 0:
            end = i
            break
    group = text[:end]
    host = re.sub(r"\[([^\]]*)\]", lambda m: re.split(r"[-,]", m.group(1))[0], group)
    if not host or any(c in host for c in "[],") or not re.fullmatch(r"[A-Za-z0-9._-]+", host):
        raise DistributedSetupError(f"SLURM_JOB_NODELIST={nodelist!r} is not a Slurm hostlist such as gpu[01-04]")
    return host


def _int(env: Mapping[str, str], *keys: str) -> int | None:
    for key in keys:
        raw = env.get(key)
        if raw not in (None, ""):
            try:
                return int(str(raw).split("(")[0])  # SLURM_TASKS_PER_NODE style "2(x3)" is not read here
            except ValueError:
                raise DistributedSetupError(f"environment variable {key}={raw!r} is not an integer") from None
    return None


def torchrun_args(
    env: Mapping[str, str] | None = None, nproc_per_node: int | None = None, port: int = DEFAULT_PORT
) -> list[str]:
    """torchrun's options for this node of the Slurm job described by ``env`` (default: ``os.environ``)."""
    env = os.environ if env is None else env
    job_id = env.get("SLURM_JOB_ID")
    if not job_id:
        raise DistributedSetupError("SLURM_JOB_ID is not set: run this inside a Slurm job (sbatch + srun)")
    nnodes = _int(env, "SLURM_JOB_NUM_NODES", "SLURM_NNODES")
    node_rank = _int(env, "SLURM_NODEID")
    nodelist = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
    missing = [k for k, v in (("SLURM_JOB_NUM_NODES", nnodes), ("SLURM_NODEID", node_rank)) if v is None]
    if missing or not nodelist:
        raise DistributedSetupError(
            f"{', '.join(missing + ([] if nodelist else ['SLURM_JOB_NODELIST']))} not set: start this with srun "
            "inside the job (srun python -m gstsn.train.slurm_torchrun ...)"
        )
    ntasks = _int(env, "SLURM_NTASKS")
    if ntasks is not None and ntasks != nnodes:
        raise DistributedSetupError(
            f"SLURM_NTASKS={ntasks} but SLURM_JOB_NUM_NODES={nnodes}: run one torchrun per node "
            "(#SBATCH --ntasks-per-node=1); torchrun starts the node's processes itself"
        )
    if not 0 <= node_rank < nnodes:
        raise DistributedSetupError(f"SLURM_NODEID={node_rank} is outside 0..{nnodes - 1} (SLURM_JOB_NUM_NODES)")
    nproc = nproc_per_node if nproc_per_node is not None else _int(env, "SLURM_GPUS_ON_NODE")
    if nproc is None or nproc < 1:
        raise DistributedSetupError(
            "no GPUs on this node (SLURM_GPUS_ON_NODE unset or 0): ask for them (#SBATCH --gpus-per-node=N) or give "
            "--nproc-per-node N (CPU processes)"
        )
    if not 0 < port < 65536:
        raise DistributedSetupError(f"--port {port}: expected 1..65535")
    return [
        f"--nnodes={nnodes}",
        f"--node-rank={node_rank}",
        f"--nproc-per-node={nproc}",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint={first_host(nodelist)}:{port}",
        f"--rdzv-id={job_id}",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gstsn.train.slurm_torchrun",
        description="torchrun on this node of a Slurm job, with the rendezvous from SLURM_* (see docs/cluster.md). "
        "Everything after -- goes to torchrun, e.g. -- -m gstsn train --profile paper ...",
    )
    parser.add_argument("--nproc-per-node", type=int, default=None, help="processes here (default: the node's GPUs)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"rendezvous port (default {DEFAULT_PORT})")
    parser.add_argument("--dry-run", action="store_true", help="print the torchrun command and exit")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then torchrun's script and its arguments")
    args = parser.parse_args(argv)
    rest = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not rest:
        parser.error("nothing to run: add -- -m gstsn train ...")
    try:
        opts = torchrun_args(nproc_per_node=args.nproc_per_node, port=args.port)
    except DistributedSetupError as exc:
        print(f"gstsn.train.slurm_torchrun: error: {exc}", file=sys.stderr)
        return 2
    cmd = [sys.executable, "-m", "torch.distributed.run", *opts, *rest]
    print(f"node {os.environ.get('SLURM_NODEID')}: {shlex.join(cmd)}", file=sys.stderr, flush=True)
    if args.dry_run:
        return 0
    os.execv(sys.executable, cmd)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
