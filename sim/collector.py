"""Mesa's DataCollector with the agent table kept column by column.

Mesa keeps one tuple per agent and step, then builds the agent table from all of them at once; at 100,000
agents that was most of a step's memory (a tuple and its pointers per row, then a second copy while the table
was built). Here every agent reporter appends to its own list, in one pass over the agents per reporter, and the
table is built from the columns. The model-level table, the reporters and the resulting DataFrames are Mesa's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
from mesa.datacollection import DataCollector

if TYPE_CHECKING:
    from sim.model import SocietyModel


class ColumnarCollector(DataCollector):
    """A `DataCollector` whose agent records are columns: the same agent table, a fraction of the memory."""

    def __init__(self, model_reporters: dict[str, Any], agent_reporters: dict[str, Any]) -> None:
        super().__init__(model_reporters=model_reporters, agent_reporters=agent_reporters)
        self.agent_columns: dict[str, list[Any]] = {"Step": [], "AgentID": []}
        # an attribute reporter is read in place (Mesa wraps it in a function called once per agent)
        self.attributes = {name: r for name, r in agent_reporters.items() if isinstance(r, str)}

    def collect(self, model: SocietyModel) -> None:
        """Model reporters as Mesa records them; then one column per agent reporter, over `SocietyModel.everyone`
        (Mesa's agent set yields its agents one by one from a weak dictionary, in the same order)."""
        agent_reporters, self.agent_reporters = self.agent_reporters, {}
        try:
            super().collect(model)
        finally:
            self.agent_reporters = agent_reporters
        agents = model.everyone()
        columns = self.agent_columns
        columns["Step"].extend([model.steps] * len(agents))
        columns["AgentID"].extend([a.unique_id for a in agents])
        for name, reporter in agent_reporters.items():
            attribute = self.attributes.get(name)
            values = [getattr(a, attribute, None) for a in agents] if attribute else list(map(reporter, agents))
            columns.setdefault(name, []).extend(values)

    def get_agent_vars_dataframe(self) -> pd.DataFrame:
        """One row per agent and step, indexed by (Step, AgentID), as Mesa's."""
        names = ["Step", "AgentID", *self.agent_reporters]
        table = pd.DataFrame({name: self.agent_columns.get(name, []) for name in names}, columns=names)
        return table.set_index(["Step", "AgentID"])
