"""Provenance shown on every page: where the numbers came from (commit, versions, device, data, configs, seeds).

Everything is read from the result files (runs.jsonl, timing.csv, benchmark.json, verdict.json) except the renderer's
own package versions; the render date is kept apart, since it is the one line that differs between two renders.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pandas as pd

from gstsn.contention import CONTENDED_SHARE, contended, recorded_shares
from gstsn.report.load import StudyData, TimingData


@dataclass(frozen=True)
class ProvItem:
    """One provenance line: a label, its value in words, and whether the reader should be warned about it."""

    label: str
    value: str
    warn: bool = False


def _values(df: pd.DataFrame, col: str) -> list[tuple[str, int]]:
    """Distinct non-null values of ``col`` as text, with their row counts, sorted by text."""
    if col not in df.columns:
        return []
    series = df[col].dropna()
    counts = series.map(_text).value_counts()
    return sorted((str(k), int(v)) for k, v in counts.items())


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _join(values: list[tuple[str, int]], total: int, unit: str = "run") -> str:
    if not values:
        return "not recorded"
    if len(values) == 1 and values[0][1] == total:
        return values[0][0]
    return "; ".join(f"{v} ({n} {unit}{'s' if n != 1 else ''})" for v, n in values)


def values_item(df: pd.DataFrame, col: str, label: str, warn_if_many: bool = False) -> ProvItem:
    """Distinct values of ``col`` with their run counts; warns when absent (or when several and ``warn_if_many``)."""
    values = _values(df, col)
    return ProvItem(label, _join(values, len(df)), warn=(not values) or (warn_if_many and len(values) > 1))


def commit_item(df: pd.DataFrame, unit: str = "run") -> ProvItem:
    """Commits with their dirty flags; warns when any run came from a dirty tree or runs span several commits."""
    if "commit" not in df.columns or df["commit"].dropna().empty:
        return ProvItem("commit", "not recorded", warn=True)
    dirty = df["dirty"] if "dirty" in df.columns else pd.Series([None] * len(df), index=df.index)
    labels = []
    for commit, flag in zip(df["commit"], dirty, strict=True):
        state = (
            "dirty: uncommitted changes" if flag is True else "clean" if flag is False else "dirty flag not recorded"
        )
        labels.append(f"{str(commit)[:12]} ({state})")
    values = sorted(pd.Series(labels).value_counts().items())
    warn = len(values) > 1 or any("dirty:" in v or "not recorded" in v for v, _ in values)
    return ProvItem("commit", _join([(str(v), int(n)) for v, n in values], len(df), unit), warn=warn)


def precision_item(runs: pd.DataFrame) -> ProvItem:
    """What the runs' forward passes computed in (``precision``); a CPU row written before the field was fp32. Warns
    when a study mixes precisions or one is not recorded."""
    recorded = runs["precision"] if "precision" in runs.columns else pd.Series([None] * len(runs), index=runs.index)
    device = runs["device"] if "device" in runs.columns else pd.Series([None] * len(runs), index=runs.index)
    words = [
        str(p) if isinstance(p, str) else "fp32" if str(d).startswith("cpu") else "not recorded"
        for p, d in zip(recorded, device, strict=True)
    ]
    values = _values(pd.DataFrame({"precision": words}, dtype=object), "precision")
    warn = len(values) > 1 or any(v == "not recorded" for v, _ in values)
    return ProvItem("precision", _join(values, len(runs)), warn=warn)


def contention_item(runs: pd.DataFrame) -> ProvItem:
    """The share of the CPUs other processes took while the runs trained (``cpu_others_share``): median and largest,
    and a warning naming how many runs' times were measured under contention (over ``CONTENDED_SHARE``)."""
    label = "CPU taken by other processes while training"
    shares = recorded_shares(runs)
    if shares.empty:
        return ProvItem(label, "not recorded (runs from before the measurement)")
    busy = int(sum(contended(v) for v in shares))
    text = f"median {shares.median():.0%}, largest {shares.max():.0%} ({len(shares)} runs)"
    if busy:
        text += (
            f"; {busy} run{'s' if busy != 1 else ''} trained under contention (over {CONTENDED_SHARE:.0%}): "
            "their training times are not comparable with quiet ones"
        )
    return ProvItem(label, text, warn=bool(busy))


def study_provenance(study: StudyData) -> list[ProvItem]:
    """Provenance lines of a study page (from its runs and its study.json)."""
    runs, definition = study.runs, study.definition
    items: list[ProvItem] = []
    if runs.empty:
        items.append(ProvItem("runs", "none finished yet", warn=True))
    else:
        items += [
            commit_item(runs),
            values_item(runs, "gstsn_version", "gstsn version", warn_if_many=True),
            values_item(runs, "torch", "torch", warn_if_many=True),
            values_item(runs, "device", "device"),
            precision_item(runs),
            values_item(runs, "data_source", "data source"),
            values_item(runs, "data_fingerprint", "data fingerprint", warn_if_many=True),
            values_item(runs, "synthetic", "synthetic data"),
            values_item(runs, "split", "split"),
            values_item(runs, "profile", "profile"),
            values_item(runs, "iterations", "iterations"),
            contention_item(runs),
            ProvItem("seeds", ", ".join(str(s) for s in sorted(runs["seed"].unique()))),
        ]
        dates = sorted(str(d) for d in runs["date"].dropna()) if "date" in runs.columns else []
        if dates:
            items.append(ProvItem("run dates", dates[0] if dates[0] == dates[-1] else f"{dates[0]} … {dates[-1]}"))
        else:
            items.append(ProvItem("run dates", "not recorded", warn=True))
    seeds = definition.get("seeds")
    if isinstance(seeds, list):
        items.append(ProvItem("seeds in study.json", ", ".join(str(s) for s in seeds)))
    if definition.get("source_file"):
        items.append(ProvItem("study definition", str(definition["source_file"])))
    return items


def config_hash_rows(study: StudyData) -> list[tuple[str, str, str]]:
    """``(cell, config hashes, run ids)`` per cell, in display order, for the provenance table."""
    runs = study.runs
    if runs.empty:
        return []
    rows = []
    for cell in study.cells:
        part = runs[runs["cell"] == cell]
        hashes = ", ".join(v for v, _ in _values(part, "config_hash")) or "not recorded"
        ids = ", ".join(f"{rid} (seed {seed})" for rid, seed in zip(part["run_id"], part["seed"], strict=True))
        rows.append((cell, hashes, ids))
    return rows


def timing_provenance(timing: TimingData) -> list[ProvItem]:
    """Provenance lines of the timing page (timing.csv columns, benchmark.json machine/commit info, verdict.json)."""
    df = timing.timing
    items: list[ProvItem] = []
    bench = timing.benchmark
    commit_info = bench.get("commit_info") if isinstance(bench.get("commit_info"), dict) else {}
    if commit_info.get("id"):
        frame = pd.DataFrame([{"commit": commit_info.get("id"), "dirty": commit_info.get("dirty")}])
        items.append(commit_item(frame, unit="benchmark file"))
    elif not df.empty and "commit" in df.columns:
        items.append(commit_item(df, unit="row"))
    else:
        items.append(ProvItem("commit", "not recorded (benchmark.json commit_info absent)", warn=True))
    machine = bench.get("machine_info") if isinstance(bench.get("machine_info"), dict) else {}
    keys = (("cpu", "CPU"), ("cuda_device", "CUDA device"), ("python_version", "python (benchmark)"),
            ("torch", "torch"), ("torch_threads", "torch threads"), ("timing_profile", "timing profile"))  # fmt: skip
    for key, label in keys:
        value = machine.get(key)
        if isinstance(value, dict):
            value = (
                value.get("brand_raw") or value.get("brand") or ", ".join(f"{k}={v}" for k, v in sorted(value.items()))
            )
        if value:
            items.append(ProvItem(label, str(value)))
    if not df.empty:
        items += [values_item(df, "device", "device", warn_if_many=False), values_item(df, "dtype", "dtype")]
        if "torch" in df.columns and not any(i.label == "torch" for i in items):
            items.append(values_item(df, "torch", "torch"))
    if timing.verdict.get("device"):
        items.append(ProvItem("verdict device", _text(timing.verdict["device"])))
    date = bench.get("datetime") or timing.verdict.get("date")
    items.append(ProvItem("measured", str(date) if date else "not recorded", warn=not date))
    return items


_RENDER_PACKAGES = ("gstsn", "numpy", "pandas", "matplotlib", "seaborn", "jinja2")


def renderer_provenance() -> list[ProvItem]:
    """The report renderer's own versions (python and the packages that shape the HTML and SVG bytes)."""
    versions = []
    for name in _RENDER_PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed as a distribution)")
    return [ProvItem("rendered with", f"python {platform.python_version()}; " + ", ".join(versions))]
