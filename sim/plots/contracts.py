"""The incomplete contract's headline: what each contractor was paid under the letter of the contract
(specified reward) against what its work was worth once the harm of exploited gaps is counted (true
utility), and period by period how the tasks went: covered by the contract, gaps honoured, gaps exploited."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sim.plots.frame import MAX_AGENT_LINES, RunFrame, new_figure, step_axis


def contractor_totals(agent_table: pd.DataFrame) -> pd.DataFrame:
    """Total specified reward and true utility of each contractor (of each group's average contractor when
    there are many), labelled for the axis."""
    rows = agent_table[agent_table["active"] & (agent_table["role"] == "contractor")]
    totals = rows.groupby(["agent_id", "group"])[["specified_reward", "true_utility"]].sum().reset_index()
    if len(totals) <= 2 * MAX_AGENT_LINES:
        totals["label"] = "agent " + totals["agent_id"].astype(str) + " (" + totals["group"].astype(str) + ")"
        return totals
    means = totals.groupby("group")[["specified_reward", "true_utility"]].mean().reset_index()
    return means.assign(label=means["group"].astype(str) + " (mean per contractor)")


def contracts_figure(model_table: pd.DataFrame, agent_table: pd.DataFrame, frame: RunFrame) -> Figure:
    totals = contractor_totals(agent_table)
    fig, (left, right) = new_figure(frame, 2, 1, height=0.9 + 0.45 * len(totals), sharex=False)
    y = np.arange(len(totals))
    left.barh(y - 0.2, totals["specified_reward"], height=0.38, color="tab:blue", label="specified reward (paid)")
    left.barh(y + 0.2, totals["true_utility"], height=0.38, color="tab:orange",
              label="true utility (less the harm it did)")
    left.axvline(0, color="0.3", linewidth=0.8)
    left.set_yticks(y, totals["label"])
    left.invert_yaxis()
    left.set_xlabel("total over the run")
    left.set_title("each contractor: specified reward against true utility", fontsize=10)
    left.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    left.grid(alpha=0.3, axis="x")
    steps = model_table["step"].to_numpy()
    exploited = model_table["exploited_gaps"].to_numpy(dtype=float)
    honoured = model_table["uncovered_tasks"].to_numpy(dtype=float) - exploited
    covered = model_table["tasks"].to_numpy(dtype=float) - model_table["uncovered_tasks"].to_numpy(dtype=float)
    bottom = np.zeros(len(steps))
    for heights, label, color in ((covered, "covered by the contract", "0.7"),
                                  (honoured, "gap honoured", "tab:green"), (exploited, "gap exploited", "tab:red")):
        right.bar(steps, heights, bottom=bottom, width=0.6, color=color, label=label)
        bottom += heights
    right.yaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_ylabel("tasks")
    right.set_title("tasks per period", fontsize=10)
    right.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    step_axis(right, frame, model_table)
    return fig
