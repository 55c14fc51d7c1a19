"""The results layer: the on-disk format of result files, read and written in one place (torch-free).

- :mod:`gstsn.results.runs`: ``runs.jsonl``, one JSON object per finished run, read with one error policy: every line
  that is not a valid row is named (file, line, why), left out of the rows, and never dropped: a writer moves it to
  ``runs.quarantined.jsonl`` beside the file, verbatim.
"""

from gstsn.results.runs import QUARANTINE_FILE, RUNS_FILE, DamagedLine, RunsFile, read_runs

__all__ = ["QUARANTINE_FILE", "RUNS_FILE", "DamagedLine", "RunsFile", "read_runs"]
