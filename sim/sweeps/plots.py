"""Figures of a sweep: a metric against a parameter with 95% bootstrap intervals over replications, and
heatmaps of a metric over two grid parameters. Same style as `sim.plots`.

Intervals are percentile bootstraps of the mean: they lie within the values the runs took, so a survival
time never gets a band below zero. Under `MIN_REPLICATIONS` runs a point gets no interval, and a
`FewReplicationsWarning` says so. A run whose metric is undefined (NaN: no gap arose, nobody left) counts for
nothing at its point; metrics that are constant or undefined in every run are left out and named.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.errors import UserError
from sim.numbers import format_number
from sim.plots.frame import MARKERS
from sim.registry import closest
from sim.sweeps.results import metric_columns, read_results

# Above this many distinct values a parameter was sampled, not gridded: plot every run as a point.
_MAX_LEVELS = 12
# Fewer runs than this at a point give no interval.
MIN_REPLICATIONS = 3
_RESAMPLES = 2000
_LINESTYLES = ("-", "--", "-.", ":")


class FewReplicationsWarning(UserWarning):
    """Some points have fewer than `MIN_REPLICATIONS` runs: their means are shown without an interval."""


def bootstrap_interval(values: np.ndarray, level: float = 0.95, resamples: int = _RESAMPLES,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (seeded: the same table, the same figure)."""
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def summarize(frame: pd.DataFrame, by: list[str], metric: str) -> pd.DataFrame:
    """Per combination of ``by`` (successful runs): the mean of ``metric``, its 95% bootstrap interval
    (``low``, ``high``; NaN under `MIN_REPLICATIONS` runs), ``n`` runs where it is defined and ``undefined``
    runs where it is NaN."""
    ok = frame[frame["status"] == "ok"] if "status" in frame else frame
    rows = []
    for key, group in ok.groupby(by, dropna=False, sort=True):
        values = group[metric].to_numpy(dtype=float)
        defined = values[~np.isnan(values)]
        low = high = float("nan")
        if len(defined) >= MIN_REPLICATIONS:
            low, high = bootstrap_interval(defined)
        key = key if isinstance(key, tuple) else (key,)
        mean = float(defined.mean()) if len(defined) else float("nan")
        rows.append((*key, mean, low, high, len(defined), len(values) - len(defined)))
    return pd.DataFrame(rows, columns=[*by, "mean", "low", "high", "n", "undefined"])


def plot_metric(
    frame: pd.DataFrame, parameter: str, metric: str, by: str | None = None, ax: Axes | None = None
) -> Axes:
    """``metric`` against ``parameter``: means with 95% bootstrap intervals over replications (other
    parameters pooled); one line per value of ``by`` if given, each offset a little sideways and with its own
    marker, so that equal lines stay visible. A sampled parameter (many distinct values) shows every run."""
    ax = ax or plt.subplots(figsize=(4.6, 3.2), layout="constrained")[1]
    ok = frame[frame["status"] == "ok"] if "status" in frame else frame
    numeric = pd.api.types.is_numeric_dtype(ok[parameter])
    title = metric.replace("_", " ")
    undefined = int(ok[metric].isna().sum())
    if undefined:
        title += f"\n(undefined in {undefined} of {len(ok)} runs)"
    if numeric and ok[parameter].nunique() > _MAX_LEVELS:
        ax.scatter(ok[parameter], ok[metric], s=12, alpha=0.7)
    else:
        _levels(ax, ok, parameter, metric, by, numeric)
    ax.set_xlabel(parameter)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return ax


def _levels(ax: Axes, ok: pd.DataFrame, parameter: str, metric: str, by: str | None, numeric: bool) -> None:
    groups = [(None, ok)] if by is None else list(ok.groupby(by, dropna=False, sort=True))
    positions = sorted(ok[parameter].dropna().unique()) if numeric else sorted(ok[parameter].astype(str).unique())
    spacing = float(np.min(np.diff(positions))) if numeric and len(positions) > 1 else 1.0
    few = False
    for k, (value, rows) in enumerate(groups):
        table = summarize(rows, [parameter], metric)
        x = table[parameter].to_numpy(dtype=float) if numeric else np.array(
            [positions.index(str(v)) for v in table[parameter]], dtype=float)
        x = x + _offset(k, len(groups)) * spacing
        mean = table["mean"].to_numpy(dtype=float)
        errors = np.vstack([mean - table["low"], table["high"] - mean])
        label = None if by is None else f"{by} = {value}"
        ax.errorbar(x, mean, yerr=errors, marker=MARKERS[k % len(MARKERS)], markersize=4, capsize=3,
                    linestyle=_LINESTYLES[k % len(_LINESTYLES)], linewidth=1.3, label=label)
        few = few or bool(((table["n"] > 0) & (table["n"] < MIN_REPLICATIONS)).any())
    if not numeric:
        ax.set_xticks(range(len(positions)), positions)
    if by is not None:
        ax.legend(fontsize=7)
    if few:
        ax.text(0.01, 0.01, f"under {MIN_REPLICATIONS} runs a point: no interval",
                transform=ax.transAxes, fontsize=7, color="tab:red", va="bottom")
        warnings.warn(FewReplicationsWarning(
            f"{metric} against {parameter}: fewer than {MIN_REPLICATIONS} runs at some points, shown without "
            "an interval (add --replications)"), stacklevel=3)


def _offset(index: int, count: int) -> float:
    """Sideways offset of line ``index`` of ``count``, as a share of the spacing between parameter values."""
    return 0.0 if count <= 1 else 0.16 * (index / (count - 1) - 0.5)


def plot_heatmap(frame: pd.DataFrame, x: str, y: str, metric: str, ax: Axes | None = None) -> Axes:
    """Mean of ``metric`` over replications (other parameters pooled) on the grid ``x`` by ``y``; a cell where
    the metric is undefined in every run is left blank."""
    ax = ax or plt.subplots(figsize=(4.6, 3.6), layout="constrained")[1]
    table = summarize(frame, [y, x], metric).pivot(index=y, columns=x, values="mean")
    image = ax.imshow(table.to_numpy(dtype=float), origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(table.columns)), [_tick(v) for v in table.columns])
    ax.set_yticks(range(len(table.index)), [_tick(v) for v in table.index])
    for (i, j), value in np.ndenumerate(table.to_numpy(dtype=float)):
        if not math.isnan(value):
            light = image.norm(value) > 0.6  # viridis turns yellow: dark text reads better there
            ax.text(j, i, format_number(value, 3), ha="center", va="center", fontsize=7,
                    color="black" if light else "white")
    ax.figure.colorbar(image, ax=ax, shrink=0.85)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(metric.replace("_", " "), fontsize=10)
    return ax


def _tick(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _grid_figure(count: int, title: str, footer: str) -> tuple[Figure, list[Axes]]:
    ncols = min(3, max(1, count))
    nrows = max(1, math.ceil(count / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows + 0.6), squeeze=False,
                             layout="constrained")
    fig.suptitle(title, fontsize=11)
    if footer:
        fig.supxlabel(footer, fontsize=8, color="0.3", wrap=True)
    for ax in list(axes.flat)[count:]:
        ax.set_visible(False)
    return fig, list(axes.flat)[:count]


def choose_metrics(frame: pd.DataFrame, metrics: list[str] | None, parameters: list[str]) -> list[str]:
    """The metrics asked for (each must exist), or every numeric metric that varies between successful runs."""
    numeric = [c for c in metric_columns(frame, parameters) if pd.api.types.is_numeric_dtype(frame[c])]
    if metrics:
        for metric in metrics:
            if metric not in numeric:
                raise UserError(f"--metric {metric}: no such metric{closest(metric, numeric)}; "
                                f"the table has: {', '.join(numeric)}")
        return list(metrics)
    left_out = left_out_metrics(frame, parameters)
    return [c for c in numeric if c not in left_out] or numeric


def left_out_metrics(frame: pd.DataFrame, parameters: list[str]) -> dict[str, str]:
    """Numeric metrics with nothing to plot, and why: 'undefined' in every successful run, or the one value
    they took in all of them."""
    ok = frame[frame["status"] == "ok"]
    out = {}
    for column in metric_columns(frame, parameters):
        if not pd.api.types.is_numeric_dtype(frame[column]):
            continue
        values = ok[column].dropna()
        if values.empty:
            out[column] = "undefined"
        elif values.nunique() == 1 and len(values) == len(ok):
            out[column] = format_number(values.iloc[0])
    return out


def plot_results(results: str | Path, out: str | Path | None = None, metrics: list[str] | None = None) -> list[Path]:
    """Write a sweep's figures as PNGs: every metric against each parameter, and heatmaps for grid pairs.
    Metrics left out by default (constant or undefined in every run) are named under the panels."""
    frame, meta = read_results(results)
    source = Path(results)
    folder = Path(out) if out else (source if source.is_dir() else source.parent) / "plots"
    if not (frame["status"] == "ok").any():
        raise UserError(f"{results}: no successful runs to plot")
    parameters = meta.get("parameters") or [c for c in frame.columns if "." in c]
    grid = [p for p in meta.get("grid", parameters) if frame[p].nunique() > 1]
    chosen = choose_metrics(frame, metrics, parameters)
    footer = "" if metrics else _left_out_note(left_out_metrics(frame, parameters))
    name = meta.get("name", "")
    folder.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FewReplicationsWarning)
        written = _write_figures(frame, folder, name, parameters, grid, chosen, footer)
    few = sorted({str(w.message).split(" against ")[0] for w in caught if w.category is FewReplicationsWarning})
    for other in (w for w in caught if w.category is not FewReplicationsWarning):
        warnings.warn_explicit(other.message, other.category, other.filename, other.lineno)
    if few:
        warnings.warn(FewReplicationsWarning(
            f"fewer than {MIN_REPLICATIONS} runs at some points of {', '.join(few)}: those means are shown "
            "without an interval (run more --replications)"), stacklevel=2)
    return written


def _write_figures(frame: pd.DataFrame, folder: Path, name: str, parameters: list[str], grid: list[str],
                   chosen: list[str], footer: str) -> list[Path]:
    written = []
    for parameter in parameters:
        others = [p for p in grid if p != parameter]
        by = others[0] if len(grid) == 2 and parameter in grid and frame[others[0]].nunique() <= 6 else None
        fig = metrics_figure(frame, parameter, chosen, by, f"{name}: metrics against {parameter}", footer)
        written.append(_save(fig, folder / f"{parameter}.png"))
    for i, x in enumerate(grid):
        for y in grid[i + 1:]:
            fig = heatmaps_figure(frame, x, y, chosen, f"{name}: mean of each metric, {y} by {x}", footer)
            written.append(_save(fig, folder / f"heatmap_{x}_{y}.png"))
    return written


def metrics_figure(frame: pd.DataFrame, parameter: str, metrics: list[str], by: str | None, title: str,
                   footer: str = "") -> Figure:
    """One panel per metric against ``parameter`` under one title; ``footer`` names what was left out."""
    fig, axes = _grid_figure(len(metrics), title, footer)
    for ax, metric in zip(axes, metrics, strict=True):
        plot_metric(frame, parameter, metric, by=by, ax=ax)
    return fig


def heatmaps_figure(frame: pd.DataFrame, x: str, y: str, metrics: list[str], title: str, footer: str = "") -> Figure:
    """One heatmap per metric over the grid ``x`` by ``y`` under one title."""
    fig, axes = _grid_figure(len(metrics), title, footer)
    for ax, metric in zip(axes, metrics, strict=True):
        plot_heatmap(frame, x, y, metric, ax=ax)
    return fig


def _left_out_note(left_out: dict[str, str]) -> str:
    constant = [f"{m} = {v}" for m, v in left_out.items() if v != "undefined"]
    undefined = [m for m, v in left_out.items() if v == "undefined"]
    parts = ([f"constant in every run: {', '.join(constant)}"] if constant else []) + (
        [f"undefined in every run: {', '.join(undefined)}"] if undefined else [])
    return "not shown: " + "; ".join(parts) if parts else ""


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
