"""The loader benchmark (``bench/bench_loader.py``) runs end to end on tiny synthetic data and prints every figure
it promises: frames/s per input type, test batches, and the RSS at each step."""

from __future__ import annotations


def test_bench_loader_reports_every_figure_on_tiny_data(tmp_path, run_bench):
    out = run_bench(
        "bench_loader.py", "--data", "synth:subjects=3,frames_min=8,frames_max=12",
        "--cache-root", str(tmp_path), "--p", "2", "--k", "4", "--frames", "6", "--batches", "3",
        "--test-frames", "500", "--core", "-1",
    )  # fmt: skip
    assert "P x K x frames = 2 x 4 x 6 = 48 frames/batch, 3 batches" in out
    for input_type in ("set", "sequence"):
        line = next(x for x in out.splitlines() if x.strip().startswith(input_type))
        assert line.count("frames/s") == 3 and "ms/batch" in line, line
    assert "iter_test_batches:" in out and "np.unpackbits(count=44) alone" in out
    for step in ("after open (memory-mapped)", "after touching all frames", "+ in_memory=True copy"):
        assert step in out
