"""``torch.profiler`` traces of each variant's training step (a few steps after warm-up) and its op table.

Traces go to ``<out>/traces/<variant>-<device>-<dtype>/*.pt.trace.json.gz`` (Perfetto, or TensorBoard with the optional
torch-tb-profiler plugin); op tables and category shares to ``<out>/raw/`` for ``top_ops.csv`` and the verdict.
"""

from __future__ import annotations

import pytest

from gstsn.results.timing_files import TRACES_DIR
from gstsn.timing.suite import run_profile
from gstsn.timing.trace import trace_files


@pytest.mark.timing_phase("train_step")
def test_profile_train_step(workload, timing_out):
    record = run_profile(timing_out, workload)
    assert trace_files(timing_out / TRACES_DIR / record["label"]), "the profiler wrote no trace file"
