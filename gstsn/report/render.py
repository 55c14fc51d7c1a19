"""Render the results store into ``OUT/index.html``, one self-contained page per study and ``OUT/timing.html``.

Each page is a single HTML file: inline CSS, inline SVG plots, no script, no external request; links go only to the
other pages and to the profiler trace files (relative paths). Rendering the same inputs twice gives byte-identical
files except the line ``<p class="render-date">`` (the render date). Missing or partial inputs become sentences on the
page ("what is missing"), never a traceback.
"""

from __future__ import annotations

import datetime as dt
import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from gstsn.atomic import atomic_write_text
from gstsn.report import budget_view, figures, provenance, retrieval, tables, timing_figures, tta_curves, verdicts
from gstsn.report.figures import FigureBlock, figure_block
from gstsn.report.labels import field_label, show, value_label
from gstsn.report.load import LoadedResults, StudyData, TimingData, load_results
from gstsn.report.published import PUBLISHED_LABEL
from gstsn.report.reference import merge_reference
from gstsn.report.timing_view import timing_verdict_view

INDEX_FILE = "index.html"
TIMING_FILE = "timing.html"


@dataclass
class RenderResult:
    """The pages written (index first) and every problem sentence found in the inputs."""

    pages: list[Path]
    problems: list[str] = field(default_factory=list)


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("gstsn.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def study_file(study: StudyData) -> str:
    return f"study-{study.name}.html"


def _group_context(study: StudyData, group: verdicts.DataGroup, gi: int) -> dict[str, Any]:
    key = f"g{gi}"
    figs: list[FigureBlock] = [
        figure_block(
            "Rank-1 per variant",
            figures.axis_pointplot(group, f"{key}-points"),
            "Mean over seeds with the 95 % t-interval (the axis is cut at 0 and 100); colours are the probe sets "
            "NM / BG / CL.",
            "No rank-1 metric in runs.jsonl for this group.",
        )
    ]
    pairs = verdicts.gstsn_gaitset_pairs(group)
    if pairs:
        figs.append(
            figure_block(
                "GSTSN − GaitSet per probe view",
                figures.delta_heatmap(group, pairs, verdicts.MAIN_DISTANCE, f"{key}-delta"),
                "Paired by seed; each cell shows the mean difference in rank-1 points and its 95 % interval "
                "half-width. Red: GaitSet ahead; blue: GSTSN ahead.",
                "Fewer than 2 paired seeds (or no per-view metrics): a difference is never shown without its interval.",
            )
        )
    heat = []
    if study.tables.empty:
        heat.append(
            figure_block("Probe × gallery", None, "", "tables.csv is missing or empty, so there are no 11×11 tables.")
        )
    for ci, cell in enumerate(group.cells if not study.tables.empty else []):
        svg = figures.heatmaps(group, study.tables, cell, verdicts.MAIN_DISTANCE, f"{key}-heat{ci}")
        heat.append(figure_block(f"{cell}: probe × gallery", svg, "", f"No rows for {cell} in tables.csv."))
    curves = [
        figure_block(
            "Training curves",
            figures.training_curves(group, study.train_logs, f"{key}-train"),
            "Mean over seeds with a 95 % band. A collapsed run shows the loss stuck at the margin and the non-zero "
            "share at 1 while the distances shrink towards 0.",
            "No train_log.csv for the runs of this group.",
        ),
        figure_block(
            "Rank-1 against training wall time",
            figures.accuracy_vs_time(group, study.eval_curves, f"{key}-time"),
            "Periodic evaluation during training (time to accuracy). Mean over seeds with a 95 % band.",
            "No eval_curve.csv (or eval_log.csv) in the runs of this group: periodic evaluation was off "
            "(eval_every = 0) or its curve was not written to the results store.",
        ),
    ]
    budgets, times = budget_view.group_readings(group.runs, study.eval_curves)
    several = len({bc.paired.setting for bc in budgets} | {tt.paired.setting for tt in times}) > 1
    budget = [
        (
            figure_block(
                f"GSTSN − GaitSet against training iterations: {budget_view.comparison_name(bc.paired)}"
                + (f" ({budget_view.setting_name(bc.paired)})" if several else ""),
                budget_view.budget_figure(bc, f"{key}-budget{bi}"),
                budget_view.BUDGET_CAPTION,
                "no evaluation both runs of a seed pair made.",
            ),
            budget_view.budget_table(bc),
        )
        for bi, bc in enumerate(budgets)
    ]
    return {
        "budget": budget,
        "time_to_target": [
            budget_view.time_to_target_table(tt, study.eval_curves, budget_view.setting_name(tt.paired)) for tt in times
        ],
        "title": group.title,
        "key": group.key,
        "synthetic": group.synthetic,
        "verdict": verdicts.study_verdict(study, group),
        "summaries": [tables.summary_table(group, d) for d in tables.DISTANCE_LABELS],
        "comparisons": tables.comparison_table(group),
        "interactions": tables.interaction_table(group),
        "per_view": [tables.per_view_table(group, d) for d in tables.DISTANCE_LABELS],
        "retrieval": [t for d in tables.DISTANCE_LABELS if (t := retrieval.retrieval_tables(group, d)) is not None],
        "figures": figs,
        "heatmaps": heat,
        "curves": curves,
        "n_runs": len(group.runs),
    }


def _study_context(study: StudyData) -> dict[str, Any]:
    d = study.definition
    fields = d.get("base") if isinstance(d.get("base"), dict) else {}
    axes = [
        (
            field_label(f),
            f,
            ", ".join(value_label(f, v, fields) for v in vals) if isinstance(vals, list) else show(vals),
        )
        for f, vals in study.axes.items()
    ]
    base = d.get("baseline") if isinstance(d.get("baseline"), dict) else {}
    groups = [_group_context(study, g, i) for i, g in enumerate(verdicts.data_groups(study))]
    return {
        "study": study.name,
        "description": str(d.get("description") or ""),
        "question": verdicts.study_question(study),
        "axes": axes,
        "baseline": ", ".join(f"{f}={show(v)}" for f, v in base.items()) or (study.baseline or "not defined"),
        "problems": study.problems,
        "missing_runs": study.missing_runs,
        "groups": groups,
        "provenance": provenance.study_provenance(study),
        "config_hashes": provenance.config_hash_rows(study),
        "retrieval_file": retrieval.page_file(study),
    }


def _size(n: int) -> str:
    return f"{n} bytes" if n < 1024 else f"{n / 1024:.0f} KiB" if n < 2**20 else f"{n / 2**20:.1f} MiB"


def _tta_figures(studies: list[StudyData]) -> list[FigureBlock]:
    """Rank-1 against wall time for the GaitSet / GSTSN pairs of each setting (:mod:`gstsn.report.tta_curves`)."""
    sets = tta_curves.paired_curves(studies)
    caption = (
        "Periodic evaluations during training (eval_curve.csv) of the GaitSet and GSTSN runs paired for time to "
        "accuracy (same seed, device, data and settings). Line: mean rank-1 over seeds at each evaluation, placed at "
        "the seeds' mean wall time; shaded: the range of the seeds (lowest to highest rank-1); dotted: GaitSet's "
        "final rank-1, the target GSTSN must reach in ≤ 0.8× GaitSet's time for the claim."
    )
    if not sets:
        return [
            figure_block(
                "Rank-1 against training wall time: GaitSet vs GSTSN",
                None,
                "",
                "no GaitSet and GSTSN runs with the same seed, device and settings both have evaluation curves "
                "(eval_curve.csv or eval_log.csv) in the results store: periodic evaluation was off (eval_every = 0) "
                "or those runs have not finished.",
            )
        ]
    return [
        figure_block(
            f"Rank-1 against training wall time: GaitSet vs GSTSN ({cs.title})",
            timing_figures.tta_curves(cs.curves, cs.distance, f"tta{i}"),
            caption,
            "these runs' curves hold no rank-1 values.",
        )
        for i, cs in enumerate(sets)
    ]


def _timing_context(timing: TimingData | None, out_dir: Path, studies: list[StudyData] = ()) -> dict[str, Any]:
    if timing is None:
        return {"present": False, "problems": ["no timing/ folder in the results: run `nox -s timing`"]}
    df = timing.timing
    phases = list(dict.fromkeys(df["phase"])) if not df.empty else []
    view = timing_verdict_view(timing.verdict)
    figs = []
    if not df.empty:
        combos = sorted({(str(a), str(b)) for a, b in zip(df["device"], df["dtype"], strict=True)})
        for i, (device, dtype) in enumerate(combos):
            figs.append(
                figure_block(
                    f"Time per phase and variant: {device}, {dtype}",
                    timing_figures.timing_bars(df, f"t{i}-bars", device, dtype),
                    "Blue: GaitSet; orange: GSTSN variants. Error bars: 95 % interval over repeats.",
                    "No rows.",
                )
            )
        figs.append(
            figure_block(
                "Share of the measured matmul peak",
                timing_figures.peak_fraction_bars(df, "t-peak"),
                "Achieved GFLOP/s ÷ a matmul peak measured in the same run (so numbers compare across noisy machines).",
                "timing.csv has no frac_of_peak values.",
            )
        )
    variants = sorted(set(timing.top_ops["model_variant"].astype(str))) if not timing.top_ops.empty else []
    trace_links: dict[str, list[tuple[str, str, str]]] = {}
    for rel in timing.traces:
        variant = rel.parts[1] if len(rel.parts) > 2 else "(no variant folder)"
        target = Path(os.path.relpath(timing.path / rel, out_dir)).as_posix()
        size = (timing.path / rel).stat().st_size
        trace_links.setdefault(variant, []).append((urllib.parse.quote(target), rel.as_posix(), _size(size)))
    return {
        "present": True,
        "problems": timing.problems,
        "verdict": view,
        "tta_figures": _tta_figures(list(studies)),
        "time_to_target": budget_view.timing_page_tables(list(studies)),
        "tables": [tables.timing_table(df, p) for p in phases],
        # the conservative ratio table from timing.csv only when verdict.json has no paired per-phase ratios
        "ratios": tables.ratio_table(df) if not isinstance(timing.verdict.get("per_phase"), list) else None,
        "figures": figs,
        "top_ops": [tables.top_ops_table(timing.top_ops, v) for v in variants],
        "trace_links": sorted(trace_links.items()),
        "provenance": provenance.timing_provenance(timing),
    }


def _index_context(store: LoadedResults, study_ctx: list[tuple[StudyData, dict[str, Any]]], timing_ctx) -> dict:
    studies = []
    for study, ctx in study_ctx:
        seeds = sorted(study.runs["seed"].unique().tolist()) if not study.runs.empty else []
        studies.append(
            {
                "name": study.name,
                "file": study_file(study),
                "description": ctx["description"],
                "question": ctx["question"],
                "n_runs": len(study.runs),
                "n_missing": len(study.missing_runs),
                "seeds": ", ".join(str(s) for s in seeds) or "none",
                "groups": [(g["title"], g["synthetic"], g["verdict"]) for g in ctx["groups"]],
                "n_problems": len(study.problems),
                "retrieval_file": ctx.get("retrieval_file"),
            }
        )
    all_runs = [s.runs for s in store.studies if not s.runs.empty]
    prov = []
    if all_runs:
        runs = pd.concat(all_runs, ignore_index=True)
        prov.append(provenance.commit_item(runs))
        for col, label in (
            ("torch", "torch"),
            ("device", "device"),
            ("data_source", "data source"),
            ("profile", "profile"),
        ):
            prov.append(provenance.values_item(runs, col, label))
    else:
        prov.append(provenance.ProvItem("runs", "none finished yet", warn=True))
    references = [
        {
            "root": ref.root.as_posix(),
            "studies": ", ".join(ref.studies) or "none",
            "n_runs": ref.n_runs,
            "profiles": ", ".join(ref.profiles) or "unknown",
            "data_sources": ", ".join(ref.data_sources) or "unknown",
        }
        for ref in store.references
    ]
    return {
        "studies": studies,
        "timing": timing_ctx,
        "problems": store.problems,
        "provenance": prov,
        "references": references,
    }


def render_report(
    results_dir: Path, out_dir: Path, now: dt.datetime | None = None, references: tuple[Path, ...] = ()
) -> RenderResult:
    """Render every page of the report from ``results_dir`` into ``out_dir`` (created if needed).

    ``now`` is the render date printed on each page (default: the current UTC time); it is the only input that is
    not read from the results directory. ``references``: committed results stores (e.g. ``reference/casia-b-cpu``)
    whose studies are merged in (:func:`gstsn.report.reference.merge_reference`): their runs appear in the same-named
    study as their own data group. Raises :class:`gstsn.report.load.ResultsDirError` only when ``results_dir`` or a
    reference store does not exist.
    """
    store = load_results(Path(results_dir))
    for ref in references:
        store = merge_reference(store, load_results(Path(ref)))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    now = now or dt.datetime.now(dt.UTC)
    common = {
        "render_date": now.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "renderer": provenance.renderer_provenance(),
        "results_dir": str(store.root),
        "published_label": PUBLISHED_LABEL,
        "index_file": INDEX_FILE,
        "timing_file": TIMING_FILE,
    }
    env = _environment()
    pages: list[Path] = []
    study_ctx = []
    nav = [(s.name, study_file(s)) for s in store.studies]
    common["nav"] = nav
    for study in store.studies:
        ctx = _study_context(study)
        content = retrieval.retrieval_page(study)  # a page only where some run stored who-matched files
        if not content.sections:
            ctx["retrieval_file"] = None
        study_ctx.append((study, ctx))
        path = out_dir / study_file(study)
        atomic_write_text(path, env.get_template("study.html.j2").render(**common, **ctx, page=study_file(study)))
        pages.append(path)
        if content.sections:
            rpage = retrieval.page_file(study)
            path = out_dir / rpage
            html = env.get_template("retrieval.html.j2").render(
                **common, r=content, study_page=study_file(study), page=rpage, provenance=ctx["provenance"]
            )
            atomic_write_text(path, html)
            pages.append(path)
    timing_ctx = _timing_context(store.timing, out_dir, store.studies)
    path = out_dir / TIMING_FILE
    atomic_write_text(path, env.get_template("timing.html.j2").render(**common, **timing_ctx, page=TIMING_FILE))
    pages.append(path)
    index = out_dir / INDEX_FILE
    ctx = _index_context(store, study_ctx, timing_ctx)
    atomic_write_text(index, env.get_template("index.html.j2").render(**common, **ctx, page=INDEX_FILE))
    problems = list(store.problems)
    for study in store.studies:
        problems += [f"{study.name}: {p}" for p in study.problems]
    if store.timing is not None:
        problems += [f"timing: {p}" for p in store.timing.problems]
    return RenderResult([index, *pages], problems)
