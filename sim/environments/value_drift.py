"""Drifting values: a specification written once, while what society wants moves on.

The proxy task of Zhuang & Hadfield-Menell (2020) with the principal's weights made explicit and moving, the
setting Stańczak et al. (2025) argue calls for participatory alignment. Workers each spread a budget B over L
attributes (at most ``max_change``·B moved a step, every attribute at least ``min_level``). Society's utility of
a worker's state s is U_w(s) = Σ w_i log s_i, and its weights w drift: from each ``drift`` entry's step on they
are that entry's ``values``, and with ``drift_sd`` they also take a random-walk step every step. The workers are
rewarded by the **specification**: the weights r that were written down, U_r(s).

Both payoffs are measured from their own optimum s*_x (the maximiser of U_x over the feasible states,
`sim.theory.contracts.weighted_optimum`): specified = U_r(s) − U_r(s*_r) <= 0 (0: the worker does exactly what it
is told); true = U_w(s) − U_w(s*_w) <= 0 (0: society gets the best it could). A worker that follows the
specification leaves an alignment gap of −`value_misfit`(w, r) = −W·KL(w/W ‖ r/R) (without binding floors): zero
exactly when the specification states society's values, so with no drift a specification that starts right
is optimal.

**Citizens** (the ``citizens`` groups) do not work. They hold society's values, each its own: w plus a fixed
personal offset (standard deviation ``value_spread``, centred so that the citizens' mean is w, kept >= 0), and
they can amend the specification in an ``assembly``. The specification can also stay fixed (no institution)
or be rewritten every K steps by a ``designer`` who surveys society.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, model_validator

from sim.component import Params, Problem
from sim.environments.base import ENVIRONMENTS, Environment
from sim.environments.proxy_task import Allocation, allocation_schema, feasible_state, step_towards
from sim.scenario_checks import unknown_groups
from sim.step import Observation, Outcome
from sim.theory.contracts import value_misfit, weighted_optimum, weighted_utility

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from agents.agent import SocietyAgent
    from sim.scenario import Scenario


class ValueShift(Params):
    step: int = Field(ge=1, description="The first step at which society holds these values.")
    values: list[float] = Field(min_length=1, description="Society's weight on each attribute from then on.")


class ValueDriftParams(Params):
    attributes: int = Field(4, ge=2, description="L: attributes of a worker's state that society values.")
    budget: float = Field(12.0, gt=0, description="B: what a worker spreads over the attributes.")
    max_change: float = Field(0.25, gt=0, le=1, description="Most of the budget (share) a worker may move a step.")
    min_level: float = Field(0.05, gt=0, description="Least an attribute can hold (keeps U finite).")
    values: list[float] | None = Field(None, description="Society's weight on each attribute at the start "
                                                         "(default: 1 each).")
    drift: list[ValueShift] = Field([], description="Shifts of society's values: from `step` on, `values`.")
    drift_sd: float = Field(0.0, ge=0, description="Every step each weight also moves by a normal draw with this "
                                                   "standard deviation (a random walk, kept >= 0).")
    specification: list[float] | None = Field(None, description="The weights the workers' reward states "
                                                                "(default: society's values at the start).")
    citizens: list[str] = Field([], description="Population groups that do not work: society's members, who "
                                                "hold its values and may sit in an assembly.")
    value_spread: float = Field(0.0, ge=0, description="Standard deviation of each citizen's fixed personal "
                                                       "offset from society's values.")

    @model_validator(mode="after")
    def _weights_fit(self) -> ValueDriftParams:
        if self.min_level * self.attributes >= self.budget:
            raise ValueError("min_level × attributes must be below the budget")
        named = [("values", self.values), ("specification", self.specification),
                 *((f"drift step {s.step}", s.values) for s in self.drift)]
        for name, weights in named:
            if weights is None:
                continue
            if len(weights) != self.attributes:
                raise ValueError(f"{name}: {len(weights)} weights for {self.attributes} attributes")
            if min(weights) < 0 or sum(weights) <= 0:
                raise ValueError(f"{name}: weights must be >= 0 and not all 0")
        steps = [s.step for s in self.drift]
        if steps != sorted(set(steps)):
            raise ValueError("drift: steps must increase")
        if self.values is None:  # filled in, so that amendments can name specification.i
            self.values = [1.0] * self.attributes
        if self.specification is None:
            self.specification = list(self.values)
        return self


class Abstain(BaseModel):
    """You do not work on the task this step: answer with an empty object."""


@ENVIRONMENTS.register("value_drift")
class ValueDrift(Environment):
    """Workers rewarded by a written specification; society's values, held by its citizens, drift."""

    Params = ValueDriftParams
    Action = Allocation
    surveyed_parameters = ("specification",)  # what a designer's survey can rewrite

    @classmethod
    def check(cls, params: ValueDriftParams, scenario: Scenario) -> Iterator[Problem]:
        yield from unknown_groups(scenario, "citizens", params.citizens)

    def setup(self) -> None:
        p = self.params
        agents = sorted(self.model.agents, key=lambda a: a.unique_id)
        citizens = [a.unique_id for a in agents if a.group in p.citizens]
        offsets = self.model.rng.normal(0.0, p.value_spread, (len(citizens), p.attributes))
        if len(citizens) > 1:
            offsets -= offsets.mean(axis=0)
        self.offsets = dict(zip(citizens, offsets, strict=True))
        self.values = np.asarray(p.values, dtype=float)
        self.valued_at = 0  # the step whose values `values` holds
        self.states: dict[int, np.ndarray] = {}
        self.paid_under = self.specification()

    # -- society's values and the specification ----------------------------------------------------
    def specification(self) -> np.ndarray:
        return np.asarray(self.params.specification, dtype=float)

    def society_values(self) -> np.ndarray:
        """w now: once per step, before anyone looks, the scheduled shift and the random-walk step."""
        step = self.model.steps
        while self.valued_at < step:
            self.valued_at += 1
            shift = next((s for s in self.params.drift if s.step == self.valued_at), None)
            if shift is not None:
                self.values = np.asarray(shift.values, dtype=float)
            if self.params.drift_sd and self.valued_at > 1:
                walk = self.model.rng.normal(0.0, self.params.drift_sd, self.params.attributes)
                self.values = np.clip(self.values + walk, 0.0, None)
        return self.values

    def citizen_values(self, agent_id: int) -> np.ndarray:
        """A citizen's own weights: society's plus its personal offset, kept >= 0."""
        return np.clip(self.society_values() + self.offsets[agent_id], 0.0, None)

    def is_citizen(self, agent: SocietyAgent) -> bool:
        return agent.unique_id in self.offsets

    def ideal_setting(self, agent: SocietyAgent, target: str, parameter: str) -> float | None:
        """What a citizen wants ``specification.i`` to be: its own weight on attribute i."""
        index = parameter.removeprefix("specification.")
        if target != "environment" or not index.isdigit() or not self.is_citizen(agent):
            return None
        return float(self.citizen_values(agent.unique_id)[int(index)])

    def surveyed(self, parameter: str) -> list[float]:
        """What a survey of society finds the specification should say: its values now."""
        return [float(x) for x in self.society_values()]

    def optimum(self, weights: np.ndarray) -> np.ndarray:
        return weighted_optimum(weights, self.params.budget, self.params.min_level)

    def state(self, agent_id: int) -> np.ndarray:
        return self.states.setdefault(agent_id, np.full(self.params.attributes, self.params.budget
                                                        / self.params.attributes))

    # -- what agents know ------------------------------------------------------------------------
    def briefing(self) -> str:
        p = self.params
        return (
            f"Workers each spread a budget of {p.budget:g} units over {p.attributes} attributes of a task "
            f"(numbered 0 to {p.attributes - 1}); every attribute holds at least {p.min_level:g}, and a worker moves "
            f"at most {p.max_change * p.budget:g} units a step towards what it proposes. A worker's reward is the "
            "specification: a weight for each attribute, the reward being the sum over attributes of weight × "
            "log(units held), measured from the best a worker can do. Society values the attributes with "
            "weights of its own, which may change; citizens hold society's values, each a little differently, "
            "and do not work."
        )

    def observe_public(self, public: dict[str, Any]) -> None:
        p = self.params
        public.update(
            step=self.model.steps, attributes=p.attributes, budget=p.budget, min_level=p.min_level,
            max_change=p.max_change * p.budget, specification=[round(float(x), 4) for x in self.specification()],
        )

    def observe(self, agent: SocietyAgent, observation: Observation) -> None:
        if self.is_citizen(agent):
            observation.private["your_values"] = [round(float(x), 4) for x in self.citizen_values(agent.unique_id)]
            return
        s = self.state(agent.unique_id)
        observation.private.update(allocation=[round(float(x), 6) for x in s], reward=self.reward(s))

    def action_schema(self, agent: SocietyAgent) -> type[BaseModel]:
        return Abstain if self.is_citizen(agent) else allocation_schema(self.params.attributes)

    def fallback(self, agent: SocietyAgent) -> BaseModel:
        """A worker keeps its allocation; a citizen abstains."""
        if self.is_citizen(agent):
            return Abstain()
        return self.action_schema(agent)(allocation=[float(x) for x in self.state(agent.unique_id)])

    # -- one step --------------------------------------------------------------------------------
    def reward(self, s: np.ndarray) -> float:
        """The specified reward of state s: U_r(s) − U_r(s*_r)."""
        r = self.specification()
        return weighted_utility(s, r) - weighted_utility(self.optimum(r), r)

    def moved(self, agent_id: int, allocation: list[float]) -> np.ndarray:
        p = self.params
        return step_towards(self.state(agent_id), feasible_state(allocation, p.budget, p.min_level),
                            p.max_change * p.budget)

    def expected_reward(self, agent: SocietyAgent, action: BaseModel) -> float:
        """The specified reward after moving towards the proposal (what `resolve` will pay a worker)."""
        return 0.0 if self.is_citizen(agent) else self.reward(self.moved(agent.unique_id, action.allocation))

    def resolve(self, actions: dict[int, BaseModel]) -> Outcome:
        w = self.society_values()
        best = weighted_utility(self.optimum(w), w)
        self.paid_under = self.specification()
        specified, true = dict.fromkeys(actions, 0.0), dict.fromkeys(actions, 0.0)
        for agent_id, action in actions.items():
            if agent_id in self.offsets:
                continue
            s = self.moved(agent_id, action.allocation)
            self.states[agent_id] = s
            specified[agent_id] = self.reward(s)
            true[agent_id] = weighted_utility(s, w) - best
        return Outcome(specified, true, info={"values": w.tolist(), "specification": self.paid_under.tolist()})

    # -- metrics ---------------------------------------------------------------------------------
    def model_reporters(self):
        p = self.params
        reporters = {
            "value_misfit": lambda m: value_misfit(self.society_values(), self.paid_under, p.budget, p.min_level),
        }
        for i in range(p.attributes):
            reporters[f"value_{i}"] = lambda m, i=i: float(self.society_values()[i])
            reporters[f"spec_{i}"] = lambda m, i=i: float(self.paid_under[i])
        return reporters

    def summary(self, model_table: pd.DataFrame, agent_table: pd.DataFrame) -> dict[str, float]:
        """The specification's misfit to society's values (what a worker that follows it costs society, per
        step), and how often the specification was amended."""
        amended = sum(e.kind == "amendment" and "environment.specification" in e.detail for e in self.model.events)
        return {
            "mean_value_misfit": float(model_table["value_misfit"].mean()),
            "final_value_misfit": float(model_table["value_misfit"].iloc[-1]),
            "specification_amendments": float(amended),
        }

    def headline_figure(self, model_table: pd.DataFrame, agent_table: pd.DataFrame,
                        events: pd.DataFrame) -> Figure:
        """Society's values against the specification, attribute by attribute, and the alignment gap."""
        from sim.plots.value_drift import value_drift_figure

        return value_drift_figure(self.params.attributes, model_table, events, self.figure_frame(model_table))
