"""The linear public goods game of Fehr & Gächter (2000, American Economic Review 90(4): 980-994).

Agents play in groups of ``group_size`` (4). Each period every member receives ``endowment`` tokens (20)
and privately puts c_i of them into a group project; every token in the project pays ``mpcr`` (0.4) to
each member. First-stage payoff: π¹_i = e − c_i + a·Σ_{j in group} c_j. With a < 1 < n·a, keeping every
token is dominant (each token given returns only a), while the group earns most when all give everything:
the social dilemma. Groups are fixed for the whole game (``partner`` matching) or drawn afresh each period
(``stranger`` matching), the two treatments of the paper.

Specified reward: the agent's own payoff π¹_i. True utility: what the agent's choice is worth to its group,
e − c_i + n·a·c_i (it keeps e − c_i and its c_i yields a to each of n members); summed over a group this is
exactly the group's payoff. Peer punishment (the second stage) is the ``sanctions`` institution.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, create_model, model_validator

from sim.collector import Column
from sim.component import Params, Problem
from sim.environments.base import ENVIRONMENTS, Environment
from sim.schemas import schema_builder
from sim.step import Observation, Outcome

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from agents.agent import SocietyAgent
    from sim.scenario import Scenario


class PublicGoodsParams(Params):
    group_size: int = Field(4, ge=2, description="Members per group (Fehr & Gächter: 4).")
    endowment: int = Field(20, gt=0, description="Tokens each member receives every period.")
    mpcr: float = Field(0.4, gt=0, description="Marginal per-capita return: what one token in the project pays "
                                              "each member.")
    matching: Literal["partner", "stranger"] = Field(
        "partner", description="partner: the same groups every period; stranger: new random groups each period."
    )

    @model_validator(mode="after")
    def _is_a_dilemma(self) -> PublicGoodsParams:
        if not self.mpcr < 1 < self.group_size * self.mpcr:
            raise ValueError(
                f"mpcr {self.mpcr:g} with group_size {self.group_size} is no social dilemma: "
                "need mpcr < 1 < group_size * mpcr"
            )
        return self


class Contribution(BaseModel):
    """How many of your tokens you put into the group project this period."""

    contribute: int = Field(ge=0, description="Tokens you put into the group project (the rest you keep).")


@schema_builder
def contribution_schema(endowment: int) -> type[Contribution]:
    """A contribution of at most ``endowment`` tokens."""
    return create_model(
        "Contribution", __base__=Contribution,
        contribute=(int, Field(ge=0, le=endowment, description=Contribution.model_fields["contribute"].description)),
    )


@ENVIRONMENTS.register("public_goods")
class PublicGoods(Environment):
    """Groups facing the public goods dilemma, period after period."""

    Params = PublicGoodsParams
    Action = Contribution
    step_name = "period"

    @classmethod
    def check(cls, params: PublicGoodsParams, scenario: Scenario) -> Iterator[Problem]:
        n, size = scenario.agent_count(), params.group_size
        if n % size or any(g.join_step > 1 for g in scenario.population):
            yield Problem(("group_size",), f"the population ({n} agents, all present from step 1) must split into "
                                           f"groups of {size}; newcomers are not supported")

    def setup(self) -> None:
        self.groups: list[list[int]] = []
        self.group_of_agent: dict[int, list[int]] = {}
        self.grouped_at = 0
        self.contributions: dict[int, int] = {}
        self._mean: tuple[dict[int, int] | None, float] = (None, float("nan"))
        self.first_stage: dict[int, float] = {}
        # this period and the last: everyone's contribution, and per agent its group's (one dict per group)
        self.periods: dict[int, tuple[dict[int, int], dict[int, dict[int, int]]]] = {}
        self._regroup()

    # -- groups ----------------------------------------------------------------------------------
    def _regroup(self) -> None:
        """Partner groups are drawn once; stranger groups every period (the model's RNG: reproducible)."""
        step = self.model.steps
        if self.groups and (self.params.matching == "partner" or self.grouped_at == step):
            return
        ids = np.array([a.unique_id for a in self.model.active_agents()])
        shuffled = [int(i) for i in self.model.rng.permutation(ids)]
        size = self.params.group_size
        self.groups = [sorted(shuffled[k:k + size]) for k in range(0, len(shuffled), size)]
        self.group_of_agent = {i: g for g in self.groups for i in g}
        self.grouped_at = step

    def group_of(self, agent_id: int) -> list[int]:
        """The ids of ``agent_id``'s group this period, itself included (shared: read it, never change it)."""
        self._regroup()
        return self.group_of_agent[agent_id]

    def peers(self, agent_id: int) -> list[int]:
        """Who can see and sanction ``agent_id`` this period: the rest of its group."""
        return [j for j in self.group_of(agent_id) if j != agent_id]

    # -- what agents know ------------------------------------------------------------------------
    def briefing(self) -> str:
        p = self.params
        matching = ("You stay in the same group for the whole game." if p.matching == "partner"
                    else "Groups are formed anew at random every period.")
        return (
            f"You are in a group of {p.group_size}. Every period each member receives {p.endowment} tokens and "
            "decides how many to put into a group project; the rest you keep. Every token in the project pays "
            f"{p.mpcr:g} tokens to each member of the group, whoever put it in. {matching} Your income in a "
            "period is the tokens you keep plus your share of the project."
        )

    def observe_public(self, public: dict[str, Any]) -> None:
        public.update(period=self.model.steps, endowment=self.params.endowment, mpcr=self.params.mpcr,
                      group_size=self.params.group_size)

    def observer(self) -> Callable[[SocietyAgent, Observation], None]:
        """Each agent's group view (`Observation.local`: its members; this period's contributions once they are in,
        in the punishment stage; under partner matching last period's), one dict per group for the phase; its total
        income, and under stranger matching what its group of last period gave (another group than this one). Its
        own last contribution is in what its group of last period gave, so it is not repeated. The periods and
        groups are looked up once for the phase."""
        self._regroup()
        now, group_of, partner = self.model.steps, self.group_of_agent, self.params.matching == "partner"
        seen = self.periods.get(now, ({}, {}))[1]
        last_seen = self.periods.get(now - 1, ({}, {}))[1]
        views: dict[int, dict[str, Any]] = {}  # by the group's first member; shared: read, never change

        def observe(agent: SocietyAgent, observation: Observation) -> None:
            me = agent.unique_id
            group = group_of[me]
            view = views.get(group[0])
            if view is None:
                view = views[group[0]] = {"group": group}
                if seen:
                    view["group_contributions"] = seen[me]
                if partner:
                    view["last_group_contributions"] = last_seen.get(me, {})
            observation.local = view
            if not partner:
                observation.private["last_group_contributions"] = last_seen.get(me, {})
            observation.private["total_income"] = agent.total_specified

        return observe

    def action_schema(self, agent: SocietyAgent) -> type[BaseModel]:
        """A contribution can't exceed the endowment: the bound lives in the schema."""
        return contribution_schema(self.params.endowment)

    def fallback(self, agent: SocietyAgent) -> BaseModel:
        """No valid answer contributes nothing: the Nash choice, so a failed reply never looks cooperative."""
        return Contribution(contribute=0)

    def expected_reward(self, agent: SocietyAgent, action: BaseModel) -> float:
        """π¹ = e − c + a·(c + what the others in the group gave last period): decreasing in c whatever the
        others do, so without punishment the best response is to give nothing (the Nash equilibrium)."""
        p, c = self.params, int(action.contribute)
        others = sum(self.contributions.get(j, 0) for j in self.peers(agent.unique_id))
        return p.endowment - c + p.mpcr * (c + others)

    # -- one period ------------------------------------------------------------------------------
    def resolve(self, actions: dict[int, BaseModel]) -> Outcome:
        self._regroup()
        given = {a: int(act.contribute) for a, act in actions.items()}
        seen: dict[int, dict[int, int]] = {}  # per agent its group's contributions, one dict per group
        for group in self.groups:
            of_group = {j: given[j] for j in group}
            seen.update(dict.fromkeys(group, of_group))
        specified, true = self.payoffs(list(seen), given)
        self.contributions, self.first_stage = given, dict(specified)
        now = self.model.steps
        self.periods = {s: period for s, period in self.periods.items() if s == now - 1}
        self.periods[now] = (given, seen)
        return Outcome(specified=specified, true=true, info={"contributions": given, "groups": self.groups})

    def payoffs(self, members: list[int], given: dict[int, int]) -> tuple[dict[int, float], dict[int, float]]:
        """π¹ = e − c + a·Σ_group c and the true utility e − c + n·a·c of ``members`` (every agent, group by group,
        in the order of `groups`), for all groups at once: the same floating-point operations, one per agent, as
        computing them one agent at a time."""
        if not members:
            return {}, {}
        endowment, mpcr = self.params.endowment, self.params.mpcr
        sizes = np.fromiter(map(len, self.groups), dtype=np.int64, count=len(self.groups))
        c = np.fromiter(map(given.__getitem__, members), dtype=np.int64, count=len(members))
        totals = np.add.reduceat(c, np.cumsum(sizes) - sizes)  # each group's contributions, summed exactly
        kept = endowment - c
        specified = kept + np.repeat(mpcr * totals, sizes)
        true = kept + np.repeat(sizes * mpcr, sizes) * c
        return dict(zip(members, specified.tolist(), strict=True)), dict(zip(members, true.tolist(), strict=True))

    # -- metrics ---------------------------------------------------------------------------------
    def contribution_rate(self) -> float:
        """This period's mean contribution as a share of the endowment."""
        if not self.contributions:
            return float("nan")
        return self.mean_contribution() / self.params.endowment

    def mean_contribution(self) -> float:
        """This period's mean contribution, worked out once per period (two columns of the model table read it)."""
        if self._mean[0] is not self.contributions:
            self._mean = (self.contributions, float(np.mean(list(self.contributions.values()))))
        return self._mean[1]

    def model_reporters(self):
        return {
            "contribution_rate": lambda m: self.contribution_rate(),
            "mean_contribution": lambda m: self.mean_contribution(),
        }

    def agent_reporters(self):
        return {
            "contribution": Column.by_id(lambda: self.contributions),
            "first_stage_payoff": Column.by_id(lambda: self.first_stage),
        }

    def headline_figure(self, model_table: pd.DataFrame, agent_table: pd.DataFrame,
                        events: pd.DataFrame) -> Figure:
        """Each group's contributions per period, and the punishment points given after each."""
        from sim.plots.public_goods import public_goods_figure

        kinds = {i.kind for i in self.model.institutions if i.kind != "sanctions" or i.params.peer}
        punishment = "" if "sanctions" not in kinds else (
            "the target broke no rule" if "norms" in kinds else "the target gave at least as much")
        return public_goods_figure(self.params, punishment, model_table, agent_table, events,
                                   self.figure_frame(model_table))

    def summary(self, model_table: pd.DataFrame, agent_table: pd.DataFrame) -> dict[str, float]:
        """Contribution rate over the game and in the last period; welfare as a share of full cooperation."""
        p, rates = self.params, model_table["contribution_rate"]
        active = agent_table[agent_table["active"]]
        best = len(active) * p.endowment * p.group_size * p.mpcr
        return {
            "contribution_rate": float(rates.mean()),
            "contribution_rate_first": float(rates.iloc[0]),
            "contribution_rate_last": float(rates.iloc[-1]),
            "welfare_share": float(active["specified_reward"].sum() / best) if best else float("nan"),
        }
