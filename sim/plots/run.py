"""Figures of any run: its model-level metrics over time, each agent's cumulative payoffs, and the default
headline (specified reward against true utility, the alignment gap between them)."""

from __future__ import annotations

import math

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sim.numbers import format_number
from sim.plots.frame import RunFrame, colors, integer_values, new_figure, per_agent_lines, step_axis


def varying_columns(model_table: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The numeric model columns (the step aside) that change during the run, and those that do not."""
    numeric = model_table.select_dtypes("number").drop(columns="step", errors="ignore")
    varying = [c for c in numeric.columns if numeric[c].nunique(dropna=True) > 1]
    return varying, [c for c in numeric.columns if c not in varying]


def plot_metrics(model_table: pd.DataFrame, frame: RunFrame, columns: list[str] | None = None) -> Figure:
    """Small multiples of model-level metrics against the step.

    By default every numeric column that changes during the run; the constant ones are named under the
    panels with their value (a flat line says nothing a number doesn't). A run of one step is one table of
    that step's values, under the reason the run ended.
    """
    if len(model_table) == 1:
        return _one_step(model_table, frame, columns)
    constant: list[str] = []
    if columns is None:
        columns, constant = varying_columns(model_table)
    ncols = min(3, max(1, len(columns)))
    nrows = max(1, math.ceil(len(columns) / ncols))
    fig, axes = new_figure(frame, nrows, ncols, width=4.2 * ncols, height=2.8, sharex=False)
    for ax, column in zip(axes, columns, strict=False):
        ax.plot(model_table["step"], model_table[column], marker="o", markersize=3)
        ax.set_title(column.replace("_", " "), fontsize=10)
        if integer_values(model_table[column]):
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        step_axis(ax, frame, model_table)
    for ax in axes[len(columns):]:
        ax.set_visible(False)
    if constant:
        values = ", ".join(f"{c.replace('_', ' ')} = {format_number(model_table[c].iloc[0])}" for c in constant)
        fig.supxlabel(f"constant over the run: {values}", fontsize=8, color="0.3")
    return fig


def _one_step(model_table: pd.DataFrame, frame: RunFrame, columns: list[str] | None) -> Figure:
    """One recorded step: its values as a table, titled with the step and, if it ended there, why."""
    numeric = model_table.select_dtypes("number").drop(columns="step", errors="ignore")
    columns = columns or list(numeric.columns)
    fig, (ax,) = new_figure(frame, width=6.0, height=0.6 + 0.32 * len(columns))
    step = frame.last_step(model_table)
    ax.set_title(frame.ending(model_table) or f"{frame.unit} {step} of {frame.horizon}", fontsize=10)
    ax.axis("off")
    cells = [[c.replace("_", " "), format_number(model_table[c].iloc[0])] for c in columns]
    table = ax.table(cellText=cells, colLabels=["metric", f"{frame.unit} {step}"], loc="center", cellLoc="left",
                     colLoc="left")
    table.scale(1, 1.3)
    return fig


def plot_agents(agent_table: pd.DataFrame, frame: RunFrame) -> Figure:
    """Cumulative specified reward and true utility of each agent, coloured by group."""
    fig, axes = new_figure(frame, 1, 2, width=10.0, height=3.6)
    table = agent_table[agent_table["active"]].sort_values(["agent_id", "step"])
    palette = colors(sorted(table["group"].unique()))
    for ax, column, label in zip(axes, ["specified_reward", "true_utility"], ["specified reward", "true utility"],
                                 strict=True):
        per_agent_lines(ax, table, column, palette, cumulative=True)
        ax.set_title(f"cumulative {label}", fontsize=10)
        step_axis(ax, frame, agent_table)
    axes[1].legend(fontsize=8, loc="best")
    return fig


def reward_vs_utility(model_table: pd.DataFrame, frame: RunFrame) -> Figure:
    """The default headline: what the objective paid each step against what it was worth, and the gap."""
    fig, (top, bottom) = new_figure(frame, 2, 1, height=2.8)
    steps = model_table["step"]
    top.plot(steps, model_table["specified_reward"], marker="o", markersize=4, label="specified reward")
    top.plot(steps, model_table["true_utility"], marker="s", markersize=4, label="true utility")
    top.fill_between(steps, model_table["specified_reward"], model_table["true_utility"], color="tab:red",
                     alpha=0.15, linewidth=0, label="alignment gap")
    top.set_title("all agents' payoffs per step", fontsize=10)
    top.legend(fontsize=8, loc="best")
    step_axis(top, frame, model_table, label=False)
    bottom.plot(steps, model_table["alignment_gap"].cumsum(), marker="o", markersize=4, color="tab:red")
    bottom.axhline(0, color="0.4", linewidth=0.8)
    bottom.set_title("cumulative alignment gap (true utility − specified reward)", fontsize=10)
    step_axis(bottom, frame, model_table)
    return fig
