"""What the CASIA-B readers share: the import error, the reader version that is part of every source key, the
source description in ``meta.json`` and the refusal of an import that would leave an empty cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gstsn.data.cache_writer import CacheWriter

READER_VERSION = 1  # bump when a reader's output changes: it is part of every source key


class DataImportError(ValueError):
    """A source cannot be imported as asked; the message names the file or folder and what was expected."""


def source_meta(source: Path, layout: str, **params: Any) -> dict[str, Any]:
    return {
        "kind": "casia-b",
        "layout": layout,
        "path": str(source.resolve()),
        "reader_version": READER_VERSION,
        "params": params,
    }


def check_not_empty(writer: CacheWriter, src: Path, skipped: list[dict[str, Any]]) -> None:
    """An import that yields no sequence is an error, and replaces nothing (an existing cache stays as it was)."""
    if writer.n_sequences:
        return
    dest = writer.dest
    kept = f"{dest} is left as it was" if dest.exists() else f"nothing was written to {dest}"

    def name(e: dict[str, Any]) -> str:  # the folder for a tree; the sequence for an npz (its path is ``src``)
        key = "/".join(e.get(k, "") for k in ("subject", "seq_type", "view"))
        return e["path"] if e.get("path") and e["path"] != str(src) else key

    examples = "; ".join(f"{name(e)}: {e['reason']}" for e in skipped[:3])
    more = f" (and {len(skipped) - 3} more)" if len(skipped) > 3 else ""
    raise DataImportError(
        f"{src}: no sequence to import: all {len(skipped)} were skipped, e.g. {examples}{more}; {kept}"
        if skipped
        else f"{src}: no sequence to import; {kept}"
    )


__all__ = [
    "DataImportError",
    "READER_VERSION",
    "check_not_empty",
    "source_meta",
]
