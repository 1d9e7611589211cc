"""Figures of a sweep: a metric against a parameter with 95% confidence intervals over replications,
and heatmaps of a metric over two grid parameters. Same style as `sim.plots` (matplotlib, Agg)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import stats

from sim.errors import UserError
from sim.registry import closest
from sim.sweeps.results import metric_columns, read_results

# Above this many distinct values a parameter was sampled, not gridded: plot every run as a point.
_MAX_LEVELS = 12


def summarize(frame: pd.DataFrame, by: list[str], metric: str) -> pd.DataFrame:
    """Mean, 95% t-interval half-width and count of ``metric`` per combination of ``by`` (successful runs)."""
    ok = frame[frame["status"] == "ok"] if "status" in frame else frame
    grouped = ok.groupby(by, dropna=False)[metric]
    table = grouped.agg(mean="mean", sd="std", n="count").reset_index()
    t = stats.t.ppf(0.975, np.maximum(table["n"] - 1, 1))
    table["ci"] = np.where(table["n"] > 1, t * table["sd"] / np.sqrt(table["n"]), 0.0)
    return table.drop(columns="sd")


def plot_metric(
    frame: pd.DataFrame, parameter: str, metric: str, by: str | None = None, ax: Axes | None = None
) -> Axes:
    """``metric`` against ``parameter``: means with 95% CI bands over replications (other parameters pooled);
    one line per value of ``by`` if given. A sampled parameter (many distinct values) shows every run."""
    ax = ax or plt.subplots(figsize=(4.6, 3.2))[1]
    ok = frame[frame["status"] == "ok"] if "status" in frame else frame
    numeric = pd.api.types.is_numeric_dtype(ok[parameter])
    if numeric and ok[parameter].nunique() > _MAX_LEVELS:
        ax.scatter(ok[parameter], ok[metric], s=12, alpha=0.7)
    else:
        groups = [(None, ok)] if by is None else list(ok.groupby(by, dropna=False))
        for value, rows in groups:
            table = summarize(rows, [parameter], metric)
            x = table[parameter] if numeric else np.arange(len(table))
            label = None if by is None else f"{by} = {value}"
            line = ax.plot(x, table["mean"], marker="o", markersize=4, label=label)[0]
            ax.fill_between(x, table["mean"] - table["ci"], table["mean"] + table["ci"], color=line.get_color(),
                            alpha=0.2, linewidth=0)
            if not numeric:
                ax.set_xticks(x, [str(v) for v in table[parameter]])
        if by is not None:
            ax.legend(fontsize=7)
    ax.set_xlabel(parameter)
    ax.set_title(metric.replace("_", " "), fontsize=10)
    ax.grid(alpha=0.3)
    return ax


def plot_heatmap(frame: pd.DataFrame, x: str, y: str, metric: str, ax: Axes | None = None) -> Axes:
    """Mean of ``metric`` over replications (other parameters pooled) on the grid ``x`` by ``y``."""
    ax = ax or plt.subplots(figsize=(4.6, 3.6))[1]
    table = summarize(frame, [y, x], metric).pivot(index=y, columns=x, values="mean")
    image = ax.imshow(table.to_numpy(dtype=float), origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(table.columns)), [f"{v:g}" if isinstance(v, float) else str(v) for v in table.columns])
    ax.set_yticks(range(len(table.index)), [f"{v:g}" if isinstance(v, float) else str(v) for v in table.index])
    for (i, j), value in np.ndenumerate(table.to_numpy(dtype=float)):
        if not math.isnan(value):
            light = image.norm(value) > 0.6  # viridis turns yellow: dark text reads better there
            ax.text(j, i, f"{value:.3g}", ha="center", va="center", fontsize=7, color="black" if light else "white")
    ax.figure.colorbar(image, ax=ax, shrink=0.85)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(metric.replace("_", " "), fontsize=10)
    return ax


def _grid_figure(count: int) -> tuple[Figure, list[Axes]]:
    ncols = min(3, max(1, count))
    nrows = max(1, math.ceil(count / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False)
    for ax in list(axes.flat)[count:]:
        ax.set_visible(False)
    return fig, list(axes.flat)[:count]


def choose_metrics(frame: pd.DataFrame, metrics: list[str] | None, parameters: list[str]) -> list[str]:
    """The metrics asked for (each must exist), or every numeric metric that varies between successful runs."""
    ok = frame[frame["status"] == "ok"]
    numeric = [c for c in metric_columns(frame, parameters) if pd.api.types.is_numeric_dtype(frame[c])]
    if metrics:
        for metric in metrics:
            if metric not in numeric:
                raise UserError(f"--metric {metric}: no such metric{closest(metric, numeric)}; "
                                f"the table has: {', '.join(numeric)}")
        return list(metrics)
    varying = [c for c in numeric if ok[c].nunique(dropna=True) > 1]
    return varying or numeric


def plot_results(results: str | Path, out: str | Path | None = None, metrics: list[str] | None = None) -> list[Path]:
    """Write a sweep's figures as PNGs: every metric against each parameter, and heatmaps for grid pairs."""
    frame, meta = read_results(results)
    source = Path(results)
    folder = Path(out) if out else (source if source.is_dir() else source.parent) / "plots"
    if not (frame["status"] == "ok").any():
        raise UserError(f"{results}: no successful runs to plot")
    parameters = meta.get("parameters") or [c for c in frame.columns if "." in c]
    grid = [p for p in meta.get("grid", parameters) if frame[p].nunique() > 1]
    chosen = choose_metrics(frame, metrics, parameters)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for parameter in parameters:
        others = [p for p in grid if p != parameter]
        by = others[0] if len(grid) == 2 and parameter in grid and frame[others[0]].nunique() <= 6 else None
        fig, axes = _grid_figure(len(chosen))
        for ax, metric in zip(axes, chosen, strict=True):
            plot_metric(frame, parameter, metric, by=by, ax=ax)
        written.append(_save(fig, folder / f"{parameter}.png", f"{meta.get('name', '')}: metrics against {parameter}"))
    for i, x in enumerate(grid):
        for y in grid[i + 1:]:
            fig, axes = _grid_figure(len(chosen))
            for ax, metric in zip(axes, chosen, strict=True):
                plot_heatmap(frame, x, y, metric, ax=ax)
            written.append(_save(fig, folder / f"heatmap_{x}_{y}.png", f"{meta.get('name', '')}: {y} by {x}"))
    return written


def _save(fig: Figure, path: Path, title: str) -> Path:
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
