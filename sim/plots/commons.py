"""The commons' headline: each month the fishers' catches stacked against the stock they fished from and
the sustainability threshold, the most the group could take and still find the lake full again."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.environments.commons import stocks_before, sustainability_threshold
from sim.plots.frame import MAX_AGENT_LINES, RunFrame, colors, new_figure, step_axis

if TYPE_CHECKING:
    from sim.environments.commons import CommonsParams


def commons_figure(params: CommonsParams, initial: int, model_table: pd.DataFrame, agent_table: pd.DataFrame,
                   frame: RunFrame) -> Figure:
    fig, (ax,) = new_figure(frame, height=4.2)
    steps = model_table["step"].to_numpy()
    before = stocks_before(model_table, initial)
    threshold = [sustainability_threshold(int(h), params.regrowth) for h in before]
    catches = _catches(agent_table)
    palette = colors(list(catches.columns))
    bottom = np.zeros(len(steps))
    for who in catches.columns:
        heights = catches[who].reindex(steps).fillna(0).to_numpy(dtype=float)
        ax.bar(steps, heights, bottom=bottom, width=0.6, color=palette[who], label=f"catch: {who}")
        bottom += heights
    ax.plot(steps, before, color="black", marker="o", markersize=5, linewidth=1.6, label="stock at the start",
            zorder=4)
    ax.hlines(threshold, steps - 0.42, steps + 0.42, color="black", linewidth=2.2, linestyle=(0, (3, 1.5)),
              label="sustainability threshold (most the group may take)", zorder=3)
    ax.axhline(params.collapse_below, color="tab:red", linestyle=":", linewidth=1.2,
               label=f"collapse below {params.collapse_below}")
    ax.set_ylim(0, params.capacity * 1.08)
    ax.set_ylabel("tons of fish")
    ax.set_title("the fishers' catches against the stock and the sustainability threshold", fontsize=10)
    step_axis(ax, frame, model_table)
    fig.legend(fontsize=7, loc="outside lower center", ncols=3)
    return fig


def _catches(agent_table: pd.DataFrame) -> pd.DataFrame:
    """Catch per month (rows) of each fisher, or of each group when there are many fishers (columns)."""
    fished = agent_table[agent_table["active"]]
    if fished["agent_id"].nunique() <= MAX_AGENT_LINES:
        who = "fisher " + fished["agent_id"].astype(str) + " (" + fished["group"].astype(str) + ")"
    else:
        who = fished["group"].astype(str)
    return fished.assign(who=who).pivot_table(index="step", columns="who", values="catch", aggfunc="sum",
                                              sort=False)
