"""The test suite's shared helpers, in one place: a test module imports what it shares from here (``from
helpers.toy_data import make_toy_cache``), never from another test module. Shared pytest fixtures stay in
``tests/conftest.py``.

- :mod:`helpers.studies`: the small study files the ablation-runner tests write;
- :mod:`helpers.waiting`: waiting for a condition (a log line, a checkpoint), never for a length of time;
- :mod:`helpers.toy_data`: a learnable toy silhouette cache and CASIA-B-layout labels for the train / eval tests;
- :mod:`helpers.results_store`: a fake results store (studies, timing) as docs/results.md describes it, for the
  report tests;
- :mod:`helpers.paired_runs`: hand-made GaitSet / GSTSN runs and curves for the results-layer tests;
- :mod:`helpers.cli`: the ``gstsn`` command line run in-process.
"""
