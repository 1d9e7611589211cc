"""The common shape of environments and institutions: typed parameters, rule text, observations, metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from sim.scenario_files import StrictModel
from sim.step import Observation

if TYPE_CHECKING:
    from agents.agent import SocietyAgent
    from sim.model import SocietyModel
    from sim.scenario import Scenario


class Params(StrictModel):
    """Base of every component's parameters: unknown keys are errors, not silently ignored; floats are finite."""


@dataclass(frozen=True)
class Problem:
    """What a scenario check found: where (a path such as ``("institutions", 2, "target")``) and what.

    A warning is printed by ``alignsim validate`` and refuses nothing; anything else refuses the scenario.
    """

    loc: tuple[Any, ...]
    message: str
    warning: bool = False

    def within(self, *prefix: Any) -> Problem:
        """The same problem, located inside ``prefix`` (a component's entry in the scenario)."""
        return replace(self, loc=(*prefix, *self.loc))


class Component:
    """A part of the society that a scenario file lists by ``kind:`` with its parameters.

    Subclasses set ``Params`` (a `Params` model; its fields are the scenario keys) and override
    what they need; every hook has a harmless default. What a component needs of the rest of the
    scenario it declares on the class (`check`, and `Institution`'s ``environments``, ``needs``, ``after``),
    so that ``alignsim validate`` refuses it with its place in the file before any model is built.
    """

    Params: ClassVar[type[Params]] = Params
    kind: ClassVar[str] = ""

    @classmethod
    def check(cls, params: Params, scenario: Scenario) -> Iterator[Problem]:
        """Cross-checks of ``params`` against the rest of ``scenario`` (`sim.scenario_checks`), as `Problem`s
        located within this component's entry; what fails here would otherwise fail when the model is built."""
        return iter(())

    @classmethod
    def uses_llm(cls, params: Params) -> bool:
        """True when the component asks the scenario's LLM itself (an LLM judge or planner)."""
        return False

    def __init__(self, model: SocietyModel, params: Params) -> None:
        self.model = model
        self.params = params

    def setup(self) -> None:
        """Called once the agents and the network exist: the state this component keeps across steps."""

    def configure(self) -> None:
        """Derive what this component caches from its parameters and from the other components.

        Called for every component before any `setup` (so a setup may use what another component derives
        here), and again after each amendment (`sim.amendments`), so that a value derived here follows a
        parameter changed mid-run. Parameters that do not fit the rest of the society are refused before, by
        `check` (an amendment is validated as a scenario file is); a `UserError` raised here still refuses an
        amendment and rolls it back.
        """

    def briefing(self) -> str:
        """What an LLM agent is told of this component: the rules it puts in force, in words (``$rules`` in the
        system prompt, the prefix every agent's chat shares). Scripted agents read numbers instead
        (`Institution.expected_penalty`)."""
        return ""

    def observe_public(self, public: dict[str, Any]) -> None:
        """Add what every agent sees of this component to ``public``. Called once per phase: what all agents share
        is built once, not once per agent (each observation starts from a copy)."""

    def observe(self, agent: SocietyAgent, observation: Observation) -> None:
        """Add what ``agent`` alone can see of this component to ``observation``."""

    def observer(self) -> Callable[[SocietyAgent, Observation], None] | None:
        """`observe` for the agents of one phase, asked once at its start (None: nothing to add per agent).
        Override it instead of `observe` where part of each agent's view is looked up the same way for all."""
        return None if type(self).observe is Component.observe else self.observe

    def model_reporters(self) -> dict[str, Callable[[SocietyModel], Any]]:
        """Model-level metrics recorded every step (column name -> function of the model)."""
        return {}

    def agent_reporters(self) -> dict[str, Callable[[SocietyAgent], Any]]:
        """Agent-level values recorded every step (column name -> function of the agent)."""
        return {}

    def summary(self, model_table: pd.DataFrame, agent_table: pd.DataFrame) -> dict[str, float]:
        """End-of-run metrics computed from the recorded tables."""
        return {}
