"""Figures of a run: what the society did over time, and who gained what."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure


def plot_metrics(model_table: pd.DataFrame, columns: list[str] | None = None, title: str = "") -> Figure:
    """Small multiples of model-level metrics against the step.

    By default every numeric column that changes during the run: a flat line says nothing a table wouldn't.
    """
    if columns is None:
        numeric = model_table.select_dtypes("number").drop(columns="step", errors="ignore")
        columns = [c for c in numeric.columns if numeric[c].nunique(dropna=True) > 1] or list(numeric.columns)
    ncols = min(3, max(1, len(columns)))
    nrows = max(1, math.ceil(len(columns) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 2.8 * nrows), squeeze=False)
    for ax, column in zip(axes.flat, columns, strict=False):
        ax.plot(model_table["step"], model_table[column], marker="o", markersize=3)
        ax.set_title(column.replace("_", " "), fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(columns):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_agents(agent_table: pd.DataFrame, title: str = "") -> Figure:
    """Cumulative specified reward and true utility of each agent, coloured by group."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharex=True)
    table = agent_table.sort_values(["agent_id", "step"])
    groups = sorted(table["group"].unique())
    colors = {g: plt.cm.tab10(i % 10) for i, g in enumerate(groups)}
    for ax, column, label in zip(
        axes, ["specified_reward", "true_utility"], ["specified reward", "true utility"], strict=True
    ):
        for (_, group), rows in table.groupby(["agent_id", "group"]):
            ax.plot(rows["step"], rows[column].cumsum(), color=colors[group], alpha=0.8, linewidth=1.2)
        ax.set_title(f"cumulative {label}", fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], color=colors[g], label=g) for g in groups]
    axes[1].legend(handles=handles, fontsize=8, loc="best")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
