"""Study definitions: one TOML file per study (``ablations/<study>.toml``) → validated cells × seeds → runs.

A study file (read with :mod:`tomllib`)::

    description = "GSTSN's IDR statistic: which reduction of each frame map's width works best?"
    seeds = [0, 1, 2]
    # profile = "ablation"          # optional; the command line's --profile wins
    references = ["gei"]            # optional non-learned reference rows (only "gei")

    [base]                          # any config field under its own name (gstsn.config.FIELD_SECTIONS), and the
    temporal = true                 # synthetic generator's knob identity_cue

    [axes]                          # field -> the values to try; several axes give their full grid
    idr_stat = ["median", "max", "min", "mean", "max+median"]

    [baseline]                      # the cell the others are compared with: one value for every axis
    idr_stat = "median"

Field names are the config's own (``temporal``, ``idr_stat``, ``temporal_module``, ``input_type``, ...) plus
``identity_cue``, the :class:`~gstsn.data.synth.SynthConfig` field, which is folded into the synthetic data spec
(``synth:identity_cue=0``). Everything is checked before any training: an unknown key, an unknown axis or a value a
config rejects (``idr_stat = "medain"``) raises :class:`StudyError` naming the file, the key and the valid choices.
Axis values are parsed once into their canonical values (:mod:`gstsn.ablate.axes`): two spellings of one value, or
an axis that does not change the model of the cells it separates, are refused the same way.

A cell × seed is a run (:class:`RunSpec`), identified by a stable hash of its full resolved config (seed included):
the trainer's :func:`gstsn.config.config_hash`. Two studies that resolve to the same config share the run, so it is
trained once. No torch import here: planning and ``--dry-run`` are instant.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gstsn.ablate.axes import canonical_axes, canonical_choice, check_axes_change_the_model, grid
from gstsn.ablate.spec import (
    MODEL_METHODS,
    REFERENCE_METHODS,
    SYNTH_FIELDS,
    RunSpec,
    Study,
    StudyCell,
    StudyError,
    StudyNotApplicable,
    StudyRun,
    canonical_source,
    plain_value,
)
from gstsn.config import (
    FIELD_SECTIONS,
    PROFILES,
    ConfigError,
    DataConfig,
    RunConfig,
    resolve_profile,
)
from gstsn.data.specs import is_synth
from gstsn.results.cells import cell_label, cell_value

STUDY_KEYS = (
    "description",
    "question",
    "paper_choice",
    "order",
    "profile",
    "seeds",
    "references",
    "base",
    "axes",
    "baseline",
)


def profile_names() -> list[str]:
    """Every profile a study may use (:data:`gstsn.config.PROFILES`; ``ablation`` is the suite's default)."""
    return list(PROFILES)


def profile_values(name: str) -> dict[str, Any]:
    """The field values a profile sets (its overrides of the config defaults)."""
    return dict(PROFILES[name])


DEFAULT_PROFILE = "ablation"


def valid_fields() -> list[str]:
    """Field names a study may set in ``[base]`` / ``[axes]`` / ``[baseline]``."""
    return sorted([*FIELD_SECTIONS, *SYNTH_FIELDS])


def _suggest(name: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ----------------------------------------------------------------------------------------------------------------------
# Loading and validation


def _check_fields(where: str, section: str, names: Sequence[str]) -> None:
    valid = valid_fields()
    for name in names:
        if name == "seed":
            raise StudyError(f"{where}: {section}.seed is not a field a study sets; list the seeds in 'seeds = [...]'")
        if name not in valid:
            raise StudyError(
                f"{where}: unknown field {section}.{name!r}{_suggest(name, valid)}; valid fields: {', '.join(valid)}"
            )


def _split_values(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config fields, synthetic generator fields)."""
    cfg = {k: (tuple(v) if isinstance(v, list) else v) for k, v in values.items() if k not in SYNTH_FIELDS}
    synth = {k: v for k, v in values.items() if k in SYNTH_FIELDS}
    return cfg, synth


def resolve_config(profile: str, values: Mapping[str, Any], seed: int, data: str | None = None) -> RunConfig:
    """The :class:`RunConfig` of ``profile`` with ``values`` (config and synthetic fields), ``seed`` and an optional
    data spec override; the data spec is canonical (:func:`canonical_source`). Raises ``ConfigError``/``StudyError``.
    """
    cfg_values, synth = _split_values(values)
    if data is not None:
        cfg_values["source"] = data
    cfg = resolve_profile(profile, **cfg_values, seed=seed)
    source = canonical_source(cfg.data.source, synth)
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, source=source))


def _resolve_or_none(profile: str, values: Mapping[str, Any], data: str | None) -> RunConfig | None:
    try:
        return resolve_config(profile, values, 0, data)
    except (StudyError, ConfigError):
        return None


def _resolve(where: str, key: str, profile: str, values: Mapping[str, Any], data: str | None) -> RunConfig:
    try:
        return resolve_config(profile, values, 0, data)
    except StudyError as exc:
        raise StudyError(f"{where}: {key}: {exc}") from None
    except ConfigError as exc:
        raise StudyError(f"{where}: {key}: {exc}") from None


@dataclass(frozen=True)
class _Header:
    """A study file's top-level keys, validated."""

    description: str
    question: str
    order: int | None
    paper_choice: dict[str, Any]
    profile: str
    seeds: list[int]
    references: list[str]


def _study_header(raw: Mapping[str, Any], where: str, profile: str | None, seeds: Sequence[int] | None) -> _Header:
    """Validate the keys outside [base] / [axes] / [baseline]; ``profile`` and ``seeds`` from the command line win."""
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise StudyError(f"{where}: description = {description!r} is invalid; expected a string")
    question = raw.get("question", "")
    if not isinstance(question, str):
        raise StudyError(f"{where}: question = {question!r} is invalid; expected a string")
    order = raw.get("order")
    if order is not None and (isinstance(order, bool) or not isinstance(order, int)):
        raise StudyError(f"{where}: order = {order!r} is invalid; expected an integer (the study's position)")
    paper_choice = raw.get("paper_choice", {})
    if not isinstance(paper_choice, dict):
        raise StudyError(f"{where}: paper_choice = {paper_choice!r} is invalid; expected a table of axis = value")
    prof = profile or raw.get("profile", DEFAULT_PROFILE)
    if prof not in profile_names():
        raise StudyError(f"{where}: profile = {prof!r} is invalid; valid profiles: {', '.join(profile_names())}")
    seed_list = list(seeds) if seeds is not None else raw.get("seeds", [0, 1, 2])
    if (
        not isinstance(seed_list, list)
        or not seed_list
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seed_list)
        or len(set(seed_list)) != len(seed_list)
    ):
        raise StudyError(
            f"{where}: seeds = {seed_list!r} is invalid; expected a non-empty list of distinct integers ≥ 0"
        )
    refs = raw.get("references", [])
    if not isinstance(refs, list) or any(r not in REFERENCE_METHODS for r in refs) or len(set(refs)) != len(refs):
        raise StudyError(
            f"{where}: references = {refs!r} is invalid; expected a list of distinct methods from "
            f"{list(REFERENCE_METHODS)}"
        )
    return _Header(description, question, order, dict(paper_choice), prof, [int(s) for s in seed_list], list(refs))


def _check_on_axes(where: str, key: str, values: Mapping[str, Any], axes: Mapping[str, list[Any]]) -> None:
    """Each ``key.name = value`` (baseline, paper_choice) must name an axis and one of its values."""
    for name, value in values.items():
        if name not in axes:
            raise StudyError(f"{where}: {key}.{name} is not an axis of this study (axes: {', '.join(axes)})")
        if plain_value(value) not in [plain_value(v) for v in axes[name]]:
            raise StudyError(
                f"{where}: {key}.{name} = {cell_value(value)} is not one of axes.{name} = {cell_value(axes[name])}"
            )


def load_study(
    path: str | Path,
    *,
    profile: str | None = None,
    data: str | None = None,
    seeds: Sequence[int] | None = None,
    overrides: Mapping[str, Any] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> Study:
    """Read, validate and expand a study file. ``profile`` / ``data`` / ``seeds`` / ``overrides`` (field → value, like
    ``[base]`` entries) come from the command line and win over the file; ``overrides`` may not name an axis.
    ``defaults`` (field → value) sit under the file's ``[base]``: the file and ``overrides`` win over them.
    """
    path = Path(path)
    where = str(path)
    raw = _read_study_file(path)
    head = _study_header(raw, where, profile, seeds)
    prof = head.profile
    base, axes, baseline = _study_tables(raw, where)
    overrides = dict(overrides or {})
    _check_fields("command line", "--set", list(overrides))
    clash = sorted(set(overrides) & set(axes))
    if clash:
        raise StudyError(f"{where}: --set {clash[0]}=... overrides an axis of this study; its values come from [axes]")
    base = {**{k: v for k, v in (defaults or {}).items() if k not in axes}, **base, **overrides}
    _check_data_applies(where, base, axes, prof, data)
    # every value alone, so that an error names its key
    for key, value in base.items():
        _resolve(where, f"base.{key}", prof, {key: value}, data)
    base_cfg = _resolve(where, "base", prof, base, data)
    resolved = {
        name: [_resolve(where, f"axes.{name} = {cell_value(v)}", prof, {**base, name: v}, data) for v in values]
        for name, values in axes.items()
    }
    axes = canonical_axes(where, axes, resolved)  # one spelling per value: one cell, one run id
    baseline = canonical_choice(baseline, lambda k, v: _resolve_or_none(prof, {**base, k: v}, data))
    paper_choice = canonical_choice(head.paper_choice, lambda k, v: _resolve_or_none(prof, {**base, k: v}, data))
    missing = [a for a in axes if a not in baseline]
    extra = [b for b in baseline if b not in axes]
    if missing or extra:
        raise StudyError(
            f"{where}: [baseline] must give one value for each axis ({', '.join(axes)}); "
            + (f"missing {missing}" if missing else f"{extra} are not axes of this study")
        )
    _check_on_axes(where, "baseline", baseline, axes)
    _check_on_axes(where, "paper_choice", paper_choice, axes)

    study = Study(
        name=path.stem,
        source_file=_display_path(path),
        description=head.description,
        profile=prof,
        seeds=head.seeds,
        base=base,
        axes=axes,
        baseline=baseline,
        references=head.references,
        question=head.question,
        paper_choice=paper_choice,
        order=head.order,
        base_config=base_cfg,
    )
    _expand(study, where, data)
    return study


def _read_study_file(path: Path) -> dict[str, Any]:
    """The TOML of a study file, its top-level keys known and its [axes] and [baseline] tables present."""
    where = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StudyError(f"study file {where} does not exist") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise StudyError(f"{where}: not a readable TOML file: {exc}") from None
    unknown = [k for k in raw if k not in STUDY_KEYS]
    if unknown:
        k = unknown[0]
        raise StudyError(f"{where}: unknown key {k!r}{_suggest(k, STUDY_KEYS)}; valid keys: {', '.join(STUDY_KEYS)}")
    for key in ("axes", "baseline"):
        if key not in raw:
            raise StudyError(f"{where}: missing [{key}] table; a study needs axes and the baseline cell")
    return raw


def _study_tables(raw: dict[str, Any], where: str) -> tuple[dict[str, Any], dict[str, list], dict[str, Any]]:
    """``[base]``, ``[axes]`` and ``[baseline]``: tables of known fields; each axis a non-empty list of distinct
    values, not also in ``[base]``."""
    tables = {}
    for key in ("base", "axes", "baseline"):
        value = raw.get(key, {})
        if not isinstance(value, dict):
            raise StudyError(f"{where}: {key} must be a table ([{key}]), got {value!r}")
        _check_fields(where, key, list(value))
        tables[key] = value
    base, axes, baseline = tables["base"], tables["axes"], tables["baseline"]
    if not axes:
        raise StudyError(f"{where}: [axes] is empty; name at least one field and its values")
    for name, values in axes.items():
        if not isinstance(values, list) or not values:
            raise StudyError(f"{where}: axes.{name} = {values!r} is invalid; expected a non-empty list of values")
        if len({json.dumps(plain_value(v)) for v in values}) != len(values):
            raise StudyError(f"{where}: axes.{name} = {values!r} lists a value twice")
        if name in base:
            raise StudyError(f"{where}: {name!r} is both in [base] and in [axes]; keep it in one of them")
    return base, axes, baseline


def _check_data_applies(where: str, base: dict[str, Any], axes: dict[str, list], prof: str, data: str | None) -> None:
    """A study that sets the synthetic generator's fields runs on synthetic data only (else StudyNotApplicable)."""
    synth_keys = sorted(k for k in SYNTH_FIELDS if k in axes or k in base)
    source = data if data is not None else base.get("source", profile_values(prof).get("source", DataConfig().source))
    if synth_keys and not is_synth(str(source)):
        raise StudyNotApplicable(
            f"{where}: the study sets the synthetic generator's {synth_keys}, which do not exist for data {source!r}; "
            "it runs on synthetic data only"
        )


def _expand(study: Study, where: str, data: str | None) -> None:
    """The study's cells (the axes' grid, then the reference rows) and its runs (seed × cell)."""
    prof, base, axes, baseline = study.profile, study.base, study.axes, study.baseline
    resolved = []
    for values in grid(axes):
        is_base = all(plain_value(values[a]) == plain_value(baseline[a]) for a in axes)
        cfg0 = _resolve(where, f"cell {cell_label(values)}", prof, {**base, **values}, data)
        cell = StudyCell(cell_label(values), values, cfg0.model.model_name, is_base)
        study.cells.append(cell)
        resolved.append((cell, cfg0))
    check_axes_change_the_model(where, resolved, list(axes))
    for ref in study.references:
        study.cells.append(StudyCell(f"method={ref}", {}, ref, False))
    base_cell_values = {**base, **baseline}
    for seed in study.seeds:
        for cell in study.cells:
            if cell.method in MODEL_METHODS:
                cfg = resolve_config(prof, {**base, **cell.values}, seed, data)
            else:
                cfg = resolve_config(prof, base_cell_values, seed, data)
            study.runs.append(StudyRun(study.name, cell, RunSpec(cell.method, cfg, prof)))


def _display_path(path: Path) -> str:
    """``ablations/<name>.toml`` when the file is in a folder called ablations, else the path as given."""
    return f"{path.parent.name}/{path.name}" if path.parent.name == "ablations" else str(path)


def parse_override(text: str) -> tuple[str, Any]:
    """``--set key=value``: the value read as a TOML value (``3``, ``true``, ``[1, 2]``, ``"x"``), else as a string."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise StudyError(f"--set {text!r} is not key=value (e.g. --set iterations=200)")
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    if key == "max_test_frames" and parsed == "all":
        parsed = None
    return key, parsed


__all__ = [
    "DEFAULT_PROFILE",
    "STUDY_KEYS",
    "load_study",
    "parse_override",
    "profile_names",
    "profile_values",
    "resolve_config",
    "valid_fields",
]
