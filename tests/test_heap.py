"""gstsn.heap: freed tensor memory is reused from the heap instead of being faulted in again from the kernel, and
handed back on request."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from gstsn import heap

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# Allocate, fill and free a 48 MiB tensor (above glibc's largest mmap threshold) and count the minor page faults of 20
# rounds after 40 warm-up rounds. The heap takes a few rounds to settle (the block lands on new pages until the holes
# below it are large enough): measured alone, the last faulting round was the 6th to 9th of 50 processes; inside the
# parallel test suite once the 13th, which failed a 10-round warm-up.
FAULTS = """
import json, resource, sys, torch
from gstsn.heap import release_free_memory, retain_freed_memory
from gstsn.timing.memory import current_rss_bytes
applied = retain_freed_memory()
rounds, n = 20, 12 << 20
for _ in range(40):
    torch.empty(n).fill_(1.0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(rounds):
    torch.empty(n).fill_(1.0)
after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rss = current_rss_bytes()
released = release_free_memory()
print(json.dumps({"applied": applied, "faults": after - before, "pages": rounds * n * 4 // resource.getpagesize(),
                  "released": released, "rss_drop": rss - current_rss_bytes()}))
"""


def count_faults(mode: str) -> dict:
    env = {**os.environ, heap.ENV: mode, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", FAULTS], env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.skipif(not GLIBC, reason="the settings are glibc's; other C libraries are left alone")
def test_freed_tensor_memory_is_reused_not_faulted_in_again():
    retained = count_faults("retain")
    assert retained["applied"] is True
    assert retained["faults"] < 0.05 * retained["pages"], retained
    # the kept block goes back to the kernel on request (what peak_memory_bytes does before its baseline)
    assert retained["released"] is True and retained["rss_drop"] >= 40 << 20, retained
    system = count_faults("system")
    assert system["applied"] is False
    assert system["faults"] > retained["faults"], (system, retained)


def test_opt_out_and_bad_value(monkeypatch):
    monkeypatch.setenv(heap.ENV, "system")
    assert heap.retain_freed_memory() is False
    monkeypatch.setenv(heap.ENV, "jemalloc")
    with pytest.raises(ValueError, match=r"GSTSN_MALLOC='jemalloc': expected 'retain' \(default\) or 'system'"):
        heap.retain_freed_memory()


def test_every_gstsn_command_applies_it(monkeypatch, capsys):
    import gstsn.cli

    calls = []
    monkeypatch.setattr(gstsn.cli, "retain_freed_memory", lambda: calls.append(1) or True)
    assert gstsn.cli.main(["data", "info", "no/such/file.npz"]) == 2
    assert calls == [1]
    assert "no/such/file.npz" in capsys.readouterr().err
