"""A study's axis values as the config reads them, and the checks that need them.

- Each value is parsed once into its canonical typed value: the value of the field in the resolved config, the value
  a run id hashes (``"median + max"`` and ``"max+median"`` are both ``max+median``). Cells, their labels, the baseline,
  the paper's choice and ``study.json`` all use it: one spelling, one cell, one run id.
- Two spellings of one value on an axis are refused, naming both.
- An axis whose values give cells with the same model is refused, naming why: a field the model of those cells does
  not read (``lstm_layers`` when ``temporal = false``) would train one model under several run ids. Which fields a
  model reads is the component registry's (:func:`gstsn.config.registry.model_reads`).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gstsn.ablate.spec import SYNTH_FIELDS, StudyCell, StudyError, plain_value, synth_config
from gstsn.config import RunConfig, config_to_dict
from gstsn.config.registry import model_reads, why_unread
from gstsn.results.cells import cell_value


def field_value(cfg: RunConfig, name: str) -> Any:
    """The canonical value of the study field ``name`` in a resolved config (its plain JSON spelling)."""
    if name in SYNTH_FIELDS:
        return plain_value(getattr(synth_config(cfg.data.source), name))
    return plain_value(cfg.flat()[name])


def canonical_axes(where: str, axes: Mapping[str, list[Any]], resolved: Mapping[str, list[RunConfig]]) -> dict:
    """``axes`` with each value replaced by its canonical value (``resolved[name][i]`` is the config of the i-th
    value); a value listed twice once parsed raises :class:`StudyError` naming the file, the axis and both spellings."""
    out: dict[str, list[Any]] = {}
    for name, values in axes.items():
        seen: dict[str, Any] = {}
        out[name] = []
        for raw, cfg in zip(values, resolved[name], strict=True):
            value = field_value(cfg, name)
            key = json.dumps(value, sort_keys=True)
            if key in seen:
                raise StudyError(
                    f"{where}: axes.{name} lists {seen[key]!r} and {raw!r}, which are one value once parsed "
                    f"({cell_value(value)}): they would be one cell and one run id; list it once"
                )
            seen[key] = raw
            out[name].append(value)
    return out


def canonical_choice(values: Mapping[str, Any], resolve: Callable[[str, Any], RunConfig | None]) -> dict[str, Any]:
    """A ``[baseline]`` or ``paper_choice`` table with each value canonical; a value that does not resolve
    (``resolve`` returns None) is kept as written, for the check against the axes to name it."""
    out = {}
    for name, value in values.items():
        cfg = resolve(name, value)
        out[name] = field_value(cfg, name) if cfg is not None else value
    return out


def check_axes_change_the_model(where: str, cells: Sequence[tuple[StudyCell, RunConfig]], axes: Sequence[str]) -> None:
    """Refuse two grid cells that would train the same model on the same data: they differ only in fields their
    model does not read. The message names the axis and why the model does not read it."""
    seen: dict[str, tuple[StudyCell, RunConfig]] = {}
    for cell, cfg in cells:
        values = config_to_dict(cfg)
        reads = set(model_reads(cfg.model))
        values["model"] = {k: v for k, v in values["model"].items() if k in reads}
        key = json.dumps(values, sort_keys=True)
        if key not in seen:
            seen[key] = (cell, cfg)
            continue
        other, _ = seen[key]
        axis = next(a for a in axes if plain_value(cell.values[a]) != plain_value(other.values[a]))
        raise StudyError(
            f"{where}: axes.{axis} has no effect on the model of cells '{other.label}' and '{cell.label}', which "
            f"would train the same model under two run ids: {why_unread(cfg.model, axis)}. Keep the axis to the "
            "cells whose model reads it (another study), or remove it"
        )


def grid(axes: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the axes' values, first axis slowest."""
    return [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]


__all__ = ["canonical_axes", "canonical_choice", "check_axes_change_the_model", "field_value", "grid"]
