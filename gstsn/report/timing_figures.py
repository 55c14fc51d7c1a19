"""The timing page's figures: rank-1 against training wall time (GaitSet vs GSTSN, seeds shaded), the phase timing
bars and the share of a same-run matmul's peak. Same style and SVG output as :mod:`gstsn.report.figures`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import seaborn as sns
from markupsafe import Markup
from matplotlib.figure import Figure

from gstsn.config import CONDITIONS
from gstsn.report.figures import figure_style, to_svg
from gstsn.report.labels import mpl_text, shape_label, variant_label

GAITSET_COLOR = "#0072B2"
GSTSN_COLORS = ("#D55E00", "#CC79A7", "#009E73", "#E69F00", "#56B4E9", "#F0E442")


def tta_curves(curves: pd.DataFrame, distance: str, key: str) -> Markup | None:
    """Rank-1 against training wall time, GaitSet vs GSTSN, one panel per probe set (time to accuracy).

    ``curves``: :data:`gstsn.report.tta_curves.CURVE_COLUMNS` rows of one setting. Per variant and evaluation the line
    is the mean rank-1 over seeds, placed at the seeds' mean wall time of that evaluation; the shaded band spans the
    seeds (lowest to highest rank-1, seaborn's ``("pi", 100)``); the dotted line is GaitSet's final rank-1 (mean over
    seeds), the target of the time-to-accuracy reading.
    """
    if curves.empty:
        return None
    df = curves.assign(
        rank1=pd.to_numeric(curves["rank1"], errors="coerce"),
        wall_time=pd.to_numeric(curves["wall_time"], errors="coerce"),
    ).dropna(subset=["rank1", "wall_time"])
    if df.empty:
        return None
    df = df.assign(x=df.groupby(["variant", "condition", "iteration"])["wall_time"].transform("mean"))
    variants = sorted(set(df["variant"]), key=lambda v: (v != "GaitSet", v))
    colors = {v: GAITSET_COLOR if v == "GaitSet" else GSTSN_COLORS[i % len(GSTSN_COLORS)] for i, v in
              enumerate(v for v in variants if v != "GaitSet")}  # fmt: skip
    colors.setdefault("GaitSet", GAITSET_COLOR)
    seeds = df.groupby("variant")["seed"].nunique().to_dict()
    names = {v: mpl_text(f"{v} ({seeds[v]} seed{'s' if seeds[v] != 1 else ''})") for v in variants}
    df["label"] = df["variant"].map(names)
    conds = [c for c in CONDITIONS if c in set(df["condition"])]
    with figure_style():
        fig = Figure(figsize=(3.5 * len(conds) + 0.6, 3.3), layout="constrained")
        axes = fig.subplots(1, len(conds), sharey=True, squeeze=False)[0]
        for ax, cond in zip(axes, conds, strict=True):
            part = df[df["condition"] == cond]
            sns.lineplot(
                data=part,
                x="x",
                y="rank1",
                hue="label",
                hue_order=[names[v] for v in variants if v in set(part["variant"])],
                palette={names[v]: colors[v] for v in variants},
                estimator="mean",
                errorbar=("pi", 100),
                err_kws={"alpha": 0.2, "linewidth": 0},
                marker="o",
                markersize=3.5,
                markeredgewidth=0,
                linewidth=1.4,
                ax=ax,
            )
            base = part[part["variant"] == "GaitSet"]
            if not base.empty:
                final = base.sort_values("iteration").groupby("seed")["rank1"].last().mean()
                ax.axhline(final, color=GAITSET_COLOR, linestyle=":", linewidth=1.0, label="GaitSet final (target)")
            ax.set_title(f"{cond} probes ({distance} distance)")
            ax.set_xlabel("training wall time (s)")
            ax.set_ylabel("rank-1 %")
            if ax is not axes[0] and ax.get_legend() is not None:
                ax.get_legend().remove()
        if axes[0].get_legend() is not None:  # rank-1 rises with time: the upper left corner stays free
            axes[0].legend(loc="upper left", fontsize=7)
        return to_svg(fig, key, "rank-1 against training wall time, GaitSet and GSTSN, seeds shaded")


def _timing_rows(df: pd.DataFrame) -> pd.DataFrame:
    recs = df.to_dict("records")
    out = df.copy()
    out["label"] = [f"{variant_label(r)} · {shape_label(r)}" for r in recs]
    return out


def timing_bars(df: pd.DataFrame, key: str, device: str, dtype: str) -> Markup | None:
    """Median time per phase (one panel each) and variant × shape (bars) with the 95 % interval as error bars."""
    df = _timing_rows(df[(df["device"].astype(str) == device) & (df["dtype"].astype(str) == dtype)])
    if df.empty:
        return None
    med = pd.to_numeric(df["median_s"], errors="coerce") * 1e3
    lo = pd.to_numeric(df["ci_low_s"], errors="coerce") * 1e3
    hi = pd.to_numeric(df["ci_high_s"], errors="coerce") * 1e3
    df = df.assign(value=med, err_low=(med - lo).clip(lower=0), err_high=(hi - med).clip(lower=0))
    return _phase_bars(
        df,
        key,
        lambda phase: f"{phase} ({device}, {dtype}): median time per call, 95 % interval",
        "milliseconds",
        f"time per phase and variant on {device} {dtype}",
    )


def peak_fraction_bars(df: pd.DataFrame, key: str) -> Markup | None:
    """Achieved fraction of the same-run matmul peak (%) per phase, variant and shape."""
    if "frac_of_peak" not in df.columns:
        return None
    df = _timing_rows(df.assign(frac_of_peak=pd.to_numeric(df["frac_of_peak"], errors="coerce")))
    df = df[df["frac_of_peak"].notna()]
    if df.empty:
        return None
    df["label"] = df["label"] + " · " + df["device"].astype(str) + " " + df["dtype"].astype(str)
    return _phase_bars(
        df.assign(value=df["frac_of_peak"] * 100),
        key,
        lambda phase: f"{phase}: achieved share of the matmul peak measured in the same run",
        "% of peak",
        "fraction of peak per phase and variant",
    )


def _phase_bars(df: pd.DataFrame, key: str, title: Callable[[str], str], xlabel: str, alt: str) -> Markup:
    """One panel per phase, one horizontal bar per row (``label``, ``value``; error bars from ``err_low`` /
    ``err_high`` when present), GaitSet blue and GSTSN orange."""
    phases = list(dict.fromkeys(df["phase"]))
    n_rows = max(int((df["phase"] == p).sum()) for p in phases)
    with figure_style():
        fig = Figure(figsize=(9.0, 0.9 + len(phases) * (0.6 + 0.22 * n_rows)), layout="constrained")
        axes = fig.subplots(len(phases), 1, squeeze=False)[:, 0]
        for ax, phase in zip(axes, phases, strict=True):
            part = df[df["phase"] == phase]
            ypos = np.arange(len(part))
            colors = ["#0072B2" if "GSTSN" not in lab else "#D55E00" for lab in part["label"]]
            err = None
            if "err_low" in part:
                err = np.nan_to_num(np.vstack([part["err_low"].to_numpy(), part["err_high"].to_numpy()]))
            ax.barh(ypos, part["value"].to_numpy(), xerr=err, color=colors, height=0.6, capsize=2)
            ax.set_yticks(ypos, [mpl_text(t) for t in part["label"]], fontsize=7)
            ax.invert_yaxis()
            ax.set_title(mpl_text(title(phase)))
            ax.set_xlabel(xlabel)
        return to_svg(fig, key, alt)


__all__ = ["peak_fraction_bars", "timing_bars", "tta_curves"]
