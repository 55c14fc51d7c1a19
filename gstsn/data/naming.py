"""CASIA-B naming: subjects, sequence types (conditions) and views, with validation that names what is wrong.

- subjects: digit strings, canonically 3 digits (``"001"``..``"124"`` in CASIA-B; synthetic data uses the same form).
- sequence types: ``nm-01``..``nm-06`` (normal), ``bg-01``, ``bg-02`` (bag), ``cl-01``, ``cl-02`` (coat).
- views: ``"000"``, ``"018"``, .., ``"180"`` (11 azimuths, 18° apart).

Every sequence table is sorted by ``(subject, seq_type, view)`` as plain strings (so ``bg-01`` sorts before
``nm-01``); :data:`SEQ_TYPES` keeps the natural nm/bg/cl order used in count tables and reports.
"""

from __future__ import annotations

import re

from gstsn import config

CONDITIONS: dict[str, tuple[str, ...]] = {
    "nm": ("nm-01", "nm-02", "nm-03", "nm-04", "nm-05", "nm-06"),
    "bg": ("bg-01", "bg-02"),
    "cl": ("cl-01", "cl-02"),
}
SEQ_TYPES: tuple[str, ...] = CONDITIONS["nm"] + CONDITIONS["bg"] + CONDITIONS["cl"]
VIEWS: tuple[str, ...] = config.VIEWS  # declared once, in gstsn.config
CASIA_B_SUBJECTS: tuple[str, ...] = tuple(f"{i:03d}" for i in range(1, 125))

#: a sequence with fewer valid frames than this is reported as "short" (the community pretreatment warns below 5)
SHORT_SEQUENCE_FRAMES = 5

_SUBJECT_RE = re.compile(r"^\d{1,6}$")


class NamingError(ValueError):
    """A subject, sequence type or view name is not a CASIA-B name; the message says where and what is allowed."""


def _where(where: str) -> str:
    return f" in {where}" if where else ""


def validate_seq_type(name: str, where: str = "") -> str:
    """Return ``name`` if it is one of :data:`SEQ_TYPES`, else raise :class:`NamingError` naming the valid ones."""
    if name not in SEQ_TYPES:
        raise NamingError(f"unknown sequence type {name!r}{_where(where)}; expected one of {list(SEQ_TYPES)}")
    return name


def validate_view(name: str, where: str = "") -> str:
    """Return ``name`` if it is one of :data:`VIEWS` (3-digit strings), else raise :class:`NamingError`."""
    if name not in VIEWS:
        raise NamingError(f"unknown view {name!r}{_where(where)}; expected one of {list(VIEWS)}")
    return name


def normalize_subject(name: str | int, where: str = "") -> str:
    """Canonical subject id: a digit string zero-padded to 3 digits (``"1"``, ``1`` -> ``"001"``; ``"1000"`` kept)."""
    if isinstance(name, bool):
        raise NamingError(f"invalid subject id {name!r}{_where(where)}; expected digits such as '001'")
    text = str(name) if isinstance(name, int) else name
    if not isinstance(text, str) or not _SUBJECT_RE.match(text) or int(text) < 0:
        raise NamingError(f"invalid subject id {name!r}{_where(where)}; expected a digit string such as '001'")
    return f"{int(text):03d}"


def full_grid(subjects: list[str] | tuple[str, ...]) -> list[tuple[str, str, str]]:
    """Every ``(subject, seq_type, view)`` CASIA-B would have for ``subjects``, in table (string-sorted) order."""
    return sorted((s, t, v) for s in subjects for t in SEQ_TYPES for v in VIEWS)


__all__ = [
    "CASIA_B_SUBJECTS",
    "CONDITIONS",
    "NamingError",
    "SEQ_TYPES",
    "SHORT_SEQUENCE_FRAMES",
    "VIEWS",
    "full_grid",
    "normalize_subject",
    "validate_seq_type",
    "validate_view",
]
