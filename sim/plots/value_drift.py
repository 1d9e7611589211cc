"""The value-drift headline: society's weight on each attribute (solid) against the specification's (dashed),
step by step, each amendment marked with who made it; below, the alignment gap per step and its running total."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sim.plots.frame import RunFrame, colors, new_figure, step_axis

WHO_MARKERS = {"assembly": "v", "designer": "s"}


def value_drift_figure(attributes: int, model_table: pd.DataFrame, events: pd.DataFrame, frame: RunFrame) -> Figure:
    fig, (top, bottom) = new_figure(frame, 2, 1, height=3.0)
    steps = model_table["step"]
    palette = colors([str(i) for i in range(attributes)])
    for i in range(attributes):
        color = palette[str(i)]
        top.plot(steps, model_table[f"value_{i}"], color=color, linewidth=1.8, label=f"attribute {i}")
        top.step(steps, model_table[f"spec_{i}"], where="mid", color=color, linewidth=1.4, linestyle="--")
    amendments = events[events["kind"] == "amendment"]
    high = float(model_table[[f"{k}_{i}" for k in ("value", "spec") for i in range(attributes)]].max().max())
    for who, rows in amendments.groupby(amendments["detail"].str.split(":").str[0]):
        top.scatter(rows["step"] - 0.5, [high * 1.08] * len(rows), marker=WHO_MARKERS.get(who, "o"), s=28,
                    color="black", label=f"amended by the {who}" if who in WHO_MARKERS else f"amended by {who}",
                    zorder=4)
    top.set_ylim(0, high * 1.16)
    top.set_ylabel("weight")
    top.set_title("what society values (solid) against what the specification rewards (dashed)", fontsize=10)
    handles, _ = top.get_legend_handles_labels()
    styles = [Line2D([], [], color="black", linewidth=1.8, label="society's values"),
              Line2D([], [], color="black", linewidth=1.4, linestyle="--", label="the specification")]
    top.legend(handles=[*styles, *handles], fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    step_axis(top, frame, model_table, label=False)
    bottom.bar(steps, model_table["alignment_gap"], width=0.6, color="tab:red", alpha=0.6,
               label="alignment gap this step (true − specified)")
    bottom.plot(steps, model_table["alignment_gap"].cumsum(), color="tab:red", marker="o", markersize=3,
                label="cumulative")
    bottom.axhline(0, color="0.3", linewidth=0.8)
    bottom.set_title("the workers' alignment gap", fontsize=10)
    bottom.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    step_axis(bottom, frame, model_table)
    return fig
