"""What the machine tells a result: the CPU model and whether it computes bf16 in hardware (from its flags, never
from the vendor), with the ``GSTSN_CPU_BF16`` override."""

from __future__ import annotations

import pytest

from gstsn import machine

ICE_LAKE = ["model name\t: Intel(R) Xeon(R) Processor @ 2.80GHz", "flags\t\t: fpu sse avx2 avx512f avx512_vnni"]
GENOA = ["model name\t: AMD EPYC 9454P 48-Core Processor", "flags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni"]
SAPPHIRE = ["model name\t: Intel(R) Xeon(R) Platinum 8480+", "flags\t\t: avx512f amx_bf16 amx_tile amx_int8"]


@pytest.fixture
def cpuinfo(monkeypatch):
    monkeypatch.delenv(machine.BF16_OVERRIDE_ENV, raising=False)

    def use(lines):
        monkeypatch.setattr(machine, "_cpuinfo", lambda: lines)

    return use


@pytest.mark.parametrize(("lines", "bf16", "flags"), [
    (ICE_LAKE, False, ()), (GENOA, True, ("avx512_bf16",)), (SAPPHIRE, True, ("amx_bf16",)),
])  # fmt: skip
def test_bf16_is_read_from_the_cpu_flags(cpuinfo, lines, bf16, flags):
    cpuinfo(lines)
    assert machine.cpu_has_bf16() is bf16
    assert machine.cpu_bf16_flags() == flags
    assert machine.cpu_model() == lines[0].split(":", 1)[1].strip()


def test_a_vendor_name_alone_does_not_make_bf16(cpuinfo):
    cpuinfo(["model name\t: AMD EPYC 7B13 64-Core Processor", "flags\t\t: fpu avx2"])  # Zen 3: no bf16
    assert machine.cpu_has_bf16() is False


def test_the_override_wins_and_a_bad_one_is_named(cpuinfo, monkeypatch):
    cpuinfo(ICE_LAKE)
    monkeypatch.setenv(machine.BF16_OVERRIDE_ENV, "1")
    assert machine.cpu_has_bf16() is True
    cpuinfo(GENOA)
    monkeypatch.setenv(machine.BF16_OVERRIDE_ENV, "0")
    assert machine.cpu_has_bf16() is False
    monkeypatch.setenv(machine.BF16_OVERRIDE_ENV, "yes")
    with pytest.raises(ValueError, match="GSTSN_CPU_BF16='yes' is invalid; expected 1"):
        machine.cpu_has_bf16()


def test_without_cpuinfo_torch_is_asked(cpuinfo):
    import torch

    cpuinfo([])
    expected = bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    assert machine.cpu_has_bf16() is expected


@pytest.mark.parametrize(("lines", "override", "record", "says"), [
    (GENOA, None, {"flags": ["avx512_bf16"], "override": None, "used": True}, "native"),
    (ICE_LAKE, "1", {"flags": [], "override": "1", "used": True}, "=1 on a CPU with no bf16 in hardware: emulated"),
    (SAPPHIRE, "0", {"flags": ["amx_bf16"], "override": "0", "used": False}, "turned off by GSTSN_CPU_BF16=0"),
    (ICE_LAKE, None, {"flags": [], "override": None, "used": False}, "no bf16 in hardware: bf16 not timed"),
])  # fmt: skip
def test_a_timing_run_records_whether_its_bf16_is_native_emulated_or_off(cpuinfo, monkeypatch, lines, override,
                                                                        record, says):  # fmt: skip
    cpuinfo(lines)
    if override:
        monkeypatch.setenv(machine.BF16_OVERRIDE_ENV, override)
    assert machine.cpu_bf16_info() == record
    assert says in machine.describe_cpu_bf16(record)


@pytest.mark.parametrize("record", [None, {}, {"flags": "avx512_bf16"}, "bf16"])
def test_a_missing_or_unreadable_bf16_record_is_described_as_nothing(record):
    assert machine.describe_cpu_bf16(record) is None
