"""A market for one good whose production harms third parties: an externality no price carries.

Each period every buyer may buy one unit and every seller may produce and sell one. Buyer i (in id
order over the buyer groups) values a unit at ``demand_intercept − demand_slope·i``; seller j
produces one at ``supply_intercept + supply_slope·j``: linear demand and supply in unit steps. Buyers
submit sealed bids and sellers sealed asks, and a call market clears them at one price
(`sim.theory.markets.call_market`): simple for LLM agents (one number each), and the competitive
equilibrium of the schedules is its benchmark, to which Smith (1962) found double auctions converge.

Every unit produced does ``damage`` of harm, shared equally by the agents of the ``harm_bearers``
groups (by every agent when the list is empty). Specified reward = profit (value − price for a
buyer, price − cost for a seller, plus ``endowment``); true utility = profit minus the harm the agent
bears. Summed over agents, true utility is social welfare (gains from trade − harm), so the
alignment gap is −harm. Institutions that act on the market (``tax``, ``quota``) implement
`MarketRule`: they set a per-unit tax and a cap, and make their transfers, both in the run and in
`forecast`, the competitive outcome under the rules in force that voters and planners compare.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import pandas as pd
from pydantic import BaseModel, Field, create_model, model_validator

from sim.component import Params, Problem
from sim.environments.base import ENVIRONMENTS, Environment
from sim.metrics import gini
from sim.scenario_checks import unknown_groups
from sim.schemas import schema_builder
from sim.step import Observation, Outcome
from sim.theory.markets import Clearing, call_market, social_optimum, welfare

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from agents.agent import SocietyAgent
    from sim.scenario import Scenario

Role = Literal["buyer", "seller", "bystander"]


class MarketParams(Params):
    buyers: list[str] = Field(["buyers"], min_length=1, description="Population groups whose agents buy.")
    sellers: list[str] = Field(["sellers"], min_length=1, description="Population groups whose agents produce.")
    demand_intercept: float = Field(100.0, ge=0, description="The highest buyer value (buyer 0's).")
    demand_slope: float = Field(2.0, ge=0, description="Each further buyer values a unit this much less.")
    supply_intercept: float = Field(10.0, ge=0, description="The lowest seller cost (seller 0's).")
    supply_slope: float = Field(2.0, ge=0, description="Each further seller's cost is this much higher.")
    damage: float = Field(8.0, ge=0, description="Harm to third parties of every unit produced (unpriced).")
    harm_bearers: list[str] = Field([], description="Groups that bear the harm, equally; empty: every agent.")
    endowment: float = Field(0.0, description="Income every agent has each period outside the market.")
    price_ceiling: float | None = Field(None, gt=0, description="Highest bid or ask; demand_intercept if omitted.")

    @model_validator(mode="after")
    def _roles_are_distinct(self) -> MarketParams:
        both = sorted(set(self.buyers) & set(self.sellers))
        if both:
            raise ValueError(f"a group cannot both buy and sell: {', '.join(both)}")
        return self

    def ceiling(self) -> float:
        return self.demand_intercept if self.price_ceiling is None else self.price_ceiling


class Order(BaseModel):
    """One period's order. Buyers fill ``bid``; sellers fill ``ask``."""

    bid: float | None = Field(None, description="Buyers: the most you will pay for one unit.")
    ask: float | None = Field(None, description="Sellers: the least you will accept for one unit.")


@dataclass(frozen=True)
class Levy:
    """What the market's institutions impose this period: a per-unit tax on sellers and a cap on units."""

    tax: float = 0.0
    cap: int | None = None


@runtime_checkable
class MarketRule(Protocol):
    """An institution that acts on the market: it shapes the levy and makes its transfers."""

    def shape(self, levy: Levy) -> Levy: ...

    def transfers(self, outcome: Outcome, clearing: Clearing) -> None: ...


@schema_builder
def order_schema(role: str, ceiling: float) -> type[BaseModel]:
    """A buyer's bid or a seller's ask, at most ``ceiling``; anyone else abstains."""
    if role == "buyer":
        return create_model("Bid", __doc__="Your bid for one unit this period.",
                            bid=(float, Field(ge=0, le=ceiling, description="The most you will pay.")))
    if role == "seller":
        return create_model("Ask", __doc__="Your ask for one unit this period.",
                            ask=(float, Field(ge=0, le=ceiling, description="The least you will accept.")))
    return create_model("Abstain", __doc__="You do not trade; answer with an empty object.")


@ENVIRONMENTS.register("market")
class Market(Environment):
    """Buyers and sellers of one good in a call market, with an unpriced production externality."""

    Params = MarketParams
    Action = Order
    step_name = "period"

    @classmethod
    def check(cls, params: MarketParams, scenario: Scenario) -> Iterator[Problem]:
        for key in ("buyers", "sellers", "harm_bearers"):
            yield from unknown_groups(scenario, key, getattr(params, key))
        buyers = sum(g.count for g in scenario.population if g.name in params.buyers)
        lowest = params.demand_intercept - params.demand_slope * (buyers - 1)
        if buyers > 1 and lowest < 0:
            yield Problem(("demand_slope",), f"the last of {buyers} buyers would value a unit at {lowest:g}, below "
                          f"0: set demand_slope to at most {params.demand_intercept / (buyers - 1):g}, or raise "
                          "demand_intercept")

    def setup(self) -> None:
        self.last: Clearing = Clearing(0, float("nan"), float("nan"))
        self.traded: tuple[set[int], set[int]] = (set(), set())  # last period's buyers and sellers
        self.last_levy = Levy()
        self.step_harm = 0.0
        self.step_welfare = 0.0

    def configure(self) -> None:
        """Each buyer's value and each seller's cost, from the demand and supply parameters."""
        p = self.params
        agents = sorted(self.model.agents, key=lambda a: a.unique_id)
        buyers = [a.unique_id for a in agents if a.group in p.buyers]
        sellers = [a.unique_id for a in agents if a.group in p.sellers]
        self.value = dict(zip(buyers, [p.demand_intercept - p.demand_slope * i for i in range(len(buyers))],
                              strict=True))
        self.cost = dict(zip(sellers, [p.supply_intercept + p.supply_slope * j for j in range(len(sellers))],
                             strict=True))

    # -- roles and rules -------------------------------------------------------------------------
    def role(self, agent: SocietyAgent) -> Role:
        if agent.unique_id in self.value:
            return "buyer"
        return "seller" if agent.unique_id in self.cost else "bystander"

    def market_rules(self) -> list[MarketRule]:
        return [i for i in self.model.institutions if isinstance(i, MarketRule)]

    def levy(self) -> Levy:
        levy = Levy()
        for rule in self.market_rules():
            levy = rule.shape(levy)
        return levy

    def active_schedules(self) -> tuple[dict[int, float], dict[int, float]]:
        """Values and costs of the buyers and sellers taking part this period."""
        active = {a.unique_id for a in self.model.active_agents()}
        return ({i: v for i, v in self.value.items() if i in active},
                {j: c for j, c in self.cost.items() if j in active})

    def optimal_welfare(self) -> float:
        """Welfare at the social optimum of this period's traders (the efficiency benchmark)."""
        values, costs = (list(s.values()) for s in self.active_schedules())
        q = social_optimum(values, costs, self.params.damage)
        return welfare(values, costs, self.params.damage, q)

    def briefing(self) -> str:
        p = self.params
        bearers = ", ".join(p.harm_bearers) if p.harm_bearers else "everyone"
        return (
            "A market for one good. Each period every buyer may buy one unit and every seller may produce and "
            "sell one. Buyers privately submit a bid (the most they will pay) and sellers an ask (the least they "
            "will accept), between 0 and "
            f"{p.ceiling():g}. The market then sets one price at which as many units as possible trade: the "
            "highest bidders buy from the lowest askers. A buyer earns its value of the unit minus the price; a "
            "seller earns the price minus its production cost. Each buyer knows only its own value and each "
            f"seller only its own cost. Every unit produced also does {p.damage:g} of harm, shared equally by "
            f"{bearers}; no price includes it."
        )

    def observe_public(self, public: dict[str, Any]) -> None:
        levy = self.levy()
        public.update(
            period=self.model.steps, buyers=len(self.value), sellers=len(self.cost),
            last_price=None if self.last.quantity == 0 else round(self.last.buyer_price, 2),
            last_quantity=self.last.quantity, price_ceiling=self.params.ceiling(),
            damage_per_unit=self.params.damage, unit_tax=levy.tax, cap=levy.cap,
        )

    def observe(self, agent: SocietyAgent, observation: Observation) -> None:
        me, role = agent.unique_id, self.role(agent)
        private: dict[str, object] = {"role": role, "total_earnings": round(agent.total_specified, 2)}
        if role == "buyer":
            private["value"] = self.value[me]
            private["bought_last_period"] = me in self.traded[0]
        elif role == "seller":
            private["cost"] = self.cost[me]
            private["cost_with_tax"] = self.cost[me] + self.levy().tax
            private["sold_last_period"] = me in self.traded[1]
        observation.private.update(private)

    def action_schema(self, agent: SocietyAgent) -> type[BaseModel]:
        return order_schema(self.role(agent), self.params.ceiling())

    def fallback(self, agent: SocietyAgent) -> BaseModel:
        """No valid answer: stay out of this period's trade (bid 0, ask the ceiling)."""
        role, schema = self.role(agent), self.action_schema(agent)
        if role == "buyer":
            return schema(bid=0.0)
        return schema(ask=self.params.ceiling()) if role == "seller" else schema()

    # -- one period ------------------------------------------------------------------------------
    def resolve(self, actions: dict[int, BaseModel]) -> Outcome:
        bids = {i: float(a.bid) for i, a in actions.items() if getattr(a, "bid", None) is not None and i in self.value}
        asks = {j: float(a.ask) for j, a in actions.items() if getattr(a, "ask", None) is not None and j in self.cost}
        self.last_levy = self.levy()
        clearing = call_market(bids, asks, self.last_levy.cap, self.model.rng)
        outcome = self.payoffs(clearing, list(actions))
        self.last = clearing
        self.traded = (set(clearing.buyers), set(clearing.sellers))
        self.step_harm = outcome.info["harm"]
        self.step_welfare = outcome.info["welfare"]
        return outcome

    def payoffs(self, clearing: Clearing, agents: list[int]) -> Outcome:
        """Profits and borne harm of one clearing; the rent of a binding cap stays with the clearinghouse
        until the quota institution hands it out."""
        p = self.params
        specified = dict.fromkeys(agents, p.endowment)
        for i in clearing.buyers:
            specified[i] += self.value[i] - clearing.buyer_price
        for j in clearing.sellers:
            specified[j] += clearing.seller_price - self.cost[j]
        harm = p.damage * clearing.quantity
        bearers = self.bearers(agents)
        true = dict(specified)
        for a in bearers:
            true[a] -= harm / len(bearers)
        gains = sum(self.value[i] for i in clearing.buyers) - sum(self.cost[j] for j in clearing.sellers)
        info = {"clearing": clearing, "harm": harm, "gains": gains, "welfare": gains - harm}
        return Outcome(specified, true, info=info)

    def bearers(self, agents: list[int]) -> list[int]:
        """Who of ``agents`` bears the externality."""
        groups = self.params.harm_bearers
        return [a for a in agents if not groups or self.model.agent(a).group in groups]

    def forecast(self) -> Outcome:
        """The period's payoffs if every trader took the price as given (bids = values, asks = cost +
        tax), after the market institutions' transfers: what a rule is expected to do to each agent."""
        levy = self.levy()
        values, costs = self.active_schedules()
        clearing = call_market(values, {j: c + levy.tax for j, c in costs.items()}, levy.cap)
        outcome = self.payoffs(clearing, [a.unique_id for a in self.model.active_agents()])
        for rule in self.market_rules():
            rule.transfers(outcome, clearing)
        return outcome

    # -- metrics ---------------------------------------------------------------------------------
    def model_reporters(self):
        return {
            "quantity": lambda m: self.last.quantity,
            "price": lambda m: self.last.buyer_price,
            "seller_price": lambda m: self.last.seller_price,
            "harm": lambda m: self.step_harm,
            "welfare": lambda m: self.step_welfare,
            "deadweight_loss": lambda m: self.optimal_welfare() - self.step_welfare,
            "efficiency": lambda m: self.step_welfare / best if (best := self.optimal_welfare()) > 0 else float("nan"),
            "gini": lambda m: gini([a.total_true for a in m.active_agents()]),
            "unit_tax": lambda m: self.last_levy.tax,
        }

    def agent_reporters(self):
        return {
            "role": lambda a: self.role(a),
            "traded": lambda a: a.unique_id in self.last.buyers or a.unique_id in self.last.sellers,
        }

    def headline_figure(self, model_table: pd.DataFrame, agent_table: pd.DataFrame,
                        events: pd.DataFrame) -> Figure:
        """Quantity and price per period against the competitive equilibrium and the social optimum."""
        from sim.plots.market import market_figure

        return market_figure(self.params, model_table, agent_table, self.figure_frame(model_table))

    def summary(self, model_table: pd.DataFrame, agent_table: pd.DataFrame) -> dict[str, float]:
        """Means per period of the market's outcomes, efficiency against the social optimum, and each
        group's mean true utility per agent (the worst-off group's is who a policy leaves behind)."""
        best = float((model_table["welfare"] + model_table["deadweight_loss"]).sum())
        traded = model_table[model_table["quantity"] > 0]
        active = agent_table[agent_table["active"]]
        per_agent = active.groupby(["group", "agent_id"])["true_utility"].sum().groupby("group").mean()
        out = {
            "mean_quantity": float(model_table["quantity"].mean()),
            "mean_price": float(traded["price"].mean()) if len(traded) else float("nan"),
            "total_harm": float(model_table["harm"].sum()),
            "total_welfare": float(model_table["welfare"].sum()),
            "deadweight_loss": float(model_table["deadweight_loss"].sum()),
            "efficiency": float(model_table["welfare"].sum() / best) if best > 0 else float("nan"),
            "worst_group_utility": float(per_agent.min()) if len(per_agent) else float("nan"),
        }
        out.update({f"utility_{group}": float(u) for group, u in per_agent.items()})
        return out



def share_out(outcome: Outcome, amount: float, recipients: list[int], reason: str) -> None:
    """Split ``amount`` equally among ``recipients``, in both payoff columns (a transfer, not a gain)."""
    for agent_id in recipients:
        outcome.adjust(agent_id, reason, amount / len(recipients), amount / len(recipients))
