"""Estimated cost of a run (for ``--dry-run`` and the runs bar's ETA).

A run costs ``iterations × step_s + test_frames × frame_s``. Both come from the model's multiply-accumulates per
frame (:func:`frame_macs`: measured by ``FlopCounterMode`` on the built model, whatever its registered components,
:func:`gstsn.models.flops.model_flops`; torch is imported for it) divided by an effective rate per device kind
(:data:`PRIOR_RATES`, measured with the ``ablation`` profile, see below). When the results store already holds
finished runs on the same device kind, the estimate is rescaled by the median ratio of their measured to their
estimated cost, so the numbers converge to the machine at hand.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gstsn.config import ModelConfig
from gstsn.data.specs import synth_config

#: Model multiply-accumulates per second (measured on the forward pass, per frame) of one training step (forward +
#: backward + Adam) and of test-time embedding, per device kind, for one process with one torch thread on a core of
#: its own. CPU: from the CPU time of ``ablation``-profile runs on a shared 2-core machine (GaitSet ~28 s of CPU for
#: 500 iterations of 512 frames × 0.53 MMAC; ~6 s for 66,000 test frames). CUDA: a rough figure for small models on a
#: data-centre GPU. Measured runs in the store rescale both (a busy machine's runs make the estimate longer).
PRIOR_RATES: dict[str, dict[str, float]] = {
    "cpu": {"train": 3.8e9, "eval": 6.6e9},
    "cuda": {"train": 220e9, "eval": 1100e9},
}
GEI_FRAME_S = 2e-6  # GEI: a mean over frames, then the same rank-1 protocol
RUN_OVERHEAD_S = {"cpu": 2.0, "cuda": 10.0}  # data opening, model build, protocol
SYNTH_SUBJECT_S = 0.4  # generating one synthetic subject of the default generator (110 sequences): 17 s for 50
TRAIN_FRACTION = {"LT": 74 / 124, "MT": 62 / 124, "ST": 24 / 124}
CASIA_B = {"subjects": 124, "frames": 82.0}


def frame_macs(fields: dict[str, Any]) -> float:
    """Multiply-accumulates per frame of the forward pass of the model of ``fields`` (a run's flat config fields),
    measured on the built model at its input size (:func:`gstsn.models.flops.model_flops`, cached per config)."""
    from gstsn.models.flops import model_flops

    names = [f.name for f in dataclasses.fields(ModelConfig)]
    model = ModelConfig(**{k: _tuple(fields[k]) for k in names if fields.get(k) is not None})
    ds = int(fields["downsample"])
    return model_flops(model, int(fields["height"]) // ds, int(fields["width"]) // ds)["total"] / 2


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _device_kind(device: str) -> str:
    return "cuda" if str(device).startswith("cuda") else "cpu"


def _fields(spec_or_row: Any) -> dict[str, Any]:
    """The flat config fields of a RunSpec or a results row."""
    if isinstance(spec_or_row, dict):
        return spec_or_row
    return {**spec_or_row.config.flat(), "method": spec_or_row.method, "source": spec_or_row.config.data.source}


def test_frames(fields: dict[str, Any]) -> float:
    """Frames embedded at test time: test subjects × 110 sequences × min(mean length, ``max_test_frames``)."""
    source = str(fields.get("source") or fields.get("data_source") or "synth")
    if source.startswith("synth"):
        subjects, mean_len = _synth_shape(source)
    else:
        subjects, mean_len = CASIA_B["subjects"], CASIA_B["frames"]
    n_train = round(subjects * TRAIN_FRACTION.get(str(fields.get("split", "LT")), TRAIN_FRACTION["LT"]))
    cap = fields.get("max_test_frames")
    per_seq = mean_len if cap is None else min(mean_len, float(cap))
    return max(subjects - n_train, 1) * 110 * per_seq


def prior_seconds(spec_or_row: Any, device: str = "cpu") -> float:
    """The prior estimate of a whole run (training + evaluation) in seconds."""
    f = _fields(spec_or_row)
    kind = _device_kind(device)
    frames = test_frames(f)
    if f.get("method") == "gei":
        return RUN_OVERHEAD_S[kind] + frames * GEI_FRAME_S
    macs = frame_macs(f)
    rates = PRIOR_RATES[kind]
    step = int(f["batch_p"]) * int(f["batch_k"]) * int(f["frames"]) * macs / rates["train"]
    return RUN_OVERHEAD_S[kind] + int(f["iterations"]) * step + frames * macs / rates["eval"]


def estimate_run_seconds(
    spec: Any, measured_rows: Sequence[dict[str, Any]] = (), device: str = "cpu", done_fraction: float = 0.0
) -> float:
    """The estimated seconds left for ``spec`` (a :class:`~gstsn.ablate.spec.RunSpec`), rescaled by measured runs.

    ``measured_rows``: results rows of finished runs (``train_time_s`` + ``eval_time_s`` against their own prior, same
    device kind); ``done_fraction``: the share of the iterations already done (a checkpoint to resume from).
    """
    kind = _device_kind(device)
    ratios = []
    for row in measured_rows:
        if _device_kind(str(row.get("device", "cpu"))) != kind or row.get("method") == "gei":
            continue
        try:
            actual = float(row["train_time_s"]) + float(row["eval_time_s"])
            ratios.append(actual / prior_seconds(row, kind))
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            continue
    scale = statistics.median(ratios) if ratios else 1.0
    total = prior_seconds(spec, kind) * scale
    if getattr(spec, "method", None) == "gei":
        return total
    return max(total * (1.0 - min(max(done_fraction, 0.0), 1.0)), 0.0)


def estimate_data_seconds(specs: Sequence[Any], cache_root: str | Path | None = None) -> float:
    """Seconds to generate the synthetic datasets ``specs`` need that are not in the cache yet (imports of real
    data are not estimated: they happen once)."""
    total = 0.0
    seen = set()
    for spec in specs:
        source = spec.config.data.source
        if source in seen or not source.startswith("synth"):
            continue
        seen.add(source)
        if cache_root is not None and _synth_cached(source, Path(cache_root)):
            continue
        subjects, mean_len = _synth_shape(source)
        total += subjects * SYNTH_SUBJECT_S * mean_len / _synth_shape("synth")[1]
    return total


def _synth_shape(source: str) -> tuple[int, float]:
    """Subjects and mean sequence length of a ``synth[:...]`` spec: the generator's defaults and the spec's values
    (:class:`~gstsn.data.synth.SynthConfig`). An estimate never fails: a bad spec gets the defaults here and its error
    where the data is opened."""
    try:
        cfg = synth_config(source)
    except (ValueError, TypeError):
        cfg = synth_config("synth")
    return cfg.subjects, (cfg.frames_min + cfg.frames_max) / 2


def _synth_cached(source: str, cache_root: Path) -> bool:
    try:
        from gstsn.data.synth import fingerprint

        return (cache_root / f"synth-{fingerprint(synth_config(source))}" / "meta.json").is_file()
    except (ImportError, ValueError):
        return False


def format_seconds(seconds: float) -> str:
    """``42 s``, ``3.5 min``, ``2.1 h``."""
    if not math.isfinite(seconds):
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


__all__ = [
    "PRIOR_RATES",
    "estimate_data_seconds",
    "estimate_run_seconds",
    "format_seconds",
    "frame_macs",
    "prior_seconds",
    "test_frames",
]
