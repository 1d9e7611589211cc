"""The proxy task's headline: Goodhart's law per agent. Each agent's proxy reward (what it is told to
maximise) rises while the principal's utility of its allocation falls; both are measured from the even
split, the principal's optimum, so an aligned agent stays on the zero line."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from sim.plots.frame import RunFrame, colors, new_figure, per_agent_lines, step_axis


def proxy_task_figure(model_table: pd.DataFrame, agent_table: pd.DataFrame, frame: RunFrame,
                      changes: list[int], change_label: str) -> Figure:
    """``changes``: steps at which the proxy or the principal's values shift, marked as ``change_label``."""
    fig, (top, bottom) = new_figure(frame, 2, 1, height=2.9)
    table = agent_table[agent_table["active"]]
    palette = colors(sorted(table["group"].unique()))
    for ax, column, title in ((top, "specified_reward", "proxy reward (specified), per agent"),
                              (bottom, "true_utility", "principal's utility Σ log s (true), per agent")):
        per_agent_lines(ax, table, column, palette)
        ax.axhline(0, color="0.3", linewidth=1, linestyle="--", label="even split (the principal's optimum)")
        for k, step in enumerate(changes):
            ax.axvline(step - 0.5, color="tab:purple", linewidth=1, linestyle=":",
                       label=change_label if k == 0 else None)
        ax.set_title(f"{title}, measured from the even split", fontsize=10)
        step_axis(ax, frame, model_table, label=ax is bottom)
    top.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig
