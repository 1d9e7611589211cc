"""What every figure of a run shares: a step axis of whole steps over the run's horizon, and a run that
ended early marked as such, with the reason, on every panel."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, MaxNLocator

# Above this many agents in a group, draw the group's median and spread instead of one line per agent.
MAX_AGENT_LINES = 12
# Markers that tell series apart where colours overlap.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
# Up to this many steps every step gets its tick.
MAX_STEP_TICKS = 20


@dataclass(frozen=True)
class RunFrame:
    """The setting of a run's figures: ``unit`` names a step (month, period), ``horizon`` is the number of
    steps the scenario asked for, ``ended`` why the game stopped early ('' while it has not)."""

    title: str
    horizon: int
    unit: str = "step"
    ended: str = ""

    def last_step(self, model_table: pd.DataFrame) -> int:
        return int(model_table["step"].max()) if len(model_table) else 0

    def ending(self, model_table: pd.DataFrame) -> str:
        """'ended in month 1 of 12: the lake collapsed' for a game that stopped early, else ''."""
        last = self.last_step(model_table)
        if not self.ended or last >= self.horizon:
            return ""
        return f"ended in {self.unit} {last} of {self.horizon}: {self.ended}"


def new_figure(frame: RunFrame, nrows: int = 1, ncols: int = 1, width: float = 8.0, height: float = 3.2,
               sharex: bool = True) -> tuple[Figure, list[Axes]]:
    """A figure of ``nrows`` x ``ncols`` panels under the run's title (constrained layout: no title overlaps)."""
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height * nrows), squeeze=False, sharex=sharex,
                             layout="constrained")
    fig.suptitle(frame.title, fontsize=11)
    return fig, list(axes.flat)


def step_axis(ax: Axes, frame: RunFrame, model_table: pd.DataFrame, label: bool = True) -> None:
    """Whole-step ticks over the scenario's horizon; the steps after an early end shaded and explained."""
    end = max(frame.horizon, frame.last_step(model_table), 1)
    ax.set_xlim(0.5, end + 0.5)
    ax.xaxis.set_major_locator(FixedLocator(range(1, end + 1)) if end <= MAX_STEP_TICKS
                               else MaxNLocator(integer=True))
    if label:
        ax.set_xlabel(frame.unit)
    ax.grid(alpha=0.3)
    ending = frame.ending(model_table)
    if ending:
        last = frame.last_step(model_table)
        ax.axvspan(last + 0.5, frame.horizon + 0.5, color="0.85", alpha=0.6, linewidth=0, zorder=0)
        shaded = (frame.horizon - last) / frame.horizon
        inches = ax.get_position().width * ax.figure.get_figwidth() * shaded
        text = textwrap.fill(ending, max(10, int(inches * 11)))  # about 11 characters an inch at 9 points
        ax.text((last + 1 + frame.horizon) / 2, 0.5, text, transform=ax.get_xaxis_transform(),
                ha="center", va="center", fontsize=9, color="0.2")


def colors(names: list[str]) -> dict[str, tuple[float, ...]]:
    """One tab10 colour per name, in the order given."""
    return {name: plt.cm.tab10(i % 10) for i, name in enumerate(names)}


def per_agent_lines(ax: Axes, table: pd.DataFrame, column: str, palette: dict[str, tuple[float, ...]],
                    cumulative: bool = False) -> None:
    """Each agent's ``column`` against the step, coloured by group; a large group as its median with the
    10-90% band, so 10,000 agents cost as much to draw as a few. Groups get their own marker and a slight
    sideways offset, so that a group whose values equal another's is not hidden under it."""
    groups = sorted(table["group"].unique())
    for k, (group, rows) in enumerate(table.groupby("group", sort=True)):
        values = rows.pivot_table(index="step", columns="agent_id", values=column, aggfunc="sum", dropna=False)
        if cumulative:
            values = values.fillna(0).cumsum()
        x = values.index + dodge(k, len(groups))
        style = {"color": palette[group], "marker": MARKERS[k % len(MARKERS)], "markersize": 4}
        if values.shape[1] <= MAX_AGENT_LINES:
            for i, agent in enumerate(values.columns):
                ax.plot(x, values[agent], linewidth=1.2, alpha=0.85, label=str(group) if i == 0 else None, **style)
        else:
            low, mid, high = (values.quantile(q, axis=1) for q in (0.1, 0.5, 0.9))
            ax.plot(x, mid, label=f"{group} (median)", **style)
            ax.fill_between(x, low, high, color=palette[group], alpha=0.2, linewidth=0)


def dodge(index: int, count: int, width: float = 0.24) -> float:
    """The sideways offset of series ``index`` of ``count`` drawn at the same x positions (0 for one)."""
    return 0.0 if count <= 1 else width * (index / (count - 1) - 0.5)


def integer_values(values: pd.Series | np.ndarray) -> bool:
    """True when every value is a whole number (a count, a flag): its axis then gets whole ticks."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    return bool(finite.size) and bool(np.all(finite == np.round(finite)))
