"""A fake results store for the report tests, written exactly as docs/results.md (v1) describes.

``make_results(root)`` writes three studies (a real-CASIA-B one with a GEI reference row, a one-axis synthetic one and
a two-axis synthetic one), with a few seeds each, and a timing folder. Numbers are drawn from a seeded
``np.random.Generator`` around chosen effects, so the verdicts are known in advance. ``tests/test_report_fixtures.py``
checks that the factory itself follows the schema (so the report is tested against the schema, not against the
factory's quirks).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import itertools
import json
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

CONDS = ("NM", "BG", "CL")
VIEWS = tuple(f"{a:03d}" for a in range(0, 181, 18))
DISTANCES = ("per_part", "flat")
BASE_LEVEL = {"NM": 80.0, "BG": 65.0, "CL": 45.0}
STUDY_FILES = Path(__file__).resolve().parents[2] / "ablations"


def shipped_study_keys(name: str) -> dict[str, Any]:
    """What a shipped study file says of the study beyond its runs (question, paper_choice, order), as in study.json."""
    path = STUDY_FILES / f"{name}.toml"
    raw = tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    return {k: raw[k] for k in ("question", "paper_choice", "order") if k in raw}


RUN_KEYS = (
    "run_id study cell is_baseline seed method temporal idr_stat lstm_layers channels hpm_bins embed_dim input_type "
    "identity_cue profile iterations split data_source data_fingerprint synthetic train_time_s eval_time_s final_loss "
    "final_dist_ap final_dist_an final_nonzero_frac collapsed commit dirty torch device date config_hash gstsn_version"
).split()


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:12]


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def write_study(
    root: Path,
    name: str,
    axes: dict[str, list[Any]],
    baseline: dict[str, Any],
    seeds: list[int],
    effects: dict[tuple, float],
    *,
    synthetic: bool | None,
    description: str = "",
    gei: bool = False,
    noise: float = 0.6,
    with_tables: bool = True,
    with_logs: bool = True,
    with_eval: bool = True,
    collapsed: tuple[tuple, int] | None = None,
    dirty: bool = False,
    with_matches: bool = False,
    profile: str = "smoke",
) -> Path:
    """One study folder. ``effects`` maps a cell's axis-value tuple to its rank-1 offset (points) from the level."""
    rng = np.random.default_rng(sum(map(ord, name)))
    study_dir = root / name
    (study_dir / "runs").mkdir(parents=True, exist_ok=True)
    base = {
        "temporal": True,
        "idr_stat": "median",
        "lstm_layers": 2,
        "channels": [16, 32, 64],
        "hpm_bins": [1, 2, 4, 8],
        "embed_dim": 64,
        "input_type": "set",
        "profile": profile,
        "iterations": 200,
        "split": "LT",
    }
    definition = {
        "study": name,
        "description": description,
        "axes": axes,
        "baseline": baseline,
        "seeds": seeds,
        "base": base,
        "source_file": f"ablations/{name}.toml",
        **shipped_study_keys(name),
    }
    (study_dir / "study.json").write_text(json.dumps(definition, indent=1))
    cells = [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]
    if gei:
        cells.append({"method": "gei"})
    runs, tables, date_n = [], [], 0
    for cell_fields in cells:
        is_gei = cell_fields.get("method") == "gei"
        cfg = dict(base, **{k: v for k, v in cell_fields.items() if k != "method"})
        method = "gei" if is_gei else ("gstsn" if cfg["temporal"] else "gaitset")
        key = tuple(cell_fields.get(f) for f in axes) if not is_gei else ("gei",)
        offset = effects.get(key, 0.0) if not is_gei else -30.0
        cell_label = "method=gei" if is_gei else ", ".join(f"{f}={_val(v)}" for f, v in cell_fields.items())
        for seed in seeds:
            run_cfg = dict(cfg, seed=seed, method=method, study=name, synthetic=synthetic)
            run_id = _hash(run_cfg)
            date_n += 1
            row: dict[str, Any] = {
                "run_id": run_id,
                "study": name,
                "cell": cell_label,
                "is_baseline": (not is_gei) and all(cell_fields.get(f) == v for f, v in baseline.items()),
                "seed": seed,
                "method": method,
                **{k: cfg[k] for k in base},
                "identity_cue": cell_fields.get("identity_cue") if synthetic else None,
                "data_source": "synth" if synthetic else "casia-b:/data/casia-b-sil-64x44.npz",
                "data_fingerprint": "synth-5f2e9c" if synthetic else "casia-3b91d0a7",
                "synthetic": synthetic,
                "train_time_s": float(120 + 10 * rng.random()),
                "eval_time_s": float(20 + rng.random()),
                "final_loss": 0.05,
                "final_dist_ap": 0.4,
                "final_dist_an": 1.1,
                "final_nonzero_frac": 0.2,
                "collapsed": bool(collapsed and collapsed == (key, seed)),
                "commit": "a1b2c3d4e5f6a7b8",
                "dirty": dirty,
                "torch": "2.13.0+cpu",
                "device": "cpu",
                "date": f"2026-01-0{1 + date_n % 5}T10:00:00Z",
                "config_hash": _hash(cfg),
                "gstsn_version": "0.1.0",
            }
            if synthetic is None:
                del row["synthetic"]
            for distance in DISTANCES:
                for cond in CONDS:
                    level = BASE_LEVEL[cond] + offset - (2.0 if distance == "flat" else 0.0)
                    grid = level + noise * rng.standard_normal((11, 11)) + np.linspace(-3, 3, 11)[None, :] ** 2 / -3
                    grid = np.clip(grid, 0, 100)
                    per_view = [float(np.mean(np.delete(grid[i], i))) for i in range(11)]
                    row[f"rank1.{distance}.{cond}"] = float(np.mean(per_view))
                    row[f"rank1_incl.{distance}.{cond}"] = float(grid.mean())
                    for v, value in zip(VIEWS, per_view, strict=True):
                        row[f"rank1_view.{distance}.{cond}.{v}"] = value
                    for i, j in itertools.product(range(11), range(11)):
                        tables.append([run_id, distance, cond, VIEWS[i], VIEWS[j], round(float(grid[i, j]), 3)])
                    for k, m in enumerate(("rank5", "map", "minp", "cv_rank1", "cv_map")):
                        value = float(np.clip(row[f"rank1.{distance}.{cond}"] + (8, -6, -15, 4, -3)[k], 0, 100))
                        row[f"{m}.{distance}.{cond}"] = value
                        for v in VIEWS:
                            row[f"{m}_view.{distance}.{cond}.{v}"] = value
            runs.append(row)
            run_dir = study_dir / "runs" / run_id
            run_dir.mkdir(parents=True, exist_ok=True)
            if with_logs:
                its = np.arange(0, 200, 10)
                loss = 0.2 * np.exp(-its / 80) + 0.01 * rng.random(its.size)
                _write_csv(
                    run_dir / "train_log.csv",
                    ["iteration", "loss", "dist_ap", "dist_an", "nonzero_frac", "wall_time", "lr"],
                    [
                        [int(i), float(l), 0.5, 1.0 + i / 400, float(0.9 * np.exp(-i / 100)), float(i * 0.6), 1e-4]
                        for i, l in zip(its, loss, strict=True)
                    ],
                )
            if with_matches:
                write_matches(run_dir / "matches.npz", seed=seed + 17 * len(runs), spread=1.0 + offset / 10)
            if with_eval and not is_gei:
                ev = []
                pace = (0.6 if method == "gaitset" else 0.7) * (1 + 0.04 * seed)  # s per iteration: GSTSN is slower
                for k, it in enumerate((50, 100, 150, 200)):
                    for distance, cond in itertools.product(DISTANCES, CONDS):
                        frac = (k + 1) / 4
                        wobble = 12.0 * (seed - 1) * frac * (1 - frac)  # seeds differ on the way, not at the end
                        ev.append([it, it * pace, distance, cond, row[f"rank1.{distance}.{cond}"] * frac + wobble])
                _write_csv(run_dir / "eval_curve.csv", ["iteration", "wall_time", "distance", "condition", "rank1"], ev)
    with (study_dir / "runs.jsonl").open("w") as f:
        for row in runs:
            f.write(json.dumps(row) + "\n")
    if with_tables:
        _write_csv(
            study_dir / "tables.csv", ["run_id", "distance", "condition", "probe_view", "gallery_view", "value"], tables
        )
    return study_dir


def write_matches(path: Path, seed: int, spread: float, n_subjects: int = 12) -> Path:
    """A run's ``matches.npz`` built by the real writer (``gstsn.eval.who_matched``) from random embeddings with a
    subject structure (CL sequences pushed away from their subject) and drawn GEI-like thumbnails."""
    from gstsn.data.naming import SEQ_TYPES
    from gstsn.eval.retrieval import evaluate_retrieval
    from gstsn.eval.who_matched import build_matches, save_matches

    rng = np.random.default_rng(seed)
    labels = [(f"{75 + s:03d}", t, v) for s in range(n_subjects) for t in sorted(SEQ_TYPES) for v in VIEWS]
    subject, seq_type, view = (np.array([r[i] for r in labels]) for i in range(3))
    code = np.unique(subject, return_inverse=True)[1]
    centres = rng.standard_normal((n_subjects, 4, 8)) * spread
    view_shift = rng.standard_normal((11, 4, 8)) * 0.6
    feats = (
        centres[code]
        + view_shift[np.searchsorted(np.array(VIEWS), view)]
        + 0.5 * rng.standard_normal((len(labels), 4, 8))
    )
    feats[np.char.startswith(seq_type, "cl")] += 0.9 * rng.standard_normal((4, 8))
    feats = feats.astype(np.float32)
    retrieval = evaluate_retrieval(feats, subject, seq_type, view)
    yy, xx = np.mgrid[0:64, 0:44]

    def thumbs(rows: np.ndarray) -> np.ndarray:
        out = []
        for r in rows:
            w = 7 + code[r] % 5 + (4 if seq_type[r].startswith("cl") else 0)
            body = ((xx - 22) / w) ** 2 + ((yy - 34) / 26) ** 2 <= 1.0
            head = (xx - 22) ** 2 + (yy - 8) ** 2 <= 25
            out.append(np.where(body | head, 200 + code[r] % 50, 0).astype(np.uint8))
        return np.stack(out)

    return save_matches(path, build_matches(retrieval, feats, subject, seq_type, view, thumbs))


def _val(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def write_timing(root: Path) -> Path:
    """A timing folder: timing.csv (2 phases × 3 variants), verdict.json, top_ops.csv, traces, benchmark.json."""
    tdir = root / "timing"
    header = (
        "phase model temporal idr_stat lstm_layers input_type device dtype batch frames height width repeats "
        "median_s ci_low_s ci_high_s flops gflops_per_s peak_gflops_per_s frac_of_peak peak_mem_bytes"
    ).split()
    variants = [("gaitset", False, None, None), ("gstsn", True, "median", 2), ("gstsn", True, "median", 0)]
    rows = []
    for phase, scale in (("inference", 0.1), ("train_step", 0.8)):
        for model, temporal, idr, layers in variants:
            t = scale * (1.0 if model == "gaitset" else 1.25 if layers else 1.1)
            flops = 6.5e9 * scale
            rows.append(
                [
                    phase,
                    model,
                    temporal,
                    idr,
                    layers,
                    "set",
                    "cpu",
                    "float32",
                    16,
                    30,
                    32,
                    22,
                    10,
                    t,
                    t * 0.97,
                    t * 1.03,
                    flops,
                    flops / t / 1e9,
                    100.0,
                    flops / t / 1e9 / 100.0,
                    512 * 2**20,
                ]
            )
    _write_csv(tdir / "timing.csv", header, rows)
    verdict = {  # the shape gstsn.timing.verdict.build_verdict writes (schema 1)
        "schema": 1,
        "claim": "GSTSN takes 20 % less time than GaitSet (seed paper)",
        "threshold": 0.8,
        "headline_variants": {"gaitset": "gaitset", "gstsn": "gstsn-median-L2"},
        "device": "cpu: Test CPU",
        "profile": "cpu",
        "torch": "2.13.0+cpu",
        "cpu_count": 2,
        "load_average": {"start": [5.1, 4.0, 3.0], "end": [6.0, 4.5, 3.2]},
        "per_phase": [
            {"phase": "train_step", "device": "cpu", "dtype": "fp32", "a": "gaitset", "b": "gstsn-median-L2",
             "batch": 16, "frames": 30, "status": "measured", "ratio": 1.25, "ci_low": 1.2, "ci_high": 1.3, "n": 8,
             "method": "paired bootstrap", "gaitset_median_s": 0.8, "gstsn_median_s": 1.0},
            {"phase": "train_step", "device": "cuda", "dtype": "bf16", "a": "gaitset", "b": "gstsn-median-L2",
             "batch": 16, "frames": 30, "status": "not measured: no CUDA device is available"},
        ],
        "per_iteration": {
            "cpu/fp32": {"status": "does not hold", "ratio": 1.25, "ci_low": 1.2, "ci_high": 1.3, "threshold": 0.8,
                         "statement": "GSTSN's training step takes 1.25× GaitSet's [1.20, 1.30] on cpu (fp32): the "
                                      "per-iteration reading does not hold"},
            "cuda/bf16": {"status": "not measured: no CUDA device is available"},
        },
        "time_to_accuracy": {
            "threshold": 0.8, "status": "measured", "primary_condition": "NM",
            "definition": "GSTSN's training wall time to reach GaitSet's final rank-1 divided by GaitSet's time",
            "pairs": [{"gstsn_variant": "gstsn-median-L2", "seed": s, "device": "cpu", "condition": "NM",
                       "distance": "per_part", "target_rank1": 79.0, "t_gaitset_s": 120.0, "t_gstsn_s": 110.0,
                       "ratio": 110 / 120, "status": "does not hold"} for s in (0, 1, 2)]
                     # an older verdict.json: a row per seed and condition for the cells that recorded no curve
                     + [{"gstsn_variant": v, "seed": s, "device": "cpu", "condition": c, "distance": "per_part",
                         "gaitset_run": f"g{s}", "gstsn_run": f"{v}-{s}",
                         "status": f"not measured: run {v}-{s} (gstsn) has no eval_curve.csv"}
                        for v in ("gstsn-max-L2", "gstsn-median-L0") for s in (0, 1, 2) for c in ("NM", "BG")],
            "variants_without_curves": ["gstsn-mean-L2"],
            "by_device": {"cpu": {
                "gstsn-median-L2": {"status": "does not hold", "median_ratio": 0.917, "reached": 3, "seeds": 3},
                "gstsn-max-L2": {"status": "not measured: run gstsn-max-L2-0 (gstsn) has no eval_curve.csv",
                                 "median_ratio": None, "reached": 0, "seeds": 0},
                "gstsn-median-L0": {"status": "not measured: run gstsn-median-L0-0 (gstsn) has no eval_curve.csv",
                                    "median_ratio": None, "reached": 0, "seeds": 0},
            }},
        },
        "variant_ratios": [
            {"phase": "train_step", "device": "cpu", "dtype": "fp32", "batch": 16, "frames": 30,
             "variant": "gstsn-median-L0", "ratio": 1.1, "ci_low": 1.05, "ci_high": 1.15, "n": 10,
             "gaitset_median_s": 0.8, "gstsn_median_s": 0.88},
        ],
        "step_breakdown": {
            "gstsn-median-L2-cpu-fp32": {
                "categories": {"lstm": {"ms": 120.0, "share": 0.3}, "idr_median": {"ms": 30.0, "share": 0.075},
                               "conv": {"ms": 200.0, "share": 0.5}, "total": {"ms": 400.0, "share": 1.0}},
                "extra_over_gaitset_ms": {"total": 130.0, "lstm": 120.0, "idr_median": 30.0, "rest": -20.0,
                                          "note": "profiled self times"},
            },
        },
    }  # fmt: skip
    (tdir / "verdict.json").write_text(json.dumps(verdict, indent=1))
    _write_csv(
        tdir / "top_ops.csv",
        ["model_variant", "op", "self_cpu_ms", "self_device_ms", "share"],
        [
            ["gstsn-median-L2", "aten::lstm", 120.0, 0.0, 0.3],
            ["gstsn-median-L2", "aten::convolution", 200.0, 0.0, 0.5],
            ["gstsn-median-L2", "aten::median", 30.0, 0.0, 0.075],
            ["gaitset", "aten::convolution", 190.0, 0.0, 0.7],
        ],
    )
    for variant in ("gaitset", "gstsn-median-L2"):
        trace = tdir / "traces" / variant / "host_1.pt.trace.json.gz"
        trace.parent.mkdir(parents=True, exist_ok=True)
        with gzip.GzipFile(trace, "wb", mtime=0) as f:
            f.write(b'{"traceEvents": []}')
    (tdir / "benchmark.json").write_text(
        json.dumps(
            {
                "machine_info": {"cpu": {"brand_raw": "Test CPU"}, "python_version": "3.11.2"},
                "commit_info": {"id": "a1b2c3d4e5f6", "dirty": False},
                "datetime": "2026-01-05T12:00:00",
                "benchmarks": [],
            }
        )
    )
    return tdir


def make_results(root: Path, seeds: tuple[int, ...] = (0, 1, 2)) -> Path:
    """The full fake store: gaitset_vs_gstsn (real CASIA-B + GEI), idr_statistic and input_type (synthetic), timing.

    input_type has no tables.csv and no eval curves (a partial study, and fewer figures to render in the tests).
    """
    root.mkdir(parents=True, exist_ok=True)
    write_study(
        root,
        "gaitset_vs_gstsn",
        {"temporal": [False, True]},
        {"temporal": False},
        list(seeds),
        {(True,): 1.5},
        synthetic=False,
        gei=True,
        description="GaitSet vs GSTSN on CASIA-B LT.",
        with_matches=True,
    )
    write_study(
        root,
        "idr_statistic",
        {"idr_stat": ["median", "max", "mean"]},
        {"idr_stat": "median"},
        list(seeds),
        {("max",): -8.0, ("mean",): 0.0},
        synthetic=True,
        description="IDR statistic.",
        collapsed=(("max",), seeds[0]),
    )
    write_study(
        root,
        "input_type",
        {"input_type": ["set", "sequence"], "temporal": [False, True]},
        {"input_type": "set", "temporal": False},
        list(seeds)[:2],
        {("sequence", True): 6.0},
        synthetic=True,
        description="Set vs sequence input.",
        with_eval=False,
        with_tables=False,
    )
    write_timing(root)
    return root
