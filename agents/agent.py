"""The agent: identity, group, policy, memory and running payoffs.

An agent has no ``step()`` of its own: the model runs the phases of a step for all agents at once,
so that a policy can answer all of its agents' decisions in one batch (one LLM call, not N).
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import mesa
from pydantic import BaseModel

from agents.memory import Memory

if TYPE_CHECKING:
    from agents.policy import Policy
    from sim.model import SocietyModel
    from sim.scenario import GroupSpec


class SocietyAgent(mesa.Agent):
    """A member of the society, deciding through its group's policy."""

    def __init__(self, model: SocietyModel, group: GroupSpec, policy: Policy) -> None:
        super().__init__(model)
        self.group = group.name
        self.persona = group.persona
        self.policy = policy
        self.join_step = group.join_step
        self.active = group.join_step <= 1
        self.memory_capacity = group.memory
        self.last_action: BaseModel | None = None
        self.specified_reward = 0.0
        self.true_utility = 0.0
        self.total_specified = 0.0
        self.total_true = 0.0

    @cached_property
    def memory(self) -> Memory:
        """What the agent remembers, made when first used: only agents whose policy reads it (an LLM's) do, and an
        empty one is 700 bytes, most of what a scripted agent would otherwise carry."""
        return Memory(self.memory_capacity)

    def settle(self, specified: float, true: float) -> None:
        """Book this step's payoffs."""
        self.specified_reward = specified
        self.true_utility = true
        self.total_specified += specified
        self.total_true += true

    @property
    def neighbors(self) -> list[int]:
        """Ids of the active agents this one is linked to in the social network."""
        return [n for n in self.model.network.neighbors(self.unique_id) if self.model.agent(n).active]

    def __repr__(self) -> str:
        return f"SocietyAgent({self.unique_id}, group={self.group!r})"
