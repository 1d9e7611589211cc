"""A cap on production, with tradeable permits (cap-and-trade; Coase 1960, Dales 1968, Montgomery 1972).

At most ``cap`` units trade each period: the call market takes the ``cap`` highest bids and lowest
asks. Under a binding cap buyers pay more than sellers receive; the difference is what a permit is
worth, the scarcity rent. Permits are either auctioned, the revenue split equally among every agent,
or grandfathered, given in equal shares to the sellers, who earn the rent. Either way the quantity is
the cap: a cap at the social optimum gives the same allocation as the Pigouvian tax.
"""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd
from pydantic import Field

from sim.component import Params
from sim.environments.market import Levy, share_out
from sim.institutions.base import INSTITUTIONS
from sim.institutions.tax import MarketInstitution
from sim.step import Outcome, StepContext
from sim.theory.markets import Clearing


class QuotaParams(Params):
    cap: int = Field(ge=0, description="The most units that may be produced and sold per period.")
    permits: Literal["auction", "grandfathered"] = Field(
        "auction", description="Auctioned (revenue to every agent) or given to the sellers in equal shares."
    )


@INSTITUTIONS.register("quota")
class Quota(MarketInstitution):
    """A production cap whose scarcity rent goes to permit holders."""

    Params = QuotaParams

    def setup(self) -> None:
        super().setup()
        self.rent = 0.0
        self.step_rent = 0.0
        self.step_cap = self.params.cap

    def shape(self, levy: Levy) -> Levy:
        cap = self.params.cap if levy.cap is None else min(levy.cap, self.params.cap)
        return Levy(levy.tax, cap)

    def transfers(self, outcome: Outcome, clearing: Clearing) -> None:
        agents = list(outcome.specified)
        holders = agents if self.params.permits == "auction" else [a for a in agents if a in self.market.cost]
        if clearing.rent and holders:
            share_out(outcome, clearing.rent, holders, "permit_rent")

    def briefing(self) -> str:
        who = "shared equally among every agent" if self.params.permits == "auction" else \
            "paid to the sellers in equal shares, who hold the permits"
        return (f"Quota: at most {self.params.cap} units may be produced and sold per period. When more would "
                "trade, the highest bidders buy from the lowest askers, buyers pay more than sellers receive, and "
                f"the difference (the value of the production permits) is {who}.")

    def observe_public(self, public: dict[str, Any]) -> None:
        public["quota"] = {"cap": self.params.cap, "permits": self.params.permits}

    def enforce(self, ctx: StepContext) -> None:
        clearing = ctx.outcome.info["clearing"]
        self.transfers(ctx.outcome, clearing)
        self.step_rent = clearing.rent
        self.step_cap = self.params.cap
        self.rent += clearing.rent
        if clearing.rent:
            ctx.emit("permit_rent", value=clearing.rent, detail=self.params.permits)

    def model_reporters(self):
        return {"permit_rent": lambda m: self.step_rent, "quota_cap": lambda m: self.step_cap}

    def summary(self, model_table: pd.DataFrame, agent_table: pd.DataFrame) -> dict[str, float]:
        return {"permit_rent": self.rent, "final_quota_cap": float(self.params.cap)}
