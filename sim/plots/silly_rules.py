"""The silly-rules group's headline: how many members stay, period by period, and what they believe of
enforcement against the belief at which leaving pays; periods of collapsed enforcement shaded, the rumour
marked (Hadfield-Menell, Andrus & Hadfield 2019)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sim.plots.frame import RunFrame, new_figure, step_axis

if TYPE_CHECKING:
    from sim.environments.silly_rules import SillyRulesParams


def silly_rules_figure(params: SillyRulesParams, founders: int, model_table: pd.DataFrame,
                       frame: RunFrame) -> Figure:
    fig, (top, bottom) = new_figure(frame, 2, 1, height=2.8)
    steps = model_table["step"]
    collapsed = steps[model_table["enforcement"] < params.enforcement_high]
    for ax in (top, bottom):
        for k, step in enumerate(collapsed):
            ax.axvspan(step - 0.5, step + 0.5, color="tab:red", alpha=0.12, linewidth=0,
                       label=f"enforcement collapsed (θ = {params.enforcement_low:g})" if k == 0 else None)
        if params.belief_shock_step is not None:
            ax.axvline(params.belief_shock_step - 0.5, color="tab:purple", linestyle=":", linewidth=1.2,
                       label=f"rumour of collapse (belief → {params.belief_shock:g})")
    top.plot(steps, model_table["members"], color="black", marker="o", markersize=4, label="members")
    top.axhline(params.quorum * founders, color="tab:red", linestyle="--", linewidth=1,
                label=f"quorum: enforcement lost below {params.quorum * founders:g}")
    top.set_ylim(0, founders * 1.08)
    top.yaxis.set_major_locator(MaxNLocator(integer=True))
    top.set_title(f"members left of {founders}", fontsize=10)
    top.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    step_axis(top, frame, model_table, label=False)
    bottom.plot(steps, model_table["mean_belief_collapsed"], color="tab:blue", marker="o", markersize=4,
                label="mean belief that enforcement collapsed")
    bottom.axhline(params.theory().threshold(), color="tab:green", linestyle="--", linewidth=1.2,
                   label="belief above which leaving pays")
    bottom.set_ylim(0, 1)
    bottom.set_title("members' belief in collapse", fontsize=10)
    bottom.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    step_axis(bottom, frame, model_table)
    return fig
