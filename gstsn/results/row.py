"""The results row (one line of ``runs.jsonl``, docs/results.md): its keys declared once, in the order a row holds
them.

:class:`RunRow` is the row of one run as the ablation runner's executor fills it (:mod:`gstsn.ablate.execute`);
:meth:`RunRow.as_dict` is the flat JSON object it stores in ``result.json``, and :func:`study_row` the line of a
study's ``runs.jsonl``: the study keys (:data:`STUDY_KEYS`) after ``run_id``, then the rest. A row holds, in order:

- identity: ``run_id``, (``study``, ``cell``, ``is_baseline`` in a study's file), ``seed``, ``method``;
- every config field under its own name (:data:`CONFIG_KEYS`; model and training fields null in a reference row);
- the data: ``profile``, ``data_source``, ``data_fingerprint``, ``synthetic``, ``split_mode``, ``train_subjects``,
  ``test_subjects``;
- training: ``train_time_s``, ``eval_time_s``, ``final_loss``, ``final_dist_ap``, ``final_dist_an``,
  ``final_nonzero_frac``, ``collapsed`` (null / false in a reference row, which trains nothing), then in the row of
  a trained run only :class:`TrainedKeys` (``collapse_at_end``, ``sec_per_iter``, ``resumed_from``,
  ``cpu_others_share``);
- the evaluation: ``eval_sequences``, ``eval_frames``, the metrics (keys of :mod:`gstsn.results.metrics`),
  ``rank1_notes``;
- provenance (:class:`Provenance`), then ``config_hash``.

Readers read rows as plain objects (:func:`gstsn.results.runs.read_runs`): a row written by an older version may
lack keys declared here (``cpu_others_share``, ``precision``, ``temporal_module``, ...) or hold keys no longer
written, and is read as it is. A reader names the keys it needs with :func:`row_keys`, which refuses an undeclared
name (at import: a typo cannot silently read nothing).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gstsn.config import FIELD_SECTIONS


@dataclass(frozen=True)
class TrainedKeys:
    """The keys only the row of a trained run holds (not a reference row's)."""

    collapse_at_end: bool  # the embedding collapsed at the last logged iteration
    sec_per_iter: float | None  # training seconds per iteration (null for a run that only reloaded its weights)
    resumed_from: int | None  # the iteration a resumed run continued from, else null
    cpu_others_share: float | None  # the share of the CPUs other processes took while it trained (0..1)


@dataclass(frozen=True)
class Provenance:
    """Where and when a row was computed."""

    commit: str | None
    dirty: bool | None
    torch: str
    device: str
    device_name: str | None
    cpu_model: str | None
    precision: str | None  # fp32 / bf16: what the forward passes computed in
    threads: int
    date: str  # ISO 8601, UTC
    gstsn_version: str | None


def _spliced(record: type | None = None, **kw: Any) -> Any:
    """A field whose value is a group of keys, written in the field's place: a record (its fields, declared here;
    None: no keys) or, without ``record``, a mapping of keys declared elsewhere (config fields, metric keys)."""
    return field(metadata={"spliced": True, "record": record}, **kw)


@dataclass(frozen=True, kw_only=True)
class RunRow:
    """One run's results row, its fields in the order the row holds its keys (see the module doc)."""

    run_id: str
    seed: int
    method: str
    config: Mapping[str, Any] = _spliced()  # every config field under its own name
    profile: str
    data_source: str  # the data spec without machine-local folders
    data_fingerprint: str
    synthetic: bool
    split_mode: str  # fixed / proportional
    train_subjects: int
    test_subjects: int
    train_time_s: float | None = None
    eval_time_s: float
    final_loss: float | None = None
    final_dist_ap: float | None = None
    final_dist_an: float | None = None
    final_nonzero_frac: float | None = None
    collapsed: bool = False
    trained: TrainedKeys | None = _spliced(TrainedKeys, default=None)
    eval_sequences: int
    eval_frames: int
    metrics: Mapping[str, float | None] = _spliced()  # gstsn.results.metrics keys
    rank1_notes: list[str]
    provenance: Provenance = _spliced(Provenance)
    config_hash: str

    def as_dict(self) -> dict[str, Any]:
        """The row as stored: keys in the declared order, each group spliced in its place (a later value of a key
        already present replaces it in its first place, as in a dict literal)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not f.metadata.get("spliced"):
                out[f.name] = value
            elif dataclasses.is_dataclass(value):
                out.update((g.name, getattr(value, g.name)) for g in dataclasses.fields(value))
            elif value is not None:
                out.update(value)
        return out


def _names(record: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(record))


#: added per study: the study's name, the cell's label, whether it is the baseline cell
STUDY_KEYS = ("study", "cell", "is_baseline")
#: the first keys of a study's row, in this order
HEAD_KEYS = ("run_id", *STUDY_KEYS, "seed", "method")
TRAINED_KEYS = _names(TrainedKeys)
PROVENANCE_KEYS = _names(Provenance)
#: the config fields a row holds under their own names (the synthetic data's ``identity_cue`` too)
CONFIG_KEYS = (*FIELD_SECTIONS, "identity_cue")


def _declared_keys() -> tuple[str, ...]:
    keys: list[str] = []
    for f in dataclasses.fields(RunRow):
        if not f.metadata.get("spliced"):
            keys.append(f.name)
        elif f.metadata["record"] is not None:
            keys += _names(f.metadata["record"])
    return (*HEAD_KEYS, *(k for k in keys if k not in HEAD_KEYS))


#: every key a row written now holds but the config fields and the metrics, in the row's order
ROW_KEYS = _declared_keys()


def row_keys(*names: str) -> tuple[str, ...]:
    """``names``, each a declared row key (:data:`ROW_KEYS` or :data:`CONFIG_KEYS`): how a reader names the keys it
    reads. Raises ``ValueError`` naming an undeclared one."""
    unknown = [n for n in names if n not in ROW_KEYS and n not in CONFIG_KEYS]
    if unknown:
        raise ValueError(f"{unknown} are not results-row keys (gstsn.results.row); declared: {list(ROW_KEYS)}")
    return names


#: row keys that differ between two runs of one config by design (times, dates, the machine's load, the code version,
#: threads, a resume): everything else of a row is the same on the same CPU model
VOLATILE_KEYS = frozenset(
    row_keys("train_time_s", "eval_time_s", "date", "sec_per_iter", "resumed_from", "commit", "dirty", "threads",
             "cpu_others_share")
)  # fmt: skip


def study_row(row: Mapping[str, Any], **head: Any) -> dict[str, Any]:
    """A run's row as one study's ``runs.jsonl`` holds it: ``head``, the values of :data:`HEAD_KEYS` (every one),
    first and in that order, then the rest of ``row``."""
    if sorted(head) != sorted(HEAD_KEYS):
        raise ValueError(f"a study row's head is {list(HEAD_KEYS)}, got {list(head)}")
    first = {k: head[k] for k in HEAD_KEYS}
    return {**first, **{k: v for k, v in row.items() if k not in first}}


__all__ = [
    "CONFIG_KEYS",
    "HEAD_KEYS",
    "PROVENANCE_KEYS",
    "ROW_KEYS",
    "STUDY_KEYS",
    "TRAINED_KEYS",
    "VOLATILE_KEYS",
    "Provenance",
    "RunRow",
    "TrainedKeys",
    "row_keys",
    "study_row",
]
