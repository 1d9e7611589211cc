"""The common shape of environments and institutions: typed parameters, rule text, observations, metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd
from pydantic import BaseModel, ConfigDict

from sim.step import Observation

if TYPE_CHECKING:
    from agents.agent import SocietyAgent
    from sim.model import SocietyModel


class Params(BaseModel):
    """Base of every component's parameters: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Component:
    """A part of the society that a scenario file lists by ``kind:`` with its parameters.

    Subclasses set ``Params`` (a `Params` model; its fields are the scenario keys) and override
    what they need; every hook has a harmless default.
    """

    Params: ClassVar[type[Params]] = Params
    kind: ClassVar[str] = ""

    def __init__(self, model: SocietyModel, params: Params) -> None:
        self.model = model
        self.params = params

    def setup(self) -> None:
        """Called once the agents and the network exist: the state this component keeps across steps."""

    def configure(self) -> None:
        """Derive what this component caches from its parameters and from the other components.

        Called for every component before any `setup` (so a setup may use what another component derives
        here), and again after each amendment (`sim.amendments`), so that a
        value derived here follows a parameter changed mid-run. Raise a `UserError` for parameters that do not
        fit the rest of the society: an amendment that causes one is refused and rolled back.
        """

    def rules(self) -> str:
        """Text every agent reads: the rules this component puts in force (the shared prompt prefix)."""
        return ""

    def observe_public(self, public: dict[str, Any]) -> None:
        """Add what every agent sees of this component to ``public``. Called once per phase: what all agents share
        is built once, not once per agent (each observation starts from a copy)."""

    def observe(self, agent: SocietyAgent, observation: Observation) -> None:
        """Add what ``agent`` alone can see of this component to ``observation``."""

    def model_reporters(self) -> dict[str, Callable[[SocietyModel], Any]]:
        """Model-level metrics recorded every step (column name -> function of the model)."""
        return {}

    def agent_reporters(self) -> dict[str, Callable[[SocietyAgent], Any]]:
        """Agent-level values recorded every step (column name -> function of the agent)."""
        return {}

    def summary(self, model_table: pd.DataFrame, agent_table: pd.DataFrame) -> dict[str, float]:
        """End-of-run metrics computed from the recorded tables."""
        return {}
