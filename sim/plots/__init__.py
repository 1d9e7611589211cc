"""Figures of a run, shared by the run directory's plots/ and the dashboard.

Every environment draws its own headline figure (`Environment.headline_figure`: the commons' stock and
catches, the public goods' contributions and punishments, ...), from the recorded tables and its parameters
alone. `plot_metrics` and `plot_agents` draw any run. All share `RunFrame`: whole-step axes over the
scenario's horizon, and a run that ended early says when and why on every panel.
"""

from __future__ import annotations

from sim.plots.frame import RunFrame
from sim.plots.run import plot_agents, plot_metrics, reward_vs_utility

__all__ = ["RunFrame", "plot_agents", "plot_metrics", "reward_vs_utility"]
