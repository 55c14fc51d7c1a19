"""Our profiler traces load through torch-tb-profiler's data API (the ``profiler-ui`` extra).

torch-tb-profiler is deprecated upstream and its UI needs internet assets, so it is optional for users; the nox test
sessions install it (so CI runs this test: torch-tb-profiler 0.4.3 with tensorboard 2.21 and torch 2.13). A GSTSN
training-step trace written by the suite's own ``profile_steps`` is parsed by ``RunProfileData.parse`` and turned into
the plugin's run profile by ``RunGenerator``, exactly what TensorBoard's profile tab does with a run folder. Without
the plugin the test is skipped with the reason; under CI (``CI`` set) it fails instead.
"""

from __future__ import annotations

import os

import pytest

from gstsn.timing.cases import enumerate_cases
from gstsn.timing.trace import profile_steps, trace_files
from gstsn.timing.workloads import build_workload


def _require_plugin() -> None:
    try:
        import torch_tb_profiler  # noqa: F401
    except ImportError as exc:
        reason = f"torch-tb-profiler is not installed (extra `profiler-ui`: pip install -e '.[profiler-ui]'): {exc}"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the torch-tb-profiler test (nox's test sessions install the extra); {reason}")
        pytest.skip(reason)


def test_tb_profiler_reads_our_training_step_trace(tmp_path):
    _require_plugin()
    from torch_tb_profiler.consts import WORKER_PATTERN
    from torch_tb_profiler.profiler.data import RunProfileData
    from torch_tb_profiler.profiler.run_generator import RunGenerator

    case = enumerate_cases("train_step", "tiny", "cpu")[1]  # GSTSN (paper setting), smoke-sized
    w = build_workload(case)
    profile_steps(w.fn, w.device, tmp_path, case.label, warmup=1, active=2, model=w.model)
    (path,) = trace_files(tmp_path)
    match = WORKER_PATTERN.match(path.name)
    assert match is not None and match.group(1) == case.label  # the plugin names the worker after our label
    data = RunProfileData.parse(match.group(1), None, str(path), str(tmp_path / "cache"))
    assert len(data.steps_names) == 2  # the two active ProfilerStep ranges
    op_names = {agg.name for agg in data.op_list_groupby_name}
    assert "aten::mkldnn_rnn_layer" in op_names or "aten::lstm" in op_names
    profile = RunGenerator(match.group(1), None, data).generate_run_profile()
    assert profile.worker == case.label and profile.operation_table_by_name
