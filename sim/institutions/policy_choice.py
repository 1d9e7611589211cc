"""What voting and the planner share: a setting of another institution chosen from a list of options.

Each option is judged by its forecast (`Market.forecast`): every agent's true utility for a period
in which traders take the price as given under that option. Agents see their own forecasts (and the
total) when they vote; the planner ranks the options by a welfare function of them. The summary
says which option each welfare function (utilitarian, Nash, egalitarian) would pick and whether the
chosen one is Pareto efficient among the options.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pandas as pd
from pydantic import Field, ValidationError

from sim.component import Params, Problem
from sim.institutions.base import Institution
from sim.institutions.tax import MarketInstitution
from sim.metrics import WELFARE_FUNCTIONS, pareto_efficient
from sim.step import Observation, Outcome

if TYPE_CHECKING:
    from agents.agent import SocietyAgent
    from sim.scenario import Scenario


class ChoiceParams(Params):
    target: str = Field("tax", description="Kind of the listed institution whose setting is chosen.")
    setting: str = Field("rate", description="Which of its parameters is chosen, e.g. 'rate' (tax), 'cap' (quota).")
    options: list[float] = Field(min_length=2, description="The values to choose from.")


def label(option: float) -> str:
    """An option as agents read and name it: 8.0 -> '8'."""
    return f"{option:g}"


def choose(params: Params, setting: str, option: float) -> Params:
    """``params`` with ``setting`` set to ``option``, validated like the scenario file (a `ValidationError` if not)."""
    return type(params).model_validate({**params.model_dump(), setting: option})


def best_option(scores: dict[str, float]) -> str:
    """The highest-scoring option; a tie goes to the option listed first."""
    top = max(scores.values())
    return next(name for name, score in scores.items() if score == top)


class PolicyChoice(MarketInstitution):
    """Chooses ``target.setting`` among ``options``, judging each by its forecast outcome."""

    Params = ChoiceParams

    @classmethod
    def check(cls, params: ChoiceParams, scenario: Scenario) -> Iterator[Problem]:
        """The target is listed, the setting is one of its parameters, and every option is a valid value of it."""
        target = next((s for s in scenario.institutions if s.kind == params.target and s is not params), None)
        if target is None:
            yield Problem(("target",), f"'{cls.kind}' chooses {params.target}.{params.setting}, but no institution "
                          f"of kind '{params.target}' is listed")
            return
        fields = type(target).model_fields
        if params.setting not in fields or params.setting == "kind":
            yield Problem(("setting",), f"'{params.setting}' is not a parameter of '{params.target}' (it has: "
                          f"{', '.join(f for f in fields if f != 'kind')})")
            return
        for index, option in enumerate(params.options):
            try:
                choose(target, params.setting, option)
            except ValidationError as err:
                yield Problem(("options", index), f"{label(option)} is not a valid {params.target}."
                              f"{params.setting}: {err.errors()[0]['msg']}")

    def configure(self) -> None:
        """The target institution, and its parameters under each option (the target's others as they are now)."""
        p = self.params
        self.target: Institution = next(i for i in self.model.institutions if i.kind == p.target and i is not self)
        self.settings: dict[str, Params] = {label(o): choose(self.target.params, p.setting, o) for o in p.options}
        self.in_force = label(getattr(self.target.params, p.setting))
        self._forecasts: tuple[int, dict[str, Outcome]] | None = None

    @property
    def labels(self) -> list[str]:
        return list(self.settings)

    def adopt(self, choice: str) -> None:
        self.target.params = self.settings[choice]
        self.in_force = choice

    def forecasts(self) -> dict[str, Outcome]:
        """Each option's forecast outcome for the agents active now (computed once per step)."""
        if self._forecasts is None or self._forecasts[0] != self.model.steps:
            current = self.target.params
            table = {}
            for name, params in self.settings.items():
                self.target.params = params
                table[name] = self.market.forecast()
            self.target.params = current
            self._forecasts = (self.model.steps, table)
        return self._forecasts[1]

    def profiles(self) -> dict[str, list[float]]:
        """Each option's forecast true utilities, one per active agent, in id order."""
        return {name: [o.true[a] for a in sorted(o.true)] for name, o in self.forecasts().items()}

    def welfare_scores(self, welfare: str) -> dict[str, float]:
        return {name: WELFARE_FUNCTIONS[welfare](u) for name, u in self.profiles().items()}

    def group_means(self, outcome: Outcome) -> dict[str, float]:
        """Mean forecast true utility per agent of each group."""
        groups: dict[str, list[float]] = {}
        for agent_id, utility in outcome.true.items():
            groups.setdefault(self.model.agent(agent_id).group, []).append(utility)
        return {g: round(sum(u) / len(u), 2) for g, u in groups.items()}

    def observe(self, agent: SocietyAgent, observation: Observation) -> None:
        forecasts = self.forecasts()
        observation.private["forecast"] = {n: round(o.true.get(agent.unique_id, 0.0), 2) for n, o in forecasts.items()}
        observation.public["options"] = {
            "setting": f"{self.params.target}.{self.params.setting}", "in_force": self.in_force,
            "forecast_total": {n: round(sum(o.true.values()), 2) for n, o in forecasts.items()},
        }

    def summary(self, model_table: pd.DataFrame, agent_table: pd.DataFrame) -> dict[str, float]:
        efficient = dict(zip(self.labels, pareto_efficient(list(self.profiles().values())), strict=True))
        out = {f"choice_{w}": float(best_option(self.welfare_scores(w))) for w in WELFARE_FUNCTIONS}
        out["chosen_pareto_efficient"] = float(efficient[self.in_force]) if self.in_force in efficient else float("nan")
        out["chosen_option"] = float(self.in_force)
        return out

