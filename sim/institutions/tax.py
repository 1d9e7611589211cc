"""A per-unit tax on production, its revenue handed back (Pigou 1920, "The Economics of Welfare").

Sellers pay ``rate`` for every unit they sell. The revenue is split equally among every agent, or
among the harm bearers only (compensation), or leaves the economy (``rebate: none``). A lump-sum
rebate does not change anyone's price at the margin, so the tax alone moves trade: at rate = the
marginal damage sellers' costs carry the harm, and the market trades the social optimum.
"""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd
from pydantic import Field

from sim.component import Params
from sim.environments.market import Levy, Market, share_out
from sim.institutions.base import INSTITUTIONS, Institution
from sim.step import Outcome, StepContext
from sim.theory.markets import Clearing


class TaxParams(Params):
    rate: float = Field(0.0, ge=0, description="Tax per unit sold, paid by the seller.")
    rebate: Literal["everyone", "bearers", "none"] = Field(
        "everyone", description="Who gets the revenue, in equal shares: every agent, the harm bearers, or no one."
    )


class MarketInstitution(Institution):
    """An institution that acts on the market environment."""

    environments = ("market",)

    @property
    def market(self) -> Market:
        """Looked up, not stored at setup, so that a planner listed first can already forecast with this rule."""
        return self.model.environment


@INSTITUTIONS.register("tax")
class Tax(MarketInstitution):
    """A per-unit production tax with its revenue redistributed lump-sum."""

    Params = TaxParams

    def setup(self) -> None:
        super().setup()
        self.revenue = 0.0
        self.step_revenue = 0.0
        self.step_rate = self.params.rate

    def shape(self, levy: Levy) -> Levy:
        return Levy(levy.tax + self.params.rate, levy.cap)

    def recipients(self, outcome: Outcome) -> list[int]:
        agents = list(outcome.specified)
        return {"everyone": agents, "bearers": self.market.bearers(agents), "none": []}[self.params.rebate]

    def transfers(self, outcome: Outcome, clearing: Clearing) -> None:
        rate = self.params.rate
        for seller in clearing.sellers:
            outcome.adjust(seller, "tax", -rate, -rate)
        revenue, recipients = rate * clearing.quantity, self.recipients(outcome)
        if revenue and recipients:
            share_out(outcome, revenue, recipients, "tax_rebate")

    def briefing(self) -> str:
        who = {"everyone": "every agent", "bearers": "the agents who bear the harm",
               "none": "no one (it leaves the economy)"}[self.params.rebate]
        return (f"Tax: a seller pays a tax of {self.params.rate:g} for every unit it sells. The tax revenue is "
                f"shared equally among {who}.")

    def observe_public(self, public: dict[str, Any]) -> None:
        public["tax"] = {"rate": self.params.rate, "rebate": self.params.rebate}

    def enforce(self, ctx: StepContext) -> None:
        clearing = ctx.outcome.info["clearing"]
        self.transfers(ctx.outcome, clearing)
        self.step_rate = self.params.rate
        self.step_revenue = self.params.rate * clearing.quantity
        self.revenue += self.step_revenue
        if self.step_revenue:
            ctx.emit("tax_collected", value=self.step_revenue, detail=f"rate {self.params.rate:g}")

    def model_reporters(self):
        return {"tax_revenue": lambda m: self.step_revenue, "tax_rate": lambda m: self.step_rate}

    def summary(self, model_table: pd.DataFrame, agent_table: pd.DataFrame) -> dict[str, float]:
        return {"tax_revenue": self.revenue, "final_tax_rate": self.params.rate}
