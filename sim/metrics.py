"""Metrics every scenario shares: payoffs as specified and as truly valued, the gap, inequality, welfare.

Environment- and institution-specific metrics live with their component (`Component.summary`);
this module holds the definitions that are the same everywhere, so they are computed one way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd


def gini(values: Sequence[float] | np.ndarray) -> float:
    """Gini coefficient of non-negative values (0 = equal, ->1 = one holds all); 0 for all-zero input.

    Negative values are shifted to start at zero, since inequality of losses is still inequality.
    """
    x = np.sort(np.asarray(values, dtype=float))
    if x.size == 0:
        return 0.0
    if x[0] < 0:
        x = x - x[0]
    total = x.sum()
    if total == 0:
        return 0.0
    n = x.size
    ranks = np.arange(1, n + 1)
    return float((2 * np.sum(ranks * x)) / (n * total) - (n + 1) / n)


def utilitarian(utilities: Sequence[float]) -> float:
    """Sum of utilities."""
    return float(np.sum(utilities))


def nash_welfare(utilities: Sequence[float]) -> float:
    """Sum of log utilities (the log of the Nash product); -inf if anyone has nothing."""
    u = np.asarray(utilities, dtype=float)
    return float(np.sum(np.log(u))) if np.all(u > 0) else float("-inf")


def egalitarian(utilities: Sequence[float]) -> float:
    """The worst-off's utility (Rawls' max-min criterion)."""
    return float(np.min(utilities))


WELFARE_FUNCTIONS: dict[str, Callable[[Sequence[float]], float]] = {
    "utilitarian": utilitarian,
    "nash": nash_welfare,
    "egalitarian": egalitarian,
}


def pareto_dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """True if profile ``a`` gives everyone at least what ``b`` gives and someone strictly more."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return bool(np.all(x >= y) and np.any(x > y))


def pareto_efficient(profiles: Sequence[Sequence[float]]) -> list[bool]:
    """For each utility profile (one utility per person, same order), whether no other profile dominates it."""
    return [not any(pareto_dominates(other, p) for other in profiles) for p in profiles]


def step_totals(agent_table: pd.DataFrame) -> pd.DataFrame:
    """Per step: summed specified reward and true utility of the active agents, and their gap."""
    active = agent_table[agent_table["active"]]
    totals = active.groupby("step")[["specified_reward", "true_utility"]].sum()
    totals["alignment_gap"] = totals["true_utility"] - totals["specified_reward"]
    return totals


def run_summary(agent_table: pd.DataFrame) -> dict[str, float]:
    """Whole-run payoff metrics shared by every scenario.

    alignment_gap: total true utility minus total specified reward (negative: the objective as
    written paid for behaviour society did not value); gap_per_agent_step: the same per decision.
    """
    active = agent_table[agent_table["active"]]
    per_agent = active.groupby("agent_id")[["specified_reward", "true_utility"]].sum()
    specified = float(per_agent["specified_reward"].sum())
    true = float(per_agent["true_utility"].sum())
    decisions = max(1, len(active))
    return {
        "total_specified_reward": specified,
        "total_true_utility": true,
        "alignment_gap": true - specified,
        "gap_per_agent_step": (true - specified) / decisions,
        "gini_specified": gini(per_agent["specified_reward"].to_numpy()) if len(per_agent) else 0.0,
        "gini_true": gini(per_agent["true_utility"].to_numpy()) if len(per_agent) else 0.0,
    }
