"""The base game: what agents can do each step, and what it is worth to them and to society."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel

from sim.component import Component
from sim.incentives import candidate_actions
from sim.registry import Registry
from sim.step import Outcome

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from agents.agent import SocietyAgent
    from sim.plots.frame import RunFrame


class Environment(Component):
    """One base game. ``Action`` is the act-phase action model; `resolve` applies all actions at once.

    `resolve` returns an `Outcome` with, per agent, ``specified`` (the reward the objective states)
    and ``true`` (what the principal or society values), so every scenario yields an alignment gap.
    """

    Action: ClassVar[type[BaseModel]]
    step_name: ClassVar[str] = "step"  # what one step is in this game (month, period): the figures' axis

    def action_schema(self, agent: SocietyAgent) -> type[BaseModel]:
        """The act-phase action model for ``agent`` (override to tighten bounds per agent)."""
        return self.Action

    def fallback(self, agent: SocietyAgent) -> BaseModel:
        """The declared action when a policy gives no valid answer."""
        raise NotImplementedError

    def resolve(self, actions: dict[int, BaseModel]) -> Outcome:
        """Apply every active agent's action simultaneously."""
        raise NotImplementedError

    def done(self) -> bool:
        """True when the game cannot go on (e.g. the resource collapsed)."""
        return False

    # -- what incentive-responsive policies weigh (see sim/incentives.py) ---------------------------
    def candidates(self, agent: SocietyAgent, schema: type[BaseModel]) -> list[BaseModel]:
        """The actions a payoff-weighing policy considers for ``agent`` now: by default every value of every
        bounded field of ``schema`` (the step's action, institutions' fields included)."""
        return candidate_actions(schema)

    def expected_reward(self, agent: SocietyAgent, action: BaseModel) -> float:
        """The specified reward ``agent`` expects from ``action`` this step, before institutions, believing that
        the others do what they did last step. Environments that implement it can host `best_response`."""
        raise NotImplementedError(f"environment '{self.kind}' does not say what an action is expected to earn")

    @classmethod
    def prices_actions(cls) -> bool:
        """Whether this environment implements `expected_reward`."""
        return cls.expected_reward is not Environment.expected_reward

    # -- figures: drawn from the recorded tables and the parameters alone, so that a finished run
    # directory draws the same pictures as the live model (plots/, the dashboard) -------------------
    def end_reason(self, model_table: pd.DataFrame) -> str:
        """Why the recorded game stopped before its horizon, e.g. 'the lake collapsed'; '' while it goes on."""
        return ""

    def figure_frame(self, model_table: pd.DataFrame) -> RunFrame:
        """Title, horizon, step name and early end that every figure of this run shares."""
        from sim.plots.frame import RunFrame

        spec = self.model.spec
        return RunFrame(f"{spec.name} (seed {self.model.seed})", spec.steps, self.step_name,
                        self.end_reason(model_table))

    def headline_figure(self, model_table: pd.DataFrame, agent_table: pd.DataFrame,
                        events: pd.DataFrame) -> Figure:
        """The one picture that tells this run's story. By default: all agents' specified reward against
        their true utility per step, and the cumulative alignment gap. Environments draw their own."""
        from sim.plots.run import reward_vs_utility

        return reward_vs_utility(model_table, self.figure_frame(model_table))


ENVIRONMENTS: Registry[type[Environment]] = Registry("environment", packages=("sim.environments",))
"""``environment: {kind: name}``: every module of `sim.environments` registers its class here."""
