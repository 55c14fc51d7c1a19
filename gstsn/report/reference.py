"""A committed results store merged into a fresh one, study by study (``gstsn report RESULTS --reference DIR``): its
runs become the study's own group (the "Real CASIA-B" section, first), never mixed with the fresh runs."""

from __future__ import annotations

import pandas as pd

from gstsn.report.load import LoadedResults, ReferenceStore, StudyData, study_order
from gstsn.results.stats import order_cells
from gstsn.results.tables import TABLES_COLUMNS
from gstsn.results.timing_files import TIMING_DIR


def _concat(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    if a.empty:
        return b.copy()
    if b.empty:
        return a.copy()
    return pd.concat([a, b], ignore_index=True)


def _merge_study(study: StudyData, ref: StudyData, label: str) -> StudyData:
    """``study`` with ``ref``'s runs added (a run both hold is kept once, from ``study``); problems and missing runs
    of ``ref`` are prefixed with ``label``. The definition (question, axes, baseline) stays ``study``'s."""

    def ids(df: pd.DataFrame) -> set[str]:
        return set(df["run_id"]) if "run_id" in df.columns else set()

    new = ids(ref.runs) - ids(study.runs)

    def only_new(df: pd.DataFrame) -> pd.DataFrame:
        return df[df["run_id"].isin(new)] if "run_id" in df.columns else df

    runs = _concat(study.runs, only_new(ref.runs))
    if not runs.empty:
        runs = runs.sort_values(["cell", "seed", "run_id"], kind="stable").reset_index(drop=True)
    tables = _concat(study.tables, only_new(ref.tables))
    if not tables.empty:
        tables = tables.sort_values([*TABLES_COLUMNS[:5]], kind="stable").reset_index(drop=True)
    problems = [*study.problems, *(f"{label}: {p}" for p in ref.problems)]
    baseline = study.baseline
    if baseline is None and study.runs.empty:  # the study ran only in the reference store
        baseline = ref.baseline
    return StudyData(
        name=study.name,
        path=study.path,
        definition=study.definition or ref.definition,
        runs=runs,
        tables=tables,
        train_logs=_concat(study.train_logs, only_new(ref.train_logs)),
        eval_curves=_concat(study.eval_curves, only_new(ref.eval_curves)),
        problems=problems,
        cells=order_cells(runs, study.axes or ref.axes),
        baseline=baseline,
        missing_runs=[*study.missing_runs, *(f"{label}: {m}" for m in ref.missing_runs)],
        run_roots={**study.run_roots, **{r: ref.run_roots.get(r, ref.path) for r in sorted(new)}},
    )


def _values(studies: list[StudyData], column: str) -> tuple[str, ...]:
    values = set()
    for study in studies:
        if column in study.runs.columns:
            values |= {str(v) for v in study.runs[column].dropna()}
    return tuple(sorted(values))


def merge_reference(store: LoadedResults, ref: LoadedResults) -> LoadedResults:
    """``store`` with the studies of the reference store ``ref`` merged in, study by study.

    A reference store holds finished rows only (committed, e.g. real CASIA-B runs at a stated profile); its runs
    join the same-named study of ``store`` (the report splits every study into data groups, so real rows never mix
    with synthetic ones), and its studies that ``store`` lacks are added. ``ref``'s timing folder, if any, is not
    read: the timing page is ``store``'s. ``ref``'s problems are kept, prefixed with its folder name.
    """
    label = f"reference store {ref.root.name}"
    by_name = {s.name: s for s in store.studies}
    for study in ref.studies:
        if study.name in by_name:
            by_name[study.name] = _merge_study(by_name[study.name], study, label)
        else:
            by_name[study.name] = _merge_study(
                StudyData(study.name, study.path, {}, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(),
                          pd.DataFrame()),
                study,
                label,
            )  # fmt: skip
    studies = sorted(by_name.values(), key=study_order)
    problems = [p for p in store.problems if not (p.startswith("no study folder") and ref.studies)]
    problems += [f"{label}: {p}" for p in ref.problems if not p.startswith(f"no {TIMING_DIR}/ folder")]
    reference = ReferenceStore(
        root=ref.root,
        studies=tuple(s.name for s in ref.studies),
        n_runs=sum(len(s.runs) for s in ref.studies),
        profiles=_values(ref.studies, "profile"),
        data_sources=_values(ref.studies, "data_source"),
    )
    return LoadedResults(store.root, studies, store.timing, problems, [*store.references, reference])


__all__ = ["merge_reference"]
