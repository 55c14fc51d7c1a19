"""``torch.profiler`` traces of a few training steps and the top-ops table (``key_averages``).

Traces are written by ``tensorboard_trace_handler(..., use_gzip=True)`` as
``<dir>/<label>.<timestamp>.pt.trace.json.gz``: they open in Perfetto (ui.perfetto.dev) and in TensorBoard with the
optional torch-tb-profiler plugin.

While profiling, forward hooks wrap selected submodules in ``record_function`` ranges named ``gstsn::<module path>``
(``gstsn::temporal``, ``gstsn::temporal.fc``, and each registered component's scope such as ``gstsn::temporal.idr``
or the temporal module's: :func:`scoped_modules`): they show as nested ranges in the trace, and their inclusive CPU
time is the forward cost of that module. The models are not modified; the hooks are removed afterwards.

Op table: one row per op name with its self time per step (``self_cpu_ms``, ``self_device_ms``) and its ``share`` of
the step's total self time (device time on CUDA, CPU time otherwise). Self times do not overlap, so shares add up to 1
and the categories of :func:`op_category` (LSTM forward and backward, the IDR median, convolutions, matmuls / FCs,
optimizer, other) split a step without double counting.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile, record_function, schedule, tensorboard_trace_handler

from gstsn.config.registry import IDR_STATISTICS, MODEL_FAMILY, TEMPORAL_MODULES
from gstsn.results.timing_files import TRACE_SUFFIX

SCOPE_PREFIX = "gstsn::"
_CATEGORIES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("lstm", re.compile(r"lstm|rnn")),
    ("idr_median", re.compile(r"median")),
    ("conv", re.compile(r"conv")),
    ("matmul_fc", re.compile(r"bmm|(^|::)mm$|addmm|matmul|mmbackward")),
    ("optimizer", re.compile(r"adam|foreach|optimizer")),
)
CATEGORIES: tuple[str, ...] = tuple(name for name, _ in _CATEGORIES) + ("other",)
_CPU = torch.autograd.DeviceType.CPU


def op_category(op: str) -> str:
    """The category of a profiler op name (forward ops and their autograd backward nodes alike)."""
    name = op.lower()
    for category, pattern in _CATEGORIES:
        if pattern.search(name):
            return category
    return "other"


def scoped_modules() -> tuple[str, ...]:
    """The module paths the profiler ranges wrap, from the registries: each family member's part (``spatial``,
    ``temporal``), then the registered components' scopes inside it (the IDR, each temporal module), its HPM and FC."""
    components = [e.scope for registry in (IDR_STATISTICS, TEMPORAL_MODULES) for e in registry if e.scope]
    names: list[str] = []
    for member in MODEL_FAMILY:
        part = member.scope or member.name
        names += [part, *(c for c in components if c.startswith(f"{part}.")), f"{part}.hpm", f"{part}.fc"]
    return tuple(dict.fromkeys(names))


@contextlib.contextmanager
def module_scopes(model: nn.Module | None, names: tuple[str, ...] | None = None) -> Iterator[list[str]]:
    """Wrap each existing submodule of ``names`` (default: :func:`scoped_modules`) in a
    ``record_function("gstsn::<name>")`` range while inside."""
    names = scoped_modules() if names is None else names
    handles: list[Any] = []
    scoped: list[str] = []
    modules = dict(model.named_modules()) if model is not None else {}
    for name in names:
        module = modules.get(name)
        if module is None:
            continue
        stack: list[record_function] = []

        def pre(_m, _args, stack=stack, label=SCOPE_PREFIX + name) -> None:
            rf = record_function(label)
            rf.__enter__()
            stack.append(rf)

        def post(_m, _args, _out, stack=stack) -> None:
            stack.pop().__exit__(None, None, None)

        handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
        scoped.append(name)
    try:
        yield scoped
    finally:
        for h in handles:
            h.remove()


def _self_device_us(event: Any) -> float:
    return float(getattr(event, "self_device_time_total", getattr(event, "self_cuda_time_total", 0.0)) or 0.0)


def profile_steps(
    fn: Callable[[], Any],
    device: torch.device,
    trace_dir: str | Path,
    label: str,
    warmup: int,
    active: int,
    model: nn.Module | None = None,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Profile ``warmup + active`` calls of ``fn`` (only the ``active`` ones are recorded) and write the trace.

    Returns ``(ops, scopes)``: ``ops`` one row per op with ``op, category, self_cpu_ms, self_device_ms, share,
    calls_per_step`` (per step, sorted by share, profiler-step markers and scope ranges left out); ``scopes`` the
    inclusive forward CPU time per step of each module scope (ms).
    """
    if active < 1:
        raise ValueError(f"profile_steps needs active ≥ 1 recorded steps; got {active}")
    trace_dir = Path(trace_dir)
    trace_dir.mkdir(parents=True, exist_ok=True)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    handler = tensorboard_trace_handler(str(trace_dir), worker_name=label, use_gzip=True)
    sched = schedule(wait=0, warmup=warmup, active=active, repeat=1)
    with module_scopes(model), profile(activities=activities, schedule=sched, on_trace_ready=handler) as prof:
        for _ in range(warmup + active):
            fn()
            prof.step()
    rows, scopes = [], {}
    for e in prof.key_averages():
        if e.key.startswith(SCOPE_PREFIX):
            scopes[e.key[len(SCOPE_PREFIX) :]] = e.cpu_time_total / 1000 / active
            continue
        if e.key.startswith("ProfilerStep") or getattr(e, "device_type", _CPU) != _CPU:
            continue  # step markers; device kernels (their time is the self device time of the op that ran them)
        rows.append(
            {
                "op": e.key,
                "category": op_category(e.key),
                "self_cpu_ms": e.self_cpu_time_total / 1000 / active,
                "self_device_ms": _self_device_us(e) / 1000 / active,
                "calls_per_step": e.count / active,
            }
        )
    ops = pd.DataFrame(rows, columns=["op", "category", "self_cpu_ms", "self_device_ms", "calls_per_step"])
    basis = "self_device_ms" if device.type == "cuda" and ops["self_device_ms"].sum() > 0 else "self_cpu_ms"
    total = ops[basis].sum()
    ops["share"] = ops[basis] / total if total > 0 else 0.0
    ops = ops.sort_values(["share", "op"], ascending=[False, True], kind="stable").reset_index(drop=True)
    return ops, scopes


def category_shares(ops: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per category: ``ms`` per step (the share's basis) and ``share`` of the step."""
    basis = "self_device_ms" if ops["self_device_ms"].sum() > 0 else "self_cpu_ms"
    out = {}
    for cat in CATEGORIES:
        part = ops[ops["category"] == cat]
        out[cat] = {"ms": float(part[basis].sum()), "share": float(part["share"].sum())}
    out["total"] = {"ms": float(ops[basis].sum()), "share": float(ops["share"].sum())}
    return out


def trace_files(trace_dir: str | Path) -> list[Path]:
    """The ``*.pt.trace.json.gz`` files under ``trace_dir`` (sorted)."""
    return sorted(Path(trace_dir).rglob(f"*{TRACE_SUFFIX}"))


__all__ = [
    "CATEGORIES",
    "SCOPE_PREFIX",
    "category_shares",
    "module_scopes",
    "op_category",
    "profile_steps",
    "scoped_modules",
    "trace_files",
]
