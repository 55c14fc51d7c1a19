"""The small study files the ablation-runner tests write (runner, commands, kill, Slurm unit and cluster tests): two
shapes, written once here.

- :func:`layers_study`: GSTSN with ``lstm_layers`` 0 vs 2 (baseline 2);
- :func:`models_study`: GaitSet vs GSTSN (``temporal`` false vs true, baseline GaitSet), optionally the GEI row.
"""

from __future__ import annotations

from collections.abc import Sequence


def _seeds(seeds: Sequence[int]) -> str:
    return "[" + ", ".join(str(int(s)) for s in seeds) + "]"


def layers_study(
    description: str, seeds: Sequence[int] = (0,), layers: Sequence[int] = (0, 2), temporal: bool = True
) -> str:
    return f"""
description = "{description}"
seeds = {_seeds(seeds)}
[base]
temporal = {str(temporal).lower()}
[axes]
lstm_layers = {_seeds(layers)}
[baseline]
lstm_layers = 2
"""


def models_study(description: str, seeds: Sequence[int] = (0,), gei: bool = True) -> str:
    references = 'references = ["gei"]\n' if gei else ""
    return f"""
description = "{description}"
seeds = {_seeds(seeds)}
{references}[base]
lstm_layers = 2
[axes]
temporal = [false, true]
[baseline]
temporal = false
"""
