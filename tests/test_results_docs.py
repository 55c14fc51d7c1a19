"""docs/results.md against the declarations of ``gstsn/results/``: the list of names on disk between its ``names``
markers is generated from them (``python tests/test_results_docs.py --write`` after a deliberate change), every
declared file name, column and row key is described elsewhere on the page too, and the ``matches.npz`` key table
lists exactly the declared keys, in order."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from gstsn.results import curves, files, matches, retrieval_csv, row, tables, timing_files

DOC = Path(__file__).resolve().parents[1] / "docs" / "results.md"
#: the modules that declare names on disk, in the order the list shows them
MODULES = (files, row, tables, curves, retrieval_csv, matches, timing_files)
NOT_ON_DISK = {"PAIR_KEYS", "SETTING_KEYS"}  # which row keys pair two runs' curves: not names of their own
EXAMPLES = ((files.checkpoint_name, 1000),)  # names made by a function, shown by one example
BLOCK = re.compile(r"(<!-- names:begin[^\n]*-->\n)(.*?)(<!-- names:end -->)", re.S)


def declared() -> list[tuple[str, str, tuple[str, ...]]]:
    """``(module, constant, names)`` for every constant of :data:`MODULES` that holds a name or names on disk (each
    where it is declared: a constant a module imports from another is listed once)."""
    out, seen = [], set()
    for module in MODULES:
        short = module.__name__.rpartition(".")[2]
        for const in module.__all__:
            value = getattr(module, const)
            if not const.isupper() or const in seen or const in NOT_ON_DISK:
                continue
            if isinstance(value, str):
                out.append((short, const, (value,)))
            elif isinstance(value, tuple) and all(isinstance(v, str) for v in value):
                out.append((short, const, value))
            else:
                continue
            seen.add(const)
        out += [
            (short, f"{fn.__name__}({arg!r})", (fn(arg),)) for fn, arg in EXAMPLES if fn.__module__ == module.__name__
        ]
    return out


def names_block() -> str:
    lines = ["| module | declaration | names |", "|---|---|---|"]
    for module, const, names in declared():
        lines.append(f"| `{module}` | `{const}` | {', '.join(f'`{n}`' for n in names)} |")
    return "\n".join(lines) + "\n"


def _split(text: str) -> tuple[str, str]:
    """(the generated block, the page without it)."""
    found = BLOCK.search(text)
    assert found, f"{DOC} lacks the <!-- names:begin ... --> / <!-- names:end --> markers"
    return found.group(2), text[: found.start(2)] + text[found.end(2) :]


def test_the_list_of_names_is_generated_from_the_declarations():
    block, _ = _split(DOC.read_text(encoding="utf-8"))
    assert block == names_block(), (
        "docs/results.md's list of names is stale: run python tests/test_results_docs.py --write"
    )


def test_the_page_describes_every_declared_name():
    _, page = _split(DOC.read_text(encoding="utf-8"))
    names = {n for _, _, group in declared() for n in group} | set(row.CONFIG_KEYS)
    undescribed = sorted(n for n in names if not re.search(rf"(?<![\w.]){re.escape(n)}(?![\w])", page))
    assert not undescribed, f"docs/results.md does not describe {undescribed} (outside the generated list)"


def test_the_matches_table_lists_the_declared_keys_in_order():
    _, page = _split(DOC.read_text(encoding="utf-8"))
    section = page.split("## matches.npz keys", 1)[1].split("\n## ", 1)[0]
    keys = re.findall(r"^\| `(\w+)` \|", section, re.M)
    assert tuple(keys) == matches.MATCHES_KEYS


def _row_key_text(page: str) -> str:
    """The page's sections on row keys: "runs.jsonl keys", and the bullets of "Additions by the ablation runner" on
    rows."""
    keys = page.split("## runs.jsonl keys", 1)[1].split("\n## ", 1)[0]
    additions = page.split("## Additions by the ablation runner", 1)[1].split("\n## ", 1)[0]
    bullets = re.split(r"\n(?=- )", additions)
    return keys + "".join(b for b in bullets if b.startswith(("- runs.jsonl rows", "- A row holds")))


def test_the_row_key_sections_name_only_declared_keys():
    """Each backticked plain name where the page lists row keys is a row key, a config field or a value of one."""
    _, page = _split(DOC.read_text(encoding="utf-8"))
    words = set(re.findall(r"`([a-z][a-z0-9_]*)`", _row_key_text(page)))
    values = {"fp32", "bf16"}  # of precision
    metric_kinds = {"cv_rank1_view", "cv_map_view"}  # metric kinds, spelled out (gstsn.results.metrics)
    unknown = sorted(words - set(row.ROW_KEYS) - set(row.CONFIG_KEYS) - values - metric_kinds)
    assert not unknown, f"docs/results.md names {unknown} as row keys; gstsn.results.row declares none of them"
    assert set(row.ROW_KEYS) <= words, sorted(set(row.ROW_KEYS) - words)


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    text = DOC.read_text(encoding="utf-8")
    DOC.write_text(BLOCK.sub(lambda m: m.group(1) + names_block() + m.group(3), text), encoding="utf-8")
    print(f"wrote the list of names in {DOC}")
