"""``runs.jsonl``: one JSON object per finished run (schema in ``docs/results.md``), and its quarantine.

One reader, one policy (:func:`read_runs`): a line that is not a valid row is a :class:`DamagedLine` (file, line
number, verbatim text, the reason), kept out of the rows and reported by whoever reads; nothing is skipped silently.
A line is damaged when it is not JSON, not an object, has no plain ``run_id``, or holds a metric (``rank1.*``) that is
not a number or null. A writer that rewrites ``runs.jsonl`` never drops such a line: it first appends it, verbatim with
its reason, to ``runs.quarantined.jsonl`` beside the file (:func:`quarantine`), where ``gstsn report`` and ``gstsn
ablations summary`` keep naming it until a person deals with it.

A valid row can still hold an impossible metric value: a percentage (rank-1, rank-5, mAP, mINP, ... see
:mod:`gstsn.results.metrics`) that is not finite or lies outside [0, 100]. Such a value is a :class:`DamagedValue`
(file, line, run, key, value, why): it is left out of :attr:`RunsFile.rows` (null there, as a metric not measured),
so no mean, interval or comparison ever uses it, and the reader names it beside the damaged lines. The row itself
stays in ``runs.jsonl`` verbatim (:attr:`RunsFile.stored_rows`, what a writer rewrites), and stays named.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gstsn.results.files import QUARANTINE_FILE, RUNS_FILE
from gstsn.results.metrics import PERCENT_RULE, impossible_percentage, is_percentage_key
from gstsn.results.row import row_keys

METRIC_PREFIX = "rank1."
REQUIRED_KEYS = row_keys("run_id")  # what makes an object a row (the keys of a row: gstsn.results.row)
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=+-]*$")  # a run id or a file name part, never a path


@dataclass(frozen=True)
class DamagedLine:
    """One line of ``runs.jsonl`` that is not a valid row."""

    path: Path
    lineno: int
    text: str
    reason: str

    def describe(self) -> str:
        return f"{self.path.name} line {self.lineno} {self.reason}"


@dataclass(frozen=True)
class DamagedValue:
    """One impossible metric value of a valid row (see the module doc)."""

    path: Path
    lineno: int
    run_id: str
    key: str
    value: Any
    reason: str

    def describe(self) -> str:
        return f"{_short(self.key)} = {_short(repr(self.value))} ({self.reason})"


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class RunsFile:
    """The rows of one ``runs.jsonl`` (in file order), its damaged lines, and the lines quarantined from it before.

    ``rows``: the valid rows with every impossible metric value left out (null); ``stored_rows``: the same rows as
    stored (what a writer that rewrites the file keeps); ``damaged_values``: the values left out."""

    path: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    damaged: list[DamagedLine] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    stored_rows: list[dict[str, Any]] = field(default_factory=list)
    damaged_values: list[DamagedValue] = field(default_factory=list)

    def problems(self) -> list[str]:
        """One sentence per damaged or quarantined line and per row with impossible values, for a report or a
        summary."""
        out = [f"{d.describe()}; it is not used (the next commit moves it to {QUARANTINE_FILE})" for d in self.damaged]
        out += self._value_problems()
        out += [
            f"{QUARANTINE_FILE} holds a line taken out of {RUNS_FILE} on {q.get('quarantined', '?')} "
            f"(was line {q.get('line', '?')}: {q.get('reason', '?')})"
            for q in self.quarantined
        ]
        return out

    def _value_problems(self, shown: int = 5) -> list[str]:
        by_line: dict[int, list[DamagedValue]] = {}
        for d in self.damaged_values:
            by_line.setdefault(d.lineno, []).append(d)
        out = []
        for lineno, values in by_line.items():
            listed = ", ".join(d.describe() for d in values[:shown])
            more = f", … ({len(values) - shown} more)" if len(values) > shown else ""
            one = len(values) == 1
            what = "an impossible metric value" if one else f"{len(values)} impossible metric values"
            out.append(
                f"{self.path.name} line {lineno} (run {values[0].run_id}) holds {what}: {listed}{more}; "
                f"{PERCENT_RULE}, so {'it is' if one else 'they are'} left out of every mean and comparison"
            )
        return out


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def check_row(row: Any) -> str | None:
    """Why ``row`` (a parsed line) is not a valid run row, or None when it is."""
    if not isinstance(row, dict):
        return f"holds a {type(row).__name__}, expected an object"
    lacking = [k for k in REQUIRED_KEYS if k not in row]
    if lacking:
        return f"lacks key(s) {lacking}"
    if not SAFE_NAME.match(str(row["run_id"])):
        return f"has run_id {str(row['run_id'])!r}, which is not a plain name"
    bad = [k for k, v in row.items() if k.startswith(METRIC_PREFIX) and not _is_number(v)]
    if bad:
        return f"holds {bad[0]} = {row[bad[0]]!r}, which is not a number"
    return None


def impossible_values(row: dict[str, Any], path: Path, lineno: int) -> list[DamagedValue]:
    """The metric values of a valid ``row`` that cannot be (:func:`gstsn.results.metrics.impossible_percentage`)."""
    out = []
    for key, value in row.items():
        if is_percentage_key(key):
            why = impossible_percentage(value)
            if why is not None:
                out.append(DamagedValue(path, lineno, str(row["run_id"]), key, value, why))
    return out


def read_runs(path: str | Path) -> RunsFile:
    """Read ``path`` (absent: no rows) and the quarantine file beside it; see the module doc for the policy."""
    path = Path(path)
    result = RunsFile(path)
    if path.is_file():
        for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                result.damaged.append(DamagedLine(path, lineno, line, f"is not valid JSON ({exc.msg})"))
                continue
            reason = check_row(row)
            if reason is not None:
                result.damaged.append(DamagedLine(path, lineno, line, reason))
                continue
            bad = impossible_values(row, path, lineno)
            result.damaged_values.extend(bad)
            result.stored_rows.append(row)
            result.rows.append({**row, **dict.fromkeys((d.key for d in bad), None)} if bad else row)
    qpath = path.with_name(QUARANTINE_FILE)
    if qpath.is_file():
        for line in qpath.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.strip():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    entry = {"text": line, "reason": "unreadable quarantine entry"}
                result.quarantined.append(entry if isinstance(entry, dict) else {"text": line})
    return result


def json_line(row: dict[str, Any]) -> str:
    """One row as written to ``runs.jsonl`` (NaN allowed, as the writers always did)."""
    return json.dumps(row, sort_keys=False, separators=(",", ":"), allow_nan=True)


def quarantine_text(runs: RunsFile) -> str | None:
    """The quarantine file's new content with ``runs``'s damaged lines appended (None when there are none)."""
    if not runs.damaged:
        return None
    qpath = runs.path.with_name(QUARANTINE_FILE)
    old = qpath.read_text(encoding="utf-8") if qpath.is_file() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    new = [
        json.dumps({"quarantined": when, "line": d.lineno, "reason": d.reason, "text": d.text}, ensure_ascii=False)
        for d in runs.damaged
    ]
    return old + "\n".join(new) + "\n"


__all__ = [
    "QUARANTINE_FILE",
    "RUNS_FILE",
    "DamagedLine",
    "DamagedValue",
    "RunsFile",
    "check_row",
    "impossible_values",
    "json_line",
    "quarantine_text",
    "read_runs",
]
