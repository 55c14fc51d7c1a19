"""What a study says, in words: data groups, the comparisons to make, and the verdict boxes.

- A study's runs are split into data groups by their ``synthetic`` flag (real CASIA-B, synthetic, unknown), which are
  never mixed in one table, plot or comparison.
- Comparisons (:func:`gstsn.results.stats.contrasts`, the ablation suite's own definition): every grid cell against
  the cell that differs from it in one axis only, that axis at the baseline's value (other axes held fixed). For a
  one-axis study this is "each cell vs the baseline cell"; for input_type × temporal it gives "sequence vs set" for
  each model and "GSTSN vs GaitSet" for each input type. Reference rows off the grid (e.g. GEI) are compared with the
  baseline cell. Differences are paired by seed, with 95 % intervals.
- Multiplicity: a group's comparisons on one distance (every contrast, and every comparison of the paper's choice
  with its alternatives, × NM/BG/CL) form one family, Holm–Bonferroni-adjusted together (:func:`family`). Verdict
  words use the adjusted p-values; the intervals shown are the raw ones, with raw and adjusted p beside them, and a
  difference that stays "not distinguishable" carries the seeds that would resolve it (80 % power at 0.05 / m).
- The verdict box answers the study's question; where the paper made a choice (its ``paper_choice``: median IDR, GSTSN
  over GaitSet, ...) it says whether the runs support, contradict or cannot separate that choice, with intervals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from gstsn.config import CONDITIONS
from gstsn.config.registry import temporal_branch_fields
from gstsn.report import stats
from gstsn.report.labels import show
from gstsn.report.load import MODEL_METHODS, StudyData
from gstsn.results import multiplicity
from gstsn.results import stats as results_stats
from gstsn.results.metrics import metric_key
from gstsn.results.stats import hashable

MAIN_DISTANCE = "per_part"


def study_question(study: StudyData) -> str:
    """The question the study asks of the paper (``question`` in its TOML file, kept in study.json), or ""."""
    question = study.definition.get("question")
    return question if isinstance(question, str) else ""


def paper_choice(study: StudyData) -> dict[str, Any] | None:
    """The paper's setting on the study's axes (``paper_choice`` in its TOML file), or None when it makes none."""
    choice = study.definition.get("paper_choice")
    return dict(choice) if isinstance(choice, dict) and choice else None


@dataclass
class DataGroup:
    """The runs of a study on one kind of data (never mixed with another kind)."""

    key: str  # "real" | "synthetic" | "unknown"
    title: str
    synthetic: bool | None
    runs: pd.DataFrame
    cells: list[str]
    baseline: str | None
    axis_values: dict[str, dict[str, Any]]  # cell -> {axis field: value}
    methods: dict[str, str]  # cell -> method
    choice: dict[str, Any] | None = None  # the paper's choice (the study file's paper_choice), if it makes one
    _families: dict[str, dict[tuple[str, str, str], stats.AdjustedComparison]] = field(
        default_factory=dict, repr=False, compare=False
    )
    _interactions: dict[str, dict[tuple[str, str], stats.AdjustedComparison]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def on_grid(self, cell: str) -> bool:
        return self.methods.get(cell, "gstsn") in MODEL_METHODS

    def value(self, cell: str, name: str) -> Any:
        """A config field of ``cell`` (its axis value, else the field of its first run; None when absent)."""
        if name in self.axis_values.get(cell, {}):
            return self.axis_values[cell][name]
        part = self.runs.loc[self.runs["cell"] == cell]
        return hashable(part[name].iloc[0]) if name in part.columns and not part.empty else None


def _by_profile(part: pd.DataFrame) -> list[tuple[str | None, pd.DataFrame]]:
    """``part`` split by its runs' ``profile`` (sorted; runs without one last): one piece, labelled None, when they
    share one. Runs of two profiles never share a table or a comparison: a study folder holds one profile, but a
    report merges stores (a fresh real-data run at ``paper`` beside the committed ``cpu-real`` store)."""
    if "profile" not in part.columns:
        return [(None, part)]
    profile = part["profile"].map(lambda v: None if hashable(v) is None else str(v))
    names = sorted({p for p in profile if p is not None}) + ([None] if profile.isna().any() else [])
    if len(names) <= 1:
        return [(None, part)]
    pieces = [(n, part[profile == n] if n else part[profile.isna()]) for n in names]
    return [(f"profile {n}" if n else "no profile recorded", piece) for n, piece in pieces]


def data_groups(study: StudyData) -> list[DataGroup]:
    """Split a study's runs by their ``synthetic`` flag (real CASIA-B first, then synthetic, then unknown) and,
    within a kind, by profile where its runs hold several (:func:`_by_profile`)."""
    runs = study.runs
    if runs.empty:
        return []
    flag = runs["synthetic"] if "synthetic" in runs.columns else pd.Series([None] * len(runs), index=runs.index)
    kinds = flag.map(lambda v: {True: "synthetic", False: "real"}.get(hashable(v), "unknown"))
    groups = []
    titles = {
        "real": "Real CASIA-B",
        "synthetic": "Synthetic data (procedural CASIA-B-like generator, not CASIA-B)",
        "unknown": "Data of unknown kind (runs without a synthetic flag; never compared with published numbers)",
    }
    for key, synthetic in (("real", False), ("synthetic", True), ("unknown", None)):
        for setting, part in _by_profile(runs[kinds == key]):
            if part.empty:
                continue
            cells = [c for c in study.cells if c in set(part["cell"])]
            axis_values = {
                c: {f: hashable(part.loc[part["cell"] == c, f].iloc[0]) if f in part.columns else None
                    for f in study.axes}
                for c in cells
            }  # fmt: skip
            methods = part.groupby("cell")["method"].first().astype(str).to_dict() if "method" in part.columns else {}
            baseline = study.baseline if study.baseline in cells else None
            title = f"{titles[key]} · {setting}" if setting else titles[key]
            choice = paper_choice(study)
            groups.append(DataGroup(key, title, synthetic, part, cells, baseline, axis_values, methods, choice))
    return groups


@dataclass(frozen=True)
class Contrast:
    """``cell`` compared with ``reference`` (``axis`` is the one axis they differ in, None for a reference row)."""

    cell: str
    reference: str
    axis: str | None


def contrasts(group: DataGroup) -> list[Contrast]:
    """The comparisons of a group (module docstring; :func:`gstsn.results.stats.contrasts`), in display order."""
    base = group.baseline
    if base is None:
        return []
    grid = {c: group.axis_values[c] for c in group.cells if group.on_grid(c)}
    refs = [c for c in group.cells if not group.on_grid(c)]
    axes = {f: [] for f in group.axis_values[base]}
    pairs = results_stats.contrasts(grid, axes, group.axis_values[base], refs)
    return [Contrast(cell, ref, axis if cell in grid else None) for cell, ref, axis in pairs]


def gstsn_gaitset_pairs(group: DataGroup) -> list[tuple[str, str]]:
    """``(gstsn cell, gaitset cell)`` pairs that agree on every axis that is not GSTSN-only."""
    gaitset = [c for c in group.cells if group.methods.get(c) == "gaitset"]
    pairs = []
    for cell in group.cells:
        if group.methods.get(cell) != "gstsn":
            continue
        temporal_only = temporal_branch_fields()  # fields only GSTSN reads (the registry's); paired on the others
        shared = {f: v for f, v in group.axis_values[cell].items() if f not in temporal_only}
        for other in gaitset:
            if all(group.axis_values[other].get(f) == v for f, v in shared.items()):
                pairs.append((cell, other))
                break
    return pairs


def family_pairs(group: DataGroup) -> list[tuple[str, str]]:
    """``(cell, reference)`` of every comparison the group makes: its contrasts, then the paper's choice against each
    alternative (:func:`choice_rivals`) unless that pair is already a contrast (in either order)."""
    pairs = [(c.cell, c.reference) for c in contrasts(group)]
    seen = {frozenset(p) for p in pairs}
    for pair in choice_rivals(group, group.choice) if group.choice else []:
        if frozenset(pair) not in seen:
            seen.add(frozenset(pair))
            pairs.append(pair)
    return pairs


def family(group: DataGroup, distance: str) -> dict[tuple[str, str, str], stats.AdjustedComparison]:
    """The group's comparisons on ``distance`` (:func:`family_pairs` × NM/BG/CL), Holm-adjusted as one family; keyed
    by ``(cell, reference, condition)``. Computed once per group and distance."""
    if distance not in group._families:
        keys, raw = [], []
        for cell, ref in family_pairs(group):
            for cond in CONDITIONS:
                keys.append((cell, ref, cond))
                raw.append(stats.paired_difference(group.runs, metric_key("rank1", distance, cond), cell, ref))
        group._families[distance] = dict(zip(keys, stats.adjust(raw), strict=True))
    return group._families[distance]


def interactions(group: DataGroup) -> list[results_stats.Interaction]:
    """A two-axis study's interaction contrasts in this group (:func:`gstsn.results.stats.interactions`): does the
    effect of one axis depend on the other? None for a one-axis study or without the baseline cell."""
    if group.baseline is None:
        return []
    grid = {c: group.axis_values[c] for c in group.cells if group.on_grid(c)}
    return results_stats.interactions(grid, list(group.axis_values[group.baseline]), group.axis_values[group.baseline])


def interaction_family(group: DataGroup, distance: str) -> dict[tuple[str, str], stats.AdjustedComparison]:
    """The group's :func:`interactions` × NM/BG/CL on ``distance``, Holm-adjusted as a family of their own (the
    contrasts' family is left as it is), keyed by ``(interaction cell, condition)``; each comparison's ``reference``
    is the interaction's baseline cell."""
    if distance not in group._interactions:
        keys, raw = [], []
        for inter in interactions(group):
            for cond in CONDITIONS:
                diff, seeds = results_stats.interaction_difference(
                    group.runs, inter, metric_key("rank1", distance, cond)
                )
                keys.append((inter.cell, cond))
                raw.append(stats.Comparison(metric_key("rank1", distance, cond), inter.cell, inter.base, diff, seeds))
        group._interactions[distance] = dict(zip(keys, stats.adjust(raw), strict=True))
    return group._interactions[distance]


def interaction_word(c: stats.AdjustedComparison) -> str:
    """An interaction's verdict in words: where the effect is larger, or not distinguishable."""
    return results_stats.INTERACTION_WORDS.get(c.verdict, short_verdict(c.verdict))


def interaction_sentence(group: DataGroup, inter: results_stats.Interaction, distance: str = MAIN_DISTANCE) -> str:
    """``Interaction, input_type set → sequence: effect at temporal=false minus at temporal=true: NM −1.1 [−3.0,
    +0.7] not distinguishable (p 0.12, Holm p 0.36; 8 seeds for 80 % power), … rank-1 points (…)``."""
    fam = interaction_family(group, distance)
    comps = [fam[(inter.cell, cond)] for cond in CONDITIONS]
    m = next((c.m for c in comps), 0)
    return (
        f"Interaction, {inter.describe(show)}: " + ", ".join(_describe(c, interaction_word(c)) for c in comps)
        + f" rank-1 points (difference-in-differences by seed, Holm over the {m} interaction comparisons)."
    )  # fmt: skip


def compare_cells(group: DataGroup, cell: str, reference: str, distance: str, condition: str):
    """``cell − reference`` on rank-1 (``distance``, ``condition``) with its family's adjustment (either order of a
    pair the group compares; another pair is a :class:`KeyError`)."""
    fam = family(group, distance)
    if (cell, reference, condition) in fam:
        return fam[(cell, reference, condition)]
    if (reference, cell, condition) in fam:
        return fam[(reference, cell, condition)].reversed()
    raise KeyError(f"{cell} vs {reference} is not one of the comparisons of this group")


def compare(group: DataGroup, contrast: Contrast, distance: str, condition: str) -> stats.AdjustedComparison:
    return compare_cells(group, contrast.cell, contrast.reference, distance, condition)


def family_size(group: DataGroup, distance: str) -> int:
    """``m``: how many of the group's comparisons on ``distance`` have an interval (are adjusted together)."""
    return next((c.m for c in family(group, distance).values()), 0)


def family_note(group: DataGroup, distance: str = MAIN_DISTANCE) -> str:
    """The sentence saying what was adjusted together, and how (empty when nothing has an interval)."""
    fam = family(group, distance)
    m = family_size(group, distance)
    if m == 0:
        return ""
    untested = len(fam) - m
    return (
        f"Adjusted for multiplicity: the verdicts treat this group's {m} comparisons ({len(family_pairs(group))} "
        f"pairs of cells × NM/BG/CL, {distance} distance"
        + (f"; {untested} more without an interval" if untested else "")
        + ") as one family and use Holm–Bonferroni-adjusted p-values, so the chance of any false 'better' or "
        "'worse' among them is at most 5 %. The intervals are each comparison's raw 95 % interval, shown with its "
        "raw paired t-test p and its Holm p. A difference that stays not distinguishable carries the number of "
        f"seeds that would give {multiplicity.POWER * 100:.0f} % power at the Bonferroni level 0.05 / {m}, "
        "assuming the true difference and the seed-to-seed spread are the observed ones."
    )


@dataclass
class VerdictBox:
    """A verdict in words: the question, the answer, one sentence per comparison, and caveats."""

    title: str
    question: str
    answer: str
    kind: str  # supports | contradicts | partly | unclear | missing | info
    lines: list[str] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)
    method: str = ""  # how the verdicts were reached (the multiplicity adjustment)


def short_verdict(verdict: str) -> str:
    """The verdict word for a table cell or a list item: ``not distinguishable`` (the sample size is said nearby)."""
    return "not distinguishable" if verdict == stats.UNCLEAR else verdict


def _describe(c: stats.AdjustedComparison, word: str | None = None) -> str:
    """``NM −4.1 [−5.7, −2.5] not distinguishable (p 0.004, Holm p 0.072; 6 seeds for 80 % power)``; ``word``
    replaces the verdict word."""
    head = f"{c.metric.rsplit('.', 1)[-1]} {stats.format_difference(c.diff)}"
    if not c.diff.has_interval:
        return head
    tests = f"p {stats.format_p(c.p)}, Holm p {stats.format_p(c.p_holm)}"
    if c.verdict == stats.UNCLEAR:
        tests += f"; {stats.format_seeds_needed(c.seeds_needed)}"
    return f"{head} {word or short_verdict(c.verdict)} ({tests})"


def contrast_sentence(group: DataGroup, contrast: Contrast, distance: str = MAIN_DISTANCE) -> str:
    """``max vs median (idr_stat): NM −1.2 [−2.5, +0.1] (not distinguishable …), BG …; 3 paired seeds.``"""
    comps = [compare(group, contrast, distance, cond) for cond in CONDITIONS]
    seeds = max((c.diff.n for c in comps), default=0)
    parts = ", ".join(_describe(c) for c in comps)
    return f"{contrast.cell} vs {contrast.reference}: {parts} rank-1 points; {seeds} paired seed(s)."


def _caveats(group: DataGroup) -> list[str]:
    out = []
    runs = group.runs
    if group.synthetic is True:
        out.append("Synthetic data: this shows how the variants behave on the procedural generator, not on CASIA-B.")
    elif group.synthetic is None:
        out.append("These runs do not say whether their data were synthetic: read them with care.")
    elif "profile" in runs.columns:
        profiles = sorted({str(p) for p in runs["profile"].dropna()})
        if profiles and profiles != ["paper"]:
            out.append(
                f"Profile {', '.join(profiles)}: a reduced schedule, so absolute numbers sit below the "
                "published paper-scale ones; the comparison between variants is what these runs measure."
            )
    if "collapsed" in runs.columns and runs["collapsed"].any():
        n = int(runs["collapsed"].sum())
        out.append(f"{n} of {len(runs)} runs collapsed (loss stuck at the margin); they are kept in the means.")
    seeds = runs.groupby("cell")["seed"].nunique()
    if not seeds.empty and seeds.min() < 3:
        out.append(f"Some cells have fewer than 3 seeds (minimum {int(seeds.min())}): intervals are wide or absent.")
    return out


def _choice_cells(group: DataGroup, choice: dict[str, Any]) -> list[str]:
    return [
        c for c in group.cells if group.on_grid(c) and all(group.value(c, f) == hashable(v) for f, v in choice.items())
    ]


def choice_rivals(group: DataGroup, choice: dict[str, Any]) -> list[tuple[str, str]]:
    """``(chosen cell, alternative)``: each cell with the paper's choice against each grid cell that differs from it
    only in the chosen fields."""
    chosen = _choice_cells(group, choice)
    rivals = []
    for p in chosen:
        shared = {f: v for f, v in group.axis_values[p].items() if f not in choice}
        for o in group.cells:
            if o in chosen or not group.on_grid(o):
                continue
            if all(group.axis_values[o].get(f) == v for f, v in shared.items()):
                rivals.append((p, o))
    return rivals


def _unadjusted_note(comps: list[stats.AdjustedComparison]) -> str:
    """A sentence on the differences whose raw interval excludes 0 but which the adjustment does not separate."""
    lost = [c for c in comps if c.verdict == stats.UNCLEAR and c.raw_verdict in (stats.BETTER, stats.WORSE)]
    if not lost:
        return ""
    what = (
        "1 difference whose raw 95 % interval excludes 0 is"
        if len(lost) == 1
        else (f"{len(lost)} differences whose raw 95 % intervals exclude 0 are")
    )
    return f" {what} not distinguishable once adjusted for the {lost[0].m} comparisons."


def _choice_answer(group: DataGroup, choice: dict[str, Any]) -> tuple[str, str, list[str]]:
    """(answer, kind, lines) comparing the paper's choice with each alternative that differs only in the choice."""
    chosen = _choice_cells(group, choice)
    label = ", ".join(f"{f}={show(v)}" for f, v in choice.items())
    if not chosen:
        return f"The paper's choice ({label}) has no finished run in this group: no answer yet.", "missing", []
    rivals = choice_rivals(group, choice)
    if not rivals:
        return f"No alternative to the paper's choice ({label}) has finished: no answer yet.", "missing", []
    better, worse, unclear, no_iv = [], [], [], []
    comps = []
    for p, o in rivals:
        for cond in CONDITIONS:
            comp = compare_cells(group, p, o, MAIN_DISTANCE, cond)
            comps.append(comp)
            text = f"{p} vs {o}, {cond}: {stats.format_difference(comp.diff)}"
            if comp.diff.has_interval:
                text += f" (Holm p {stats.format_p(comp.p_holm)})"
            {
                stats.BETTER: better,
                stats.WORSE: worse,
                stats.UNCLEAR: unclear,
                stats.NO_INTERVAL: no_iv,
            }[comp.verdict].append(text)
    total = len(rivals) * len(CONDITIONS)
    note = _unadjusted_note(comps)
    if worse:
        answer = (
            f"Contradicted in {len(worse)} of {total} comparisons: an alternative beats the paper's choice "
            f"({label}) there; " + "; ".join(worse) + "."
        )
        return answer + note, "contradicts", better + unclear
    if better and not unclear and not no_iv:
        answer = f"Supported: the paper's choice ({label}) beats every alternative on NM, BG and CL: " + "; ".join(
            better
        )
        return answer + "." + note, "supports", better
    if better:
        answer = (
            f"Partly supported: the paper's choice ({label}) is better in {len(better)} of {total} "
            f"comparisons ({'; '.join(better)}); the rest are not distinguishable at this sample size "
            "(none is worse)."
        )
        return answer + note, "partly", better + unclear
    if unclear:
        answer = (
            f"Not distinguishable at this sample size: no alternative is better or worse than the paper's "
            f"choice ({label}) once adjusted for the study's {comps[0].m} comparisons; these runs neither support "
            "nor contradict it."
        )
        return answer + note, "unclear", unclear
    return "Fewer than 2 paired seeds per comparison: no intervals, so no verdict.", "missing", []


def study_verdict(study: StudyData, group: DataGroup) -> VerdictBox:
    """The verdict box of one data group of a study."""
    question = study_question(study) or str(study.definition.get("description") or "What does this study show?")
    title = f"{study.name}: {group.title}"
    box = VerdictBox(title=title, question=question, answer="", kind="info", caveats=_caveats(group))
    if group.baseline is None:
        box.answer = "No baseline cell has finished in this group, so there is nothing to compare against yet."
        box.kind = "missing"
        return box
    items = contrasts(group)
    box.lines = [contrast_sentence(group, c) for c in items] + [
        interaction_sentence(group, i) for i in interactions(group)
    ]
    box.method = family_note(group)
    choice = paper_choice(study)
    if choice is not None:
        box.answer, box.kind, _ = _choice_answer(group, choice)
        return box
    if not items:
        box.answer = "Only the baseline cell has finished: nothing to compare yet."
        box.kind = "missing"
        return box
    counts = {stats.BETTER: 0, stats.WORSE: 0, stats.UNCLEAR: 0, stats.NO_INTERVAL: 0}
    comps = [compare(group, c, MAIN_DISTANCE, cond) for c in items for cond in CONDITIONS]
    for comp in comps:
        counts[comp.verdict] += 1
    total = sum(counts.values())
    box.answer = (
        f"Of {total} comparisons (each contrast on NM, BG and CL, {MAIN_DISTANCE} distance; verdicts adjusted for "
        f"multiplicity with Holm–Bonferroni): {counts[stats.BETTER]} better, {counts[stats.WORSE]} worse, "
        f"{counts[stats.UNCLEAR]} not distinguishable at this sample size"
        + (f", {counts[stats.NO_INTERVAL]} without an interval" if counts[stats.NO_INTERVAL] else "")
        + "."
        + _unadjusted_note(comps)
        + _interaction_answer(group)
        + " Each line below reads 'cell vs reference: difference [raw 95 % interval] verdict (raw p, Holm p)'."
    )
    return box


def _interaction_answer(group: DataGroup) -> str:
    """A sentence counting the interactions (their own Holm family) that can be told from 0; empty without any."""
    fam = interaction_family(group, MAIN_DISTANCE)
    tested = [c for c in fam.values() if c.diff.has_interval]
    if not tested:
        return ""
    axes = " and ".join(interactions(group)[0].axes)
    told = sum(c.verdict in (stats.BETTER, stats.WORSE) for c in tested)
    return (
        f" Whether the effect of one of {axes} depends on the other (the interaction, difference-in-differences by "
        f"seed, Holm over its own {len(tested)} comparisons): distinguishable from no dependence in {told} of "
        f"{len(tested)}."
    )
