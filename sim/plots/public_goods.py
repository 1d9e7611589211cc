"""The public goods game's headline: each group's contributions period by period, and the punishment
points given after each period (the antisocial ones apart), as in Fehr & Gächter's (2000) figures."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sim.plots.frame import MARKERS, MAX_AGENT_LINES, RunFrame, colors, dodge, new_figure, step_axis

if TYPE_CHECKING:
    from sim.environments.public_goods import PublicGoodsParams


def public_goods_figure(params: PublicGoodsParams, punishment: str, model_table: pd.DataFrame,
                        agent_table: pd.DataFrame, events: pd.DataFrame, frame: RunFrame) -> Figure:
    """``punishment``: '' without a punishment stage, else what makes a sanction false (its panel is drawn
    even when no points were given)."""
    fig, axes = new_figure(frame, 2 if punishment else 1, 1, height=3.0)
    ax = axes[0]
    played = agent_table[agent_table["active"]]
    groups = sorted(played["group"].unique())
    palette = colors(groups)
    few = played["agent_id"].nunique() <= 4 * MAX_AGENT_LINES
    for k, group in enumerate(groups):
        rows = played[played["group"] == group]
        offset = dodge(k, len(groups))
        if few:
            ax.scatter(rows["step"] + offset, rows["contribution"], color=palette[group], s=10, alpha=0.35,
                       linewidth=0)
        mean = rows.groupby("step")["contribution"].mean()
        ax.plot(mean.index + offset, mean, color=palette[group], marker=MARKERS[k % len(MARKERS)], markersize=5,
                linewidth=1.6, label=f"{group} (mean)")
    overall = played.groupby("step")["contribution"].mean()
    ax.plot(overall.index, overall, color="black", linewidth=2.2, linestyle="--", label="everyone (mean)")
    ax.set_ylim(-0.04 * params.endowment, params.endowment * 1.06)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    ax.set_ylabel(f"tokens contributed (of {params.endowment})")
    title = "contributions per period" + ("" if punishment else " (no punishment stage)")
    ax.set_title(title + (", each player a dot" if few else ""), fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    step_axis(ax, frame, model_table, label=not punishment)
    if punishment:
        _punishment(axes[1], events, model_table, frame, punishment)
    return fig


def _punishment(ax, events: pd.DataFrame, model_table: pd.DataFrame, frame: RunFrame, false_means: str) -> None:
    steps = model_table["step"].to_numpy()
    sanctions = events[events["kind"] == "sanction"]
    antisocial = sanctions["detail"] == "false"
    deserved, false = (sanctions[which].groupby("step")["value"].sum().reindex(steps).fillna(0).to_numpy(dtype=float)
                       for which in (~antisocial, antisocial))
    ax.bar(steps, deserved, width=0.6, color="tab:blue", label="punishment points")
    ax.bar(steps, false, width=0.6, bottom=deserved, color="tab:red", label=f"false sanctions\n({false_means})")
    ax.set_ylim(0, max(1.0, float(np.max(deserved + false, initial=0))) * 1.15)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("points given")
    ax.set_title("punishment after each period" + ("" if len(sanctions) else ": none given"), fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    step_axis(ax, frame, model_table)
