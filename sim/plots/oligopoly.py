"""The oligopoly's headline: prices period by period between the one-shot Nash and the monopoly prices, and the
response to the forced deviation (Calvano et al. 2020's Figure 4: rivals punish, then all return) or, without one,
the profit gain Δ over time."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.environments.collusion import impulse_response
from sim.plots.frame import MARKERS, RunFrame, new_figure, step_axis

if TYPE_CHECKING:
    from sim.environments.oligopoly import OligopolyParams
    from sim.theory.oligopoly import Oligopoly

FEW_MARKETS = 3  # up to this many markets every firm gets its own line; above, each firm position its mean and band


def benchmarks(ax: Axes, market: Oligopoly) -> None:
    """The one-shot Nash and the monopoly prices (their mean over firms) as dashed lines."""
    ax.axhline(float(market.nash_prices.mean()), color="tab:green", linestyle="--", linewidth=1.2,
               label="one-shot Nash")
    ax.axhline(float(market.monopoly_prices.mean()), color="tab:red", linestyle="--", linewidth=1.2,
               label="monopoly")


def oligopoly_figure(params: OligopolyParams, market: Oligopoly, agent_table: pd.DataFrame,
                     frame: RunFrame) -> Figure:
    fig, (top, bottom) = new_figure(frame, 2, 1, height=3.0, sharex=False)
    rows = agent_table[agent_table["active"] & agent_table["price"].notna()]
    prices_over_time(top, rows, market, params)
    step_axis(top, frame, rows.drop_duplicates("step"))
    response = impulse_response(rows, params)
    if len(response):
        draw_impulse_response(bottom, response, market)
    else:
        gain = rows.groupby("step")["profit_gain"]
        bottom.plot(gain.mean().index, gain.mean(), color="black", marker="o", markersize=3, label="mean Δ")
        bottom.fill_between(gain.mean().index, gain.quantile(0.1), gain.quantile(0.9), color="0.6", alpha=0.3,
                            linewidth=0, label="10-90% of firms")
        for level, name in ((0.0, "Nash profit"), (1.0, "monopoly profit")):
            bottom.axhline(level, color="tab:green" if level == 0 else "tab:red", linestyle="--", linewidth=1.2,
                           label=name)
        bottom.set_ylabel("profit gain Δ")
        bottom.set_title("profit gain Δ = (π − π_N)/(π_M − π_N)", fontsize=10)
        bottom.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
        step_axis(bottom, frame, rows.drop_duplicates("step"))
    return fig


def prices_over_time(ax: Axes, rows: pd.DataFrame, market: Oligopoly, params: OligopolyParams) -> None:
    """Each firm's price per period (few markets), or each firm position's mean and 10-90% band over markets."""
    markets = rows["market"].nunique()
    for firm, of_firm in rows.groupby("firm", sort=True):
        style = {"marker": MARKERS[int(firm) % len(MARKERS)], "markersize": 3, "linewidth": 1.3}
        if markets <= FEW_MARKETS:
            for k, (m, line) in enumerate(of_firm.groupby("market", sort=True)):
                ax.plot(line["step"], line["price"], color=f"C{int(firm)}", alpha=1.0 - 0.25 * k,
                        label=f"firm {firm}" + (f", market {m}" if markets > 1 else ""), **style)
        else:
            by_step = of_firm.groupby("step")["price"]
            ax.plot(by_step.mean().index, by_step.mean(), color=f"C{int(firm)}", label=f"firm {firm} (mean)",
                    **style)
            ax.fill_between(by_step.mean().index, by_step.quantile(0.1), by_step.quantile(0.9),
                            color=f"C{int(firm)}", alpha=0.15, linewidth=0)
    benchmarks(ax, market)
    if params.deviation is not None:
        ax.axvline(params.deviation.step, color="0.3", linestyle=":", linewidth=1.2, label="forced deviation")
    ax.set_ylabel("price")
    scope = f"{markets} markets" if markets > FEW_MARKETS else "each firm"
    ax.set_title(f"prices per period ({scope})", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))


def draw_impulse_response(ax: Axes, response: pd.DataFrame, market: Oligopoly) -> None:
    """Mean prices of the deviating firm and its rivals, τ periods from the deviation."""
    for k, (role, rows) in enumerate(response.groupby("role", sort=True)):
        ax.plot(rows["tau"], rows["price"], marker=MARKERS[k], color="tab:purple" if role == "deviator" else "C0",
                linewidth=1.6, label=str(role))
    benchmarks(ax, market)
    ax.axvline(0, color="0.3", linestyle=":", linewidth=1.2)
    ax.set_xticks(np.unique(response["tau"]))
    ax.set_xlabel("periods τ since the forced deviation (τ = 0)")
    ax.set_ylabel("price (mean over markets)")
    ax.set_title("impulse response: one firm deviates to its best response", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
