"""Reference traders and voters for the market: the benchmarks LLM agents are compared with.

``truthful`` takes the price as given: it bids its value or asks its cost plus the tax, which is
(nearly) a best response in a call market with many traders, and makes the market clear at the
competitive equilibrium. ``zi`` is Gode & Sunder's (1993) zero-intelligence trader with a budget
constraint: a random bid below its value, a random ask above its cost plus tax, so it never trades
at a loss. Both vote sincerely: by the option's forecast for themselves (``vote_by: self``) or for
everyone together (``vote_by: society``), a civic voter.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from agents.policy import POLICIES, ScriptedPolicy
from sim.component import Params
from sim.step import Decision


class TraderParams(Params):
    vote_by: Literal["self", "society"] = Field(
        "self", description="Rank options by the forecast for oneself, or for all agents together."
    )


@POLICIES.register("truthful")
class Truthful(ScriptedPolicy):
    """A price taker: bids its value, asks its cost plus the unit tax; a bystander abstains."""

    environments = ("market",)

    Params = TraderParams

    def on_act(self, decision: Decision) -> BaseModel:
        private = decision.observation.private
        if private["role"] == "buyer":
            return decision.schema(bid=self.bid(decision, private["value"]))
        if private["role"] == "seller":
            return decision.schema(ask=self.ask(decision, private["cost_with_tax"]))
        return decision.fallback

    def bid(self, decision: Decision, value: float) -> float:
        return min(value, self.ceiling(decision))

    def ask(self, decision: Decision, cost: float) -> float:
        return min(cost, self.ceiling(decision))

    @staticmethod
    def ceiling(decision: Decision) -> float:
        return float(decision.observation.public["price_ceiling"])

    def ranking(self, decision: Decision) -> list[str]:
        """Options best first by this voter's yardstick; equal forecasts keep the listed order."""
        own = decision.observation.private["forecast"]
        score = own if self.params.vote_by == "self" else decision.observation.public["options"]["forecast_total"]
        return sorted(own, key=lambda option: -score[option])

    def on_vote(self, decision: Decision) -> BaseModel:
        ranking = self.ranking(decision)
        if "choice" in decision.schema.model_fields:
            return decision.schema(choice=ranking[0])
        return decision.schema(ranking=ranking)


@POLICIES.register("zi")
class ZeroIntelligence(Truthful):
    """Gode & Sunder's budget-constrained zero-intelligence trader: uniform bids in [0, value], asks in
    [cost + tax, ceiling]."""

    environments = ("market",)

    def bid(self, decision: Decision, value: float) -> float:
        return float(self.model.rng.uniform(0.0, super().bid(decision, value)))

    def ask(self, decision: Decision, cost: float) -> float:
        ceiling = self.ceiling(decision)
        return float(self.model.rng.uniform(min(cost, ceiling), ceiling))
