"""The timing verdict (``timing/verdict.json``, written by ``gstsn.timing.verdict``, schema 1) as words and tables.

Known sections: ``claim``, ``per_iteration`` (reading 1: per ``device/dtype``, a status and a statement with the ratio
and its interval), ``time_to_accuracy`` (reading 2: a status, per device and GSTSN variant a status and median ratio,
and the seed pairs), ``per_phase`` (paired GSTSN/GaitSet ratios per phase), ``precision_ratios`` (each model's paired
bf16/fp32 ratio on the CPU), ``variant_ratios`` (every GSTSN variant
against GaitSet) and ``step_breakdown`` (profiler category shares and GSTSN's extra time over GaitSet). Any other
scalar keys are shown as run information. A file in another shape still renders: its text leaves under
statement-like keys become the verdict words and every scalar leaf is listed.

Time to accuracy lists only the measured seed pairs; the pairs and variants that were not measured (runs without an
evaluation curve, most ablation cells) fold into one line of the table and one verdict line (:func:`fold_not_measured`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gstsn.machine import describe_cpu_bf16
from gstsn.report.labels import show
from gstsn.report.tables import Cell, Table

_KNOWN = {
    "schema",
    "claim",
    "threshold",
    "headline_variants",
    "per_phase",
    "precision_ratios",
    "cpu_bf16",
    "per_iteration",
    "time_to_accuracy",
    "variant_ratios",
    "step_breakdown",
    "load_average",
}
_WORD_KEYS = {"verdict", "summary", "text", "statement", "conclusion", "answer", "reading"}


@dataclass
class TimingVerdictView:
    """What the timing page shows of verdict.json: the claim, verdict lines, tables and remaining run info."""

    claim: str = ""
    lines: list[str] = field(default_factory=list)
    kind: str = "missing"  # supports | contradicts | unclear | missing | info (CSS of the box)
    tables: list[Table] = field(default_factory=list)
    tta_table: Table | None = None  # time to accuracy per seed pair (the plot of the curves goes right under it)
    notes: list[str] = field(default_factory=list)
    info: list[tuple[str, str]] = field(default_factory=list)


def _num(x: Any, digits: int = 2) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "—"
    return "—" if math.isnan(v) else f"{v:.{digits}f}"


def _ratio(e: dict[str, Any]) -> str:
    if e.get("ratio") is None:
        return "—"
    if e.get("ci_low") is None or e.get("ci_high") is None:
        return f"{_num(e['ratio'])} (no interval)"
    return f"{_num(e['ratio'])} [{_num(e['ci_low'])}, {_num(e['ci_high'])}]"


def _status_cls(status: str) -> str:
    s = str(status)
    if s.startswith("holds"):
        return "better"
    if s.startswith("does not hold"):
        return "worse"
    return "unclear" if not s.startswith("not measured") else "missing"


def _leaves(data: Any, path: tuple[str, ...] = ()) -> tuple[list[str], list[tuple[str, str]]]:
    words: list[str] = []
    leaves: list[tuple[str, str]] = []
    if isinstance(data, dict):
        items = [(str(k), data[k]) for k in sorted(data, key=str)]
    elif isinstance(data, list):
        items = [(str(i), v) for i, v in enumerate(data)]
    else:
        text = f"{data:.4g}" if isinstance(data, float) else show(data)
        if isinstance(data, str) and path and path[-1] in _WORD_KEYS:
            words.append(f"{' › '.join(path[:-1]) or 'verdict'}: {data}")
        return words, [(" › ".join(path), text)]
    for k, v in items:
        w, lv = _leaves(v, (*path, k))
        words += w
        leaves += lv
    return words, leaves


def _per_iteration(per_it: dict[str, Any]) -> tuple[list[str], list[str]]:
    lines, statuses = [], []
    for key in sorted(per_it):
        e = per_it[key] if isinstance(per_it[key], dict) else {"status": show(per_it[key])}
        status = str(e.get("status", "no status"))
        statuses.append(status)
        text = e.get("statement") or f"GSTSN / GaitSet training step on {key}: {status}"
        lines.append(f"Per iteration ({key}): {text}")
    return lines, statuses


def _not_measured(status: Any) -> bool:
    return str(status).startswith("not measured")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


_CONDITION_ORDER = {"NM": 0, "BG": 1, "CL": 2}


def fold_not_measured(pairs: list[dict[str, Any]], variants: Sequence[str] = ()) -> str:
    """One sentence for the seed pairs that were not measured and the variants named without any pair, or ``""``.

    ``"Not measured: 18 seed pairs of gstsn-max-L2, gstsn-mean-L2 (seeds 0, 1, 2; NM, BG, CL). Why: the gaitset run
    has no eval_curve.csv."`` Run ids are left out of the reasons, so that one reason covers many pairs.
    """
    parts = []
    in_pairs = {show(p.get("gstsn_variant")) for p in pairs}
    if pairs:
        seeds = sorted({show(p.get("seed")) for p in pairs}, key=lambda v: (len(v), v))
        conds = sorted({show(p.get("condition")) for p in pairs}, key=lambda c: (_CONDITION_ORDER.get(c, 3), c))
        what = f"{_plural(len(pairs), 'seed pair')} of {', '.join(sorted(in_pairs))}"
        parts.append(f"{what} (seeds {', '.join(seeds)}; {', '.join(conds)})")
    without = sorted(set(variants) - in_pairs)
    if without:
        parts.append(f"{', '.join(without)} (no run with a curve)")
    if not parts:
        return ""
    reasons = sorted(
        {
            re.sub(r"run \S+ \((\w+)\)", r"the \1 run", str(p.get("status")).removeprefix("not measured: "))
            for p in pairs
        }
    )
    return "Not measured: " + ", and ".join(parts) + "." + (f" Why: {'; '.join(reasons)}." if reasons else "")


def _time_to_accuracy(tta: dict[str, Any]) -> tuple[list[str], list[str], Table | None]:
    lines, statuses = [], []
    status = str(tta.get("status", "no status"))
    by_device = tta.get("by_device") if isinstance(tta.get("by_device"), dict) else {}
    if status != "measured" or not by_device:
        lines.append(f"Time to accuracy: {status}")
        statuses.append(status)
    unmeasured: dict[str, list[str]] = {}
    for device in sorted(by_device):
        variants = by_device[device] if isinstance(by_device[device], dict) else {}
        for variant in sorted(variants):
            e = variants[variant]
            st = str(e.get("status", "no status"))
            statuses.append(st)
            if _not_measured(st):
                unmeasured.setdefault(device, []).append(variant)
                continue
            ratio = (
                f", median time ratio {_num(e.get('median_ratio'))} over the {show(e.get('reached'))} pair(s) where "
                "GSTSN reached it"
                if e.get("median_ratio") is not None
                else ""
            )
            cond = tta.get("primary_condition", "NM")
            lines.append(
                f"Time to accuracy ({device}, {variant}, {cond}): {st}{ratio}; {show(e.get('seeds'))} seed pair(s)"
            )
    for device, names in sorted(unmeasured.items()):
        lines.append(f"Time to accuracy ({device}): not measured for {', '.join(names)} (no evaluation curves)")
    pairs = [p for p in tta.get("pairs") or [] if isinstance(p, dict)] if isinstance(tta.get("pairs"), list) else []
    measured = [p for p in pairs if not _not_measured(p.get("status"))]
    without = [str(v) for v in tta.get("variants_without_curves") or []] if isinstance(
        tta.get("variants_without_curves"), list) else []  # fmt: skip
    folded = fold_not_measured([p for p in pairs if _not_measured(p.get("status"))], without)
    table = None
    if measured or folded:
        header = ["GSTSN variant", "seed", "device", "probe set", "GaitSet final rank-1", "GaitSet time (s)",
                  "GSTSN time (s)", "ratio", "status"]  # fmt: skip
        rows = []
        for p in sorted(
            measured, key=lambda p: (str(p.get("gstsn_variant")), str(p.get("seed")), str(p.get("condition")))
        ):
            rows.append([
                Cell(show(p.get("gstsn_variant")), header=True),
                Cell(show(p.get("seed")), cls="num"),
                Cell(show(p.get("device"))),
                Cell(show(p.get("condition"))),
                Cell(_num(p.get("target_rank1"), 1), cls="num"),
                Cell(_num(p.get("t_gaitset_s"), 1), cls="num"),
                Cell(_num(p.get("t_gstsn_s"), 1), cls="num"),
                Cell(_num(p.get("ratio")), cls="num"),
                Cell(show(p.get("status")), cls=_status_cls(str(p.get("status")))),
            ])  # fmt: skip
        if folded:
            rows.append([Cell(folded, cls="missing")])  # one line across the table
        notes = [str(tta.get("definition") or "GSTSN's time to GaitSet's final rank-1 ÷ GaitSet's time to it.")]
        if folded:
            notes.append("Only measured seed pairs have a row; the pairs without evaluation curves are the last line.")
        table = Table("Time to accuracy per seed pair", header, rows, notes, cls="timing")
    return lines, statuses, table


def _per_phase(entries: list[Any]) -> Table | None:
    entries = [e for e in entries if isinstance(e, dict)]
    if not entries:
        return None
    header = ["phase", "device / dtype", "GSTSN ÷ GaitSet [95 %]", "pairs", "GaitSet median (s)", "GSTSN median (s)",
              "status"]  # fmt: skip
    rows = []
    for e in entries:
        status = str(e.get("status", ""))
        if isinstance(e.get("median_s_per_batch"), dict):
            status += "; per batch: " + ", ".join(
                f"{k} {_num(v, 4)} s" for k, v in sorted(e["median_s_per_batch"].items())
            )
        rows.append([
            Cell(show(e.get("phase")), header=True),
            Cell(f"{show(e.get('device'))} / {show(e.get('dtype'))}"),
            Cell(_ratio(e), cls="num"),
            Cell(show(e.get("n")) if e.get("n") is not None else "—", cls="num"),
            Cell(_num(e.get("gaitset_median_s"), 4), cls="num"),
            Cell(_num(e.get("gstsn_median_s"), 4), cls="num"),
            Cell(status),
        ])  # fmt: skip
    notes = ["Paired repeats of the two models in the same run; the claim '20 % less time' needs the whole interval "
             "≤ 0.80."]  # fmt: skip
    return Table("GSTSN (paper setting) ÷ GaitSet time per phase", header, rows, notes, cls="timing")


def _precision_ratios(entries: list[Any], cpu_bf16: Any) -> Table | None:
    entries = [e for e in entries if isinstance(e, dict)]
    if not entries:
        return None
    header = ["phase", "model", "device", "bf16 ÷ fp32 [95 %]", "pairs", "fp32 median (s)", "bf16 median (s)",
              "status"]  # fmt: skip
    rows = [
        [
            Cell(show(e.get("phase")), header=True),
            Cell(show(e.get("variant"))),
            Cell(show(e.get("device"))),
            Cell(_ratio(e), cls="num"),
            Cell(show(e.get("n")) if e.get("n") is not None else "—", cls="num"),
            Cell(_num(e.get("fp32_median_s"), 4), cls="num"),
            Cell(_num(e.get("bf16_median_s"), 4), cls="num"),
            Cell(str(e.get("status", ""))),
        ]
        for e in entries
    ]
    notes = ["Each model paired with itself in the same run, bf16 autocast (the loss in fp32) against fp32: below 1, "
             "bf16 is faster. CPU bf16 is measured where the CPU has it in hardware (AVX512-BF16 or AMX)."]  # fmt: skip
    bf16 = describe_cpu_bf16(cpu_bf16)
    notes.append(f"In this run: {bf16}." if bf16 else "In this run: the CPU's bf16 flags were not recorded (a verdict "
                 "written before they were), so whether its bf16 times are native or emulated is unknown.")  # fmt: skip
    return Table("CPU bf16 ÷ fp32 time per phase", header, rows, notes, cls="timing")


def _variant_ratios(entries: list[Any]) -> Table | None:
    entries = [e for e in entries if isinstance(e, dict)]
    if not entries:
        return None
    header = ["variant", "phase", "device / dtype", "shape", "÷ GaitSet [95 %]", "GaitSet median (s)",
              "variant median (s)"]  # fmt: skip
    rows = [
        [
            Cell(show(e.get("variant")), header=True),
            Cell(show(e.get("phase"))),
            Cell(f"{show(e.get('device'))} / {show(e.get('dtype'))}"),
            Cell(f"batch {show(e.get('batch'))} × {show(e.get('frames'))} frames"),
            Cell(_ratio(e), cls="num"),
            Cell(_num(e.get("gaitset_median_s"), 4), cls="num"),
            Cell(_num(e.get("gstsn_median_s"), 4), cls="num"),
        ]
        for e in entries
    ]
    notes = ["Ratio of medians from the benchmarks' rounds (not paired), with its 95 % interval."]
    return Table("Every GSTSN variant against GaitSet", header, rows, notes, cls="timing")


def _breakdown(data: dict[str, Any]) -> tuple[Table | None, list[str]]:
    labels = sorted(k for k, v in data.items() if isinstance(v, dict) and isinstance(v.get("categories"), dict))
    if not labels:
        return None, []
    cats = sorted({c for k in labels for c in data[k]["categories"] if c != "total"})
    header = ["profiled step", *cats, "total (ms/step)"]
    rows, lines = [], []
    for label in labels:
        c = data[label]["categories"]
        row = [Cell(label, header=True)]
        for cat in cats:
            e = c.get(cat) or {}
            share = e.get("share")
            row.append(Cell(f"{_num(100 * share, 1)} %" if share is not None else "—", sub=f"{_num(e.get('ms'), 1)} ms",
                            cls="num"))  # fmt: skip
        row.append(Cell(_num((c.get("total") or {}).get("ms"), 1), cls="num"))
        rows.append(row)
        extra = data[label].get("extra_over_gaitset_ms")
        if isinstance(extra, dict):
            parts = ", ".join(f"{k} {_num(v, 1)} ms" for k, v in extra.items() if k not in ("total", "note"))
            lines.append(f"{label}: {_num(extra.get('total'), 1)} ms per step more than GaitSet ({parts}).")
    notes = ["torch.profiler self time per training step by operator category (share of the step; ms below)."]
    return Table("Where the training step goes", header, rows, notes, cls="timing"), lines


def timing_verdict_view(verdict: dict[str, Any]) -> TimingVerdictView:
    """Words and tables of a verdict.json (see the module docstring); an empty dict gives an empty 'missing' view."""
    view = TimingVerdictView()
    if not verdict:
        return view
    known = "per_iteration" in verdict or "time_to_accuracy" in verdict or "per_phase" in verdict
    if not known:
        words, leaves = _leaves(verdict)
        view.lines = words
        view.kind = "info" if words else "missing"
        view.info = leaves
        return view
    view.claim = str(verdict.get("claim") or "")
    statuses: list[str] = []
    if isinstance(verdict.get("per_iteration"), dict):
        lines, st = _per_iteration(verdict["per_iteration"])
        view.lines += lines
        statuses += st
    if isinstance(verdict.get("time_to_accuracy"), dict):
        lines, st, table = _time_to_accuracy(verdict["time_to_accuracy"])
        view.lines += lines
        statuses += st
        view.tta_table = table
    measured = [s for s in statuses if not s.startswith("not measured")]
    if any(s.startswith("holds") for s in measured):
        view.kind = "supports"
    elif measured and all(s.startswith("does not hold") for s in measured):
        view.kind = "contradicts"
    elif measured:
        view.kind = "unclear"
    for key, maker in (("per_phase", _per_phase),
                       ("precision_ratios", lambda entries: _precision_ratios(entries, verdict.get("cpu_bf16"))),
                       ("variant_ratios", _variant_ratios)):  # fmt: skip
        table = maker(verdict[key]) if isinstance(verdict.get(key), list) else None
        if table is not None:
            view.tables.append(table)
    if isinstance(verdict.get("step_breakdown"), dict):
        table, lines = _breakdown(verdict["step_breakdown"])
        if table is not None:
            view.tables.append(table)
        view.notes += lines
    load = verdict.get("load_average")
    if isinstance(load, dict) and load.get("start") and load.get("end"):
        cpus = verdict.get("cpu_count")
        start, end = load["start"][0], load["end"][0]
        busy = isinstance(cpus, int) and max(start, end) > cpus
        view.notes.append(
            f"Load average (1 min) {_num(start, 1)} at the start and {_num(end, 1)} at the end on {show(cpus)} CPUs: "
            + ("a shared, busy machine, so times are noisy." if busy else "the machine looked quiet.")
        )
    for key in sorted(k for k in verdict if k not in _KNOWN):
        value = verdict[key]
        if isinstance(value, dict | list):
            _, leaves = _leaves(value, (key,))
            view.info += leaves
        else:
            view.info.append((key, f"{value:.4g}" if isinstance(value, float) else show(value)))
    return view
