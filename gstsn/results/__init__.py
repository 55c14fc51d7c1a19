"""The results layer: the on-disk format of result files, read and written in one place (torch-free).

Every name on disk is declared in one module here: the file names (:mod:`~gstsn.results.files`, the timing folder's
in :mod:`~gstsn.results.timing_files`), the results row (:mod:`~gstsn.results.row`), the columns and keys of
``tables.csv``, the curves, ``retrieval.csv`` and ``matches.npz`` (:mod:`~gstsn.results.tables`,
:mod:`~gstsn.results.curves`, :mod:`~gstsn.results.retrieval_csv`, :mod:`~gstsn.results.matches`); docs/results.md
lists them (checked by tests/test_results_docs.py).

- :mod:`gstsn.results.runs`: ``runs.jsonl``, one JSON object per finished run, read with one error policy: every line
  that is not a valid row is named (file, line, why), left out of the rows, and never dropped: a writer moves it to
  ``runs.quarantined.jsonl`` beside the file, verbatim. An impossible metric value of a valid row (a percentage
  outside [0, 100] or not finite, :mod:`gstsn.results.metrics`) is named the same way and left out of the rows.
"""

from gstsn.results.runs import QUARANTINE_FILE, RUNS_FILE, DamagedLine, DamagedValue, RunsFile, read_runs

__all__ = ["QUARANTINE_FILE", "RUNS_FILE", "DamagedLine", "DamagedValue", "RunsFile", "read_runs"]
