"""noxfile.py: the sessions that render reports/ (the main job and the timing suite) render the same pages from the
same inputs, the committed real-data store included (with a stand-in for nox, which the test venv does not have)."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


class FakeSession:
    def __init__(self, posargs=()):
        self.posargs, self.env, self.calls = list(posargs), {}, []

    def install(self, *args):
        self.calls.append(("install", *args))

    def run(self, *args, **kwargs):
        self.calls.append(tuple(args))

    def error(self, message):
        raise SystemExit(message)


@pytest.fixture
def noxfile(monkeypatch):
    fake = types.ModuleType("nox")
    fake.options = types.SimpleNamespace()
    fake.Session = FakeSession
    fake.session = lambda *a, **k: lambda f: f
    monkeypatch.setitem(sys.modules, "nox", fake)
    monkeypatch.chdir(REPO)
    spec = importlib.util.spec_from_file_location("noxfile_under_test", REPO / "noxfile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _report_calls(session: FakeSession) -> list[tuple]:
    return [c for c in session.calls if c[:2] == ("gstsn", "report")]


def test_timing_and_the_main_job_render_reports_with_the_reference_store(noxfile):
    assert (REPO / noxfile.REFERENCE).is_dir()
    main_job, timing = FakeSession(), FakeSession()
    noxfile.ablations(main_job)
    noxfile.timing(timing)
    assert _report_calls(main_job) == _report_calls(timing)
    expected = ("gstsn", "report", "results", "--reference", noxfile.REFERENCE, "--out", "reports")
    assert _report_calls(timing) == [expected]


def test_the_reference_store_is_not_its_own_reference(noxfile):
    session = FakeSession(["--results", noxfile.REFERENCE])
    noxfile.ablations(session)
    assert _report_calls(session) == [("gstsn", "report", noxfile.REFERENCE, "--out", "reports")]
