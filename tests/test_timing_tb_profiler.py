"""Our profiler traces load through torch-tb-profiler's data API (the optional ``profiler-ui`` extra).

torch-tb-profiler is deprecated upstream and its UI needs internet assets, so it is optional: without it this test is
skipped with the reason. With it (``pip install -e .[profiler-ui]``), a GSTSN training-step trace written by the suite's
own ``profile_steps`` is parsed by ``RunProfileData.parse`` and turned into the plugin's run profile by
``RunGenerator``, exactly what TensorBoard's profile tab does with a run folder.
"""

from __future__ import annotations

import pytest

from gstsn.timing.cases import enumerate_cases
from gstsn.timing.trace import profile_steps, trace_files
from gstsn.timing.workloads import build_workload

tb = pytest.importorskip(
    "torch_tb_profiler",
    reason="torch-tb-profiler is not installed (optional extra `profiler-ui`; deprecated upstream, UI needs internet)",
)


def test_tb_profiler_reads_our_training_step_trace(tmp_path):
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
