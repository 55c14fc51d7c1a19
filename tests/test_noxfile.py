"""noxfile.py: the sessions that render reports/ (the main job and the timing suite) render the same pages from the
same inputs, the committed real-data store included (with a stand-in for nox, which the test venv does not have)."""

from __future__ import annotations

import importlib.util
import json
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
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
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


def test_every_reference_store_is_merged_and_none_into_itself(noxfile, tmp_path, monkeypatch):
    second = tmp_path / "casia-b-other"
    second.mkdir()
    stores = (*noxfile.REFERENCE_STORES, noxfile.ReferenceStore(str(second), "quick", (("lstm_layers", ()),)))
    monkeypatch.setattr(noxfile, "REFERENCE_STORES", stores)
    assert noxfile.reference_args("results") == ["--reference", noxfile.REFERENCE, "--reference", str(second)]
    assert noxfile.reference_args(str(second)) == ["--reference", noxfile.REFERENCE]
    monkeypatch.setattr(noxfile, "REFERENCE_STORES", (*stores, noxfile.ReferenceStore("reference/absent", "x", ())))
    assert noxfile.reference_args("results")[-1] == str(second)  # a store not on disk is left out


def test_the_reference_session_runs_each_store_at_its_profile(noxfile, tmp_path, monkeypatch):
    second = noxfile.ReferenceStore(str(tmp_path / "other"), "quick", (("lstm_layers", ("--seeds", "0")),))
    monkeypatch.setattr(noxfile, "REFERENCE_STORES", (*noxfile.REFERENCE_STORES, second))
    session = FakeSession(["--data", "casia-b:x.npz", "--store", second.path])
    noxfile.reference(session)
    runs = [c for c in session.calls if c[:3] == ("gstsn", "ablations", "run")]
    assert runs == [("gstsn", "ablations", "run", "lstm_layers", "--profile", "quick", "--jobs", "1", "--threads", "2",
                     "--results", second.path, "--work", ".cache/gstsn/reference-runs", "--seeds", "0", "--data",
                     "casia-b:x.npz")]  # fmt: skip
    every = FakeSession(["--data", "casia-b:x.npz"])
    noxfile.reference(every)
    ran = [c[c.index("--results") + 1] for c in every.calls if c[:3] == ("gstsn", "ablations", "run")]
    assert list(dict.fromkeys(ran)) == [noxfile.REFERENCE, second.path]
    with pytest.raises(SystemExit, match="--store 'nowhere' is not a reference store"):
        noxfile.reference(FakeSession(["--data", "casia-b:x.npz", "--store", "nowhere"]))


def test_each_committed_reference_store_holds_runs_of_its_profile(noxfile):
    """Every folder under reference/ is a store of REFERENCE_STORES, and its rows are at that store's profile."""
    stores = {Path(s.path).name: s for s in noxfile.REFERENCE_STORES}
    assert sorted(p.name for p in (REPO / "reference").iterdir() if p.is_dir()) == sorted(stores)
    for store in noxfile.REFERENCE_STORES:
        files = list((REPO / store.path).glob("*/runs.jsonl"))
        rows = [json.loads(line) for f in files for line in f.read_text().splitlines()]
        assert rows and {r["profile"] for r in rows if r.get("profile")} == {store.profile}, store.path
        assert {f.parent.name for f in files} == {s for s, _ in store.studies}
