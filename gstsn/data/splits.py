"""Train/test subject splits: the CASIA-B lists LT, MT, ST, a user's JSON file, or a proportional split.

A split file is JSON with ``TRAIN_SET`` and ``TEST_SET`` (lists of subject ids) and an optional ``description``.
The built-in ones (``gstsn/data/splits/*.json``): LT trains on 001–074, MT on 001–062, ST on 001–024; each tests on
the rest of 001–124. ``LT-val`` is a validation split inside LT's training subjects (train 001–062, validate on
063–074): settings are chosen on it, never on LT's test subjects 075–124.

:func:`load_split` maps a split onto the subjects a dataset actually has:

- ``mode="fixed"``: the file's lists; a subject they name that the dataset lacks is an error naming it (a result on
  part of the protocol's subjects is not the protocol's).
- ``mode="proportional"``: the available subjects in id order, the first ``round(n * f)`` for training where ``f`` is
  the file's train fraction (LT 74/124, MT 62/124, ST 24/124), at least one subject on each side. This is how a
  synthetic dataset with, say, 50 subjects gets "LT": train 001–030, test 031–050.
- ``mode="auto"`` (default): ``fixed`` when at least 90 % of the file's subjects are available (real CASIA-B, or a
  copy missing a few subjects), else ``proportional``.

Train and test never share a subject: a file listing one in both raises :class:`SplitError`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from gstsn.data.naming import NamingError, normalize_subject

SPLIT_DIR = Path(__file__).with_name("splits")
SPLIT_NAMES = ("LT", "MT", "ST", "LT-val")
SPLIT_MODES = ("auto", "fixed", "proportional")
FIXED_COVERAGE = 0.9  # auto mode keeps the file's lists when this share of its subjects is available
_KEYS = ("TRAIN_SET", "TEST_SET", "description")


class SplitError(ValueError):
    """A split name, file or mapping is invalid; the message names the split and what was expected."""


@dataclass(frozen=True)
class Split:
    """Subject ids for training and testing (sorted, disjoint)."""

    train: list[str]
    test: list[str]
    name: str = ""
    mode: str = "fixed"  # how the lists were obtained: "fixed" or "proportional"


def _subject_order(s: str) -> tuple[int, str]:
    return (int(s), s)


def _read_split_file(name_or_path: str | os.PathLike) -> tuple[str, list[str], list[str]]:
    text = str(name_or_path)
    builtin = {n.upper(): n for n in SPLIT_NAMES}
    if text.upper() in builtin and not Path(text).is_file():
        name = builtin[text.upper()]
        path = SPLIT_DIR / f"{name}.json"
    else:
        path, name = Path(text), Path(text).stem
        if not path.is_file():
            raise SplitError(f"unknown split {text!r}: expected one of {list(SPLIT_NAMES)} or a JSON file path")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SplitError(f"split file {path} is unreadable or not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SplitError(f"split file {path} must hold a JSON object with TRAIN_SET and TEST_SET")
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise SplitError(f"split file {path} has unknown key(s) {unknown}; valid keys: {list(_KEYS)}")
    lists = []
    for key in ("TRAIN_SET", "TEST_SET"):
        ids = data.get(key)
        if not isinstance(ids, list) or not ids:
            raise SplitError(f"split file {path}: {key} must be a non-empty list of subject ids")
        try:
            lists.append(sorted({normalize_subject(s, where=f"{path} {key}") for s in ids}, key=_subject_order))
        except NamingError as exc:
            raise SplitError(str(exc)) from exc
    both = sorted(set(lists[0]) & set(lists[1]))
    if both:
        raise SplitError(f"split file {path}: subject(s) {both} are in both TRAIN_SET and TEST_SET")
    return name, lists[0], lists[1]


def load_split(
    name_or_path: str | os.PathLike, subjects_available: list[str] | tuple[str, ...], mode: str = "auto"
) -> Split:
    """Resolve a split (``"LT"``, ``"MT"``, ``"ST"`` or a JSON path) against the dataset's subjects (see module doc)."""
    if mode not in SPLIT_MODES:
        raise SplitError(f"split mode {mode!r} is invalid; expected one of {list(SPLIT_MODES)}")
    name, train, test = _read_split_file(name_or_path)
    try:
        available = sorted({normalize_subject(s, where="subjects_available") for s in subjects_available},
                           key=_subject_order)  # fmt: skip
    except NamingError as exc:
        raise SplitError(str(exc)) from exc
    if len(available) < 2:
        raise SplitError(f"split {name}: need at least 2 subjects, the dataset has {len(available)}")
    listed = set(train) | set(test)
    have = set(available)
    if mode == "auto":
        mode = "fixed" if len(listed & have) >= FIXED_COVERAGE * len(listed) else "proportional"
    if mode == "fixed":
        lacking = sorted(listed - have, key=_subject_order)
        if lacking:
            shown = ", ".join(lacking[:12]) + (", ..." if len(lacking) > 12 else "")
            raise SplitError(
                f"split {name} needs {len(lacking)} subject(s) that the data lacks ({shown}; it has "
                f"{len(available)} subjects): the published protocol is not met. Use a split file (a JSON path as "
                "the split) that lists only the subjects you have"
            )
        return Split(train, test, name, "fixed")
    n_train = min(max(round(len(available) * len(train) / len(listed)), 1), len(available) - 1)
    return Split(available[:n_train], available[n_train:], name, "proportional")


__all__ = ["FIXED_COVERAGE", "SPLIT_MODES", "SPLIT_NAMES", "Split", "SplitError", "load_split"]
