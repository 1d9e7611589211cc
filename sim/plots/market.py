"""The market's headline: the quantity traded and its price period by period, against the competitive
equilibrium (what price-takers trade, blind to the harm) and the social optimum (what counts the harm:
the quantity and buyer price a Pigouvian tax equal to the damage brings about)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sim.plots.frame import RunFrame, new_figure, step_axis
from sim.theory.markets import competitive_equilibrium

if TYPE_CHECKING:
    from sim.environments.market import MarketParams


def benchmarks(params: MarketParams, agent_table: pd.DataFrame) -> pd.DataFrame:
    """Per step, for the buyers and sellers active then: the competitive quantity and price, and the
    optimal quantity and the buyer price at it. Buyer i (in id order) values a unit at a − b·i, seller j
    costs c + s·j, as `Market.setup` assigns them."""
    roles = agent_table.drop_duplicates("agent_id").set_index("agent_id")["role"].sort_index()
    value = {a: params.demand_intercept - params.demand_slope * i for i, a in enumerate(roles[roles == "buyer"].index)}
    cost = {a: params.supply_intercept + params.supply_slope * j for j, a in enumerate(roles[roles == "seller"].index)}
    rows, cache = [], {}
    for step, present in agent_table[agent_table["active"]].groupby("step")["agent_id"]:
        key = tuple(present)
        if key not in cache:
            values = [value[a] for a in key if a in value]
            costs = [cost[a] for a in key if a in cost]
            free = competitive_equilibrium(values, costs)
            best = competitive_equilibrium(values, [c + params.damage for c in costs])
            cache[key] = (free.quantity, free.buyer_price, best.quantity, best.buyer_price)
        rows.append((step, *cache[key]))
    return pd.DataFrame(rows, columns=["step", "equilibrium_quantity", "equilibrium_price", "optimal_quantity",
                                       "optimal_price"]).set_index("step")


def market_figure(params: MarketParams, model_table: pd.DataFrame, agent_table: pd.DataFrame,
                  frame: RunFrame) -> Figure:
    fig, (top, bottom) = new_figure(frame, 2, 1, height=2.9)
    bench = benchmarks(params, agent_table).reindex(model_table["step"])
    steps = model_table["step"].to_numpy()
    top.bar(steps, model_table["quantity"], width=0.6, color="tab:blue", alpha=0.8, label="units traded")
    _reference(top, steps, bench["equilibrium_quantity"], "competitive equilibrium", "tab:orange", (0, (4, 2)))
    _reference(top, steps, bench["optimal_quantity"], "social optimum (counts the harm)", "tab:green", (0, (1, 1.2)))
    top.yaxis.set_major_locator(MaxNLocator(integer=True))
    top.set_ylim(0, max(float(model_table["quantity"].max()), float(bench["equilibrium_quantity"].max())) + 1)
    top.set_ylabel("units")
    top.set_title(f"quantity traded per period (each unit does {params.damage:g} of harm)", fontsize=10)
    top.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    step_axis(top, frame, model_table, label=False)
    bottom.plot(steps, model_table["price"], color="tab:blue", marker="o", markersize=5, label="price buyers paid",
                zorder=4)
    _reference(bottom, steps, bench["equilibrium_price"], "competitive equilibrium", "tab:orange", (0, (4, 2)))
    _reference(bottom, steps, bench["optimal_price"], "at the optimum (tax = damage)", "tab:green", (0, (1, 1.2)))
    if "unit_tax" in model_table and model_table["unit_tax"].abs().sum() > 0:
        bottom.plot(steps, model_table["unit_tax"], color="tab:purple", marker="s", markersize=4, linewidth=1,
                    label="unit tax in force")
    bottom.set_ylim(0, params.ceiling() * 1.05)
    bottom.set_ylabel("price")
    bottom.set_title("price per period (no marker: nothing traded)", fontsize=10)
    bottom.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    step_axis(bottom, frame, model_table)
    return fig


def _reference(ax, steps: np.ndarray, values: pd.Series, label: str, color: str, dashes: tuple) -> None:
    """A benchmark as one short level per step (it moves only when traders join or leave)."""
    ax.hlines(values.to_numpy(dtype=float), steps - 0.42, steps + 0.42, color=color, linewidth=2.4,
              linestyle=dashes, label=label, zorder=3)
