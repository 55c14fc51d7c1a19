"""The timing suite's pytest configuration (pytest-benchmark; run through ``nox -s timing`` / ``bench/run_timing.py``).

TorchBench-style: cases are generated in ``pytest_generate_tests`` from ``gstsn.timing.cases`` (phase × variant ×
device × precision × shape) with readable ids such as ``gstsn-median-L2-cpu-fp32-32x16``; each phase's warm-up and
rounds come from the timing profile; ``machine_info`` records torch, CUDA, the device and the thread count. Devices
that are absent are skipped with ``pytest.skip`` and the reason. Nothing here asserts on time.

Options: ``--timing-profile`` (auto | tiny | cpu | paper), ``--timing-out`` (output folder, default results/timing),
``--timing-variants`` (comma-separated variant ids or ``all``), ``--timing-devices`` (default ``cpu,cuda``),
``--timing-threads`` (torch threads; default torch's choice).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from gstsn.heap import retain_freed_memory
from gstsn.timing.cases import enumerate_cases, enumerate_pairs
from gstsn.timing.synthetic import synthetic_subjects, write_synthetic_cache
from gstsn.timing.workloads import PhaseUnavailable, build_workload, skip_reason


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gstsn-timing", "gstsn timing suite")
    group.addoption("--timing-profile", default="auto", help="auto (cpu on CPU, paper on CUDA) | tiny | cpu | paper")
    group.addoption("--timing-out", default="results/timing", help="output folder (default results/timing)")
    group.addoption("--timing-variants", default="all", help="comma-separated variant ids, or all")
    group.addoption("--timing-devices", default="cpu,cuda", help="devices to generate cases for (default cpu,cuda)")
    group.addoption("--timing-threads", type=int, default=None, help="torch threads (default: torch's choice)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "timing_phase(name): the timing phase a benchmark test measures")
    retain_freed_memory()  # time the steps with the heap settings every gstsn command uses (gstsn/heap.py)
    threads = config.getoption("--timing-threads", default=None)
    if threads:
        torch.set_num_threads(threads)


def _opts(config: pytest.Config) -> tuple[str, str, str]:
    return (
        config.getoption("--timing-profile"),
        config.getoption("--timing-devices"),
        config.getoption("--timing-variants"),
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    profile, devices, variants = _opts(metafunc.config)
    if "case" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("timing_phase")
        if marker is None:
            raise pytest.UsageError(f"{metafunc.function.__name__} takes `case` but has no timing_phase marker")
        cases = enumerate_cases(marker.args[0], profile, devices, variants)
        metafunc.parametrize("case", cases, ids=[c.id for c in cases])
    if "pair" in metafunc.fixturenames:
        pairs = enumerate_pairs(profile, devices)
        metafunc.parametrize("pair", pairs, ids=[p.id for p in pairs])


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    machine_info["torch"] = torch.__version__
    machine_info["cuda"] = torch.version.cuda
    machine_info["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    machine_info["cuda_device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    machine_info["torch_threads"] = torch.get_num_threads()
    machine_info["load_average"] = list(os.getloadavg())
    machine_info["timing_profile"] = config.getoption("--timing-profile")


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: list, output_json: dict) -> None:
    profile, devices, variants = _opts(config)
    output_json["gstsn_timing"] = {"schema": 1, "profile": profile, "devices": devices, "variants": variants}


@pytest.fixture(scope="session")
def timing_out(request: pytest.FixtureRequest) -> Path:
    out = Path(request.config.getoption("--timing-out"))
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory: pytest.TempPathFactory):
    """``get(case) -> (cache, (train_subjects, test_subjects))``: the synthetic cache of the case's profile, written
    once per session."""
    from gstsn.data.cache import SilhouetteCache

    made: dict[str, tuple] = {}

    def get(case):
        profile = case.profile
        if profile.name not in made:
            inp = case.run_config().input
            dest = tmp_path_factory.mktemp(f"synth-{profile.name}") / "cache"
            path = write_synthetic_cache(dest, profile, inp.height, inp.width)
            made[profile.name] = (SilhouetteCache.open(path), synthetic_subjects(profile))
        return made[profile.name]

    return get


def make_workload(case, synthetic):
    reason = skip_reason(case)
    if reason:
        pytest.skip(reason)
    dataset, subjects = synthetic(case) if case.phase in ("evaluation", "data_loading") else (None, None)
    try:
        return build_workload(case, dataset, subjects)
    except PhaseUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def workload(case, synthetic):
    return make_workload(case, synthetic)
