"""The dashboard's figures: metrics over time with the amendments marked, and the network coloured by a metric."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.dashboard.views import View


def numeric_columns(table: pd.DataFrame, exclude: Iterable[str] = ()) -> list[str]:
    """Columns that can be drawn: numbers or booleans, not all missing."""
    skip = set(exclude)
    return [c for c in table.columns if c not in skip and pd.api.types.is_numeric_dtype(table[c])
            and not pd.api.types.is_bool_dtype(table[c]) and table[c].notna().any()] + [
        c for c in table.columns if c not in skip and pd.api.types.is_bool_dtype(table[c])]


def metrics_figure(view: View, columns: list[str]) -> Figure:
    """``columns`` of the model table against the step; a dashed line at each amendment's first step."""
    figure = Figure(figsize=(6.4, 2.6), layout="constrained")
    ax = figure.subplots()
    table = view.model_table
    shown = [c for c in columns if c in table.columns]
    for column in shown:
        ax.plot(table["step"], table[column], marker="o" if len(table) < 30 else None, markersize=3, label=column)
    for amendment in view.amendments:
        ax.axvline(amendment.step - 0.5, color="grey", linestyle="--", linewidth=1)
        ax.annotate(amendment.describe()[:30], (amendment.step - 0.5, 1), xycoords=("data", "axes fraction"),
                    fontsize=7, rotation=90, va="top", ha="right", color="grey")
    ax.set_xlim(0.5, max(view.steps, 1) + 0.5)
    ax.set_xlabel("step")
    ax.xaxis.get_major_locator().set_params(integer=True)
    if shown and len(table):
        ax.legend(fontsize=8, loc="best")
    elif not len(table):
        ax.text(0.5, 0.5, "no step yet: press step or play", transform=ax.transAxes, ha="center", color="grey")
    return figure


def network_figure(view: View, metric: str) -> Figure:
    """The (sampled) network, each agent coloured by ``metric`` at the view's step."""
    figure = Figure(figsize=(4.8, 4.0), layout="constrained")
    ax = figure.subplots()
    ax.set_axis_off()
    network = view.network
    if network is None:
        return figure
    values = {}
    if metric and metric in view.agents.columns:
        values = dict(zip(view.agents["agent_id"].astype(int), view.agents[metric], strict=True))
    xy = np.array([network.positions[n] for n in network.nodes])
    for a, b in network.edges:
        (x1, y1), (x2, y2) = network.positions[a], network.positions[b]
        ax.plot([x1, x2], [y1, y2], color="#cccccc", linewidth=0.6, zorder=1)
    colours = np.array([float(values.get(n, np.nan)) if values.get(n) is not None else np.nan
                        for n in network.nodes])
    drawn = ax.scatter(xy[:, 0], xy[:, 1], c=colours, cmap="viridis", s=max(12, 400 / max(len(xy), 1) ** 0.5),
                       edgecolors="black", linewidths=0.3, zorder=2, plotnonfinite=True)
    if np.isfinite(colours).any():
        figure.colorbar(drawn, ax=ax, label=metric, shrink=0.8)
    sample = f"{len(network.nodes)} of {network.total} agents" if len(network.nodes) < network.total else (
        f"{network.total} agents")
    links = "complete network (links not drawn)" if network.complete else f"{len(network.edges)} links shown"
    ax.set_title(f"{sample}; {links}", fontsize=8)
    return figure
