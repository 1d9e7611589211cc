"""Mesa's DataCollector with the agent table kept column by column.

Mesa keeps one tuple per agent and step, then builds the agent table from all of them at once; at 100,000
agents that was most of a step's memory (a tuple and its pointers per row, then a second copy while the table
was built). Here every agent reporter appends to its own list, in one pass over the agents per reporter (a
`Column` reporter gives its list in one call, not one call per agent), and the table is built from the columns.
The model-level table, the reporters and the resulting DataFrames are Mesa's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import pandas as pd
from mesa.datacollection import DataCollector

if TYPE_CHECKING:
    from agents.agent import SocietyAgent
    from sim.model import SocietyModel


class Column:
    """An agent reporter that gives its whole column at once: one value per agent of the list it is given, in order.

    Values read alike for every agent (a dict by agent id, a field of each one's action) cost one pass with the
    lookups made once, not a call per agent. Called with one agent it gives that agent's value, as any reporter.
    """

    def __init__(self, values: Callable[[list[SocietyAgent]], list[Any]]) -> None:
        self.values = values

    def __call__(self, agent: SocietyAgent) -> Any:
        return self.values([agent])[0]

    @classmethod
    def by_id(cls, mapping: Callable[[], Mapping[int, Any]], default: Any = None, active_only: bool = False) -> Column:
        """``mapping()[agent id]``, ``default`` where it has none, and None for agents not yet active if
        ``active_only``; ``mapping`` is asked once per column (components replace their dicts every step)."""

        def values(agents: list[SocietyAgent]) -> list[Any]:
            get = mapping().get
            if active_only:
                return [get(a.unique_id, default) if a.active else None for a in agents]
            return [get(a.unique_id, default) for a in agents]

        return cls(values)


def attribute_column(agents: list[SocietyAgent], attribute: str) -> list[Any]:
    """Each agent's ``attribute``, None where it has none (as Mesa's attribute reporter)."""
    try:
        return list(map(attrgetter(attribute), agents))
    except AttributeError:
        return [getattr(a, attribute, None) for a in agents]


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
            if attribute:
                values = attribute_column(agents, attribute)
            elif isinstance(reporter, Column):
                values = reporter.values(agents)
            else:
                values = list(map(reporter, agents))
            columns.setdefault(name, []).extend(values)

    def get_agent_vars_dataframe(self) -> pd.DataFrame:
        """One row per agent and step, indexed by (Step, AgentID), as Mesa's."""
        names = ["Step", "AgentID", *self.agent_reporters]
        table = pd.DataFrame({name: self.agent_columns.get(name, []) for name in names}, columns=names)
        return table.set_index(["Step", "AgentID"])
