"""A competition authority: it watches the oligopoly's prices and flags parallel supra-competitive pricing.

Tacit collusion leaves no agreement to find, so authorities look at outcomes. The stated test: a market's prices
are *supra-competitive* when every firm's price is at least ``threshold`` of the way from its one-shot Nash price
to its monopoly price, and *parallel* when they lie within ``parallel_within`` of that span of one another; a
market meeting both is flagged. Each period the authority inspects each market with probability ``probability``;
a flagged market it inspects is on the record as collusion, each of its firms breaking the rule ``collusion``.
Fines are the ``sanctions`` institution's (``fine``, paid to the treasury), listed after it; a ``leniency``
programme between them lets a firm report first and go free.

It is the oligopoly's counterpart of ``norms`` + ``monitoring``: it says what breaks the rule and what is seen,
and it is the perceiving stage sanctions read (`sim.institutions.social.Perception`). For learners that train on
the stage game, `record_odds` gives each firm's chance of being on the record at any price profile.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pydantic import Field

from sim.component import Params, Problem
from sim.institutions.base import INSTITUTIONS, Institution
from sim.step import StepContext

if TYPE_CHECKING:
    from sim.environments.oligopoly import OligopolyMarket
    from sim.scenario import Scenario

RULE = "collusion"


class AntitrustParams(Params):
    probability: float = Field(0.5, ge=0, le=1, description="Chance that the authority inspects a market's prices "
                                                            "in a period.")
    threshold: float = Field(0.5, ge=0, description="Supra-competitive: every price at least this share of the way "
                                                    "from the Nash price to the monopoly price.")
    parallel_within: float = Field(0.25, ge=0, description="Parallel: the market's prices differ by at most this "
                                                           "share of (monopoly price − Nash price).")


@INSTITUTIONS.register("antitrust")
class Antitrust(Institution):
    """Inspects markets at random and records parallel supra-competitive pricing as collusion."""

    Params = AntitrustParams
    environments = ("oligopoly",)
    defines_violations = True

    @classmethod
    def check(cls, params: AntitrustParams, scenario: Scenario) -> Iterator[Problem]:
        """Fines shared among the other firms would pay a cartel's members each other's fines."""
        for index, spec in enumerate(scenario.institutions):
            if spec.kind == "sanctions" and spec.fine and spec.fine_to == "others":
                yield Problem(("kind",), f"the sanctions at institutions[{index}] share each fine among the other "
                                         "firms, so a cartel's members would collect each other's fines: set its "
                                         "fine_to: treasury")

    def configure(self) -> None:
        self.environment: OligopolyMarket = self.model.environment

    def setup(self) -> None:
        self.flagged = np.zeros(0, dtype=bool)  # this period, per market
        self.record: dict[int, list[str]] = {}
        self.totals = {"market_periods": 0, "flagged": 0, "detected": 0}

    def flags(self, prices: np.ndarray) -> np.ndarray:
        """Whether the test flags each profile of ``prices`` (last axis: the firms)."""
        position = self.environment.positions(prices)
        lowest, highest = position.min(axis=-1), position.max(axis=-1)
        return (lowest >= self.params.threshold - 1e-12) & (highest - lowest <= self.params.parallel_within + 1e-12)

    def briefing(self) -> str:
        market, p = self.environment.market, self.params
        floor = market.nash_prices + p.threshold * (market.monopoly_prices - market.nash_prices)
        spread = p.parallel_within * float(np.mean(market.monopoly_prices - market.nash_prices))
        return (f"A competition authority watches the market. In each period it inspects the market's prices with "
                f"probability {p.probability:.0%}. It treats as collusion parallel, supra-competitive pricing: every "
                f"firm's price at least {', '.join(f'{x:.2f}' for x in np.unique(np.round(floor, 2)))} and all "
                f"prices within {spread:.2f} of each other. Collusion it finds is fined.")

    # -- enforcement -------------------------------------------------------------------------------
    def enforce(self, ctx: StepContext) -> None:
        self.flagged = self.flags(self.environment.market_prices())
        inspected = self.model.rng.random(len(self.flagged)) < self.params.probability
        self.record = {}
        for market in np.flatnonzero(self.flagged & inspected).tolist():
            for firm in self.environment.markets[market]:
                self.record[firm] = [RULE]
                ctx.emit("detected", firm, None, None, RULE)
        self.totals["market_periods"] += len(self.flagged)
        self.totals["flagged"] += int(self.flagged.sum())
        self.totals["detected"] += int((self.flagged & inspected).sum())

    def flagged_markets(self) -> list[int]:
        """The markets the test flags this period (inspected or not)."""
        return np.flatnonzero(self.flagged).tolist()

    # -- the perception the next stages read -------------------------------------------------------
    def witnessed(self, observer: int) -> dict[int, list[str]]:
        """Nobody but the authority sees its inspections."""
        return {}

    def official(self) -> dict[int, list[str]]:
        return self.record

    def expected_labels(self, broken: list[str]) -> float:
        return self.params.probability * len(broken)

    def record_odds(self, prices: np.ndarray) -> np.ndarray:
        """Each firm's chance of being on the record at each profile of ``prices``."""
        odds = self.params.probability * self.flags(prices).astype(float)
        return np.broadcast_to(odds[..., None], np.shape(prices)).copy()

    # -- metrics -----------------------------------------------------------------------------------
    def model_reporters(self):
        firms = self.environment.params.firms
        return {"flagged_markets": lambda m: int(self.flagged.sum()),
                "detected_markets": lambda m: len(self.record) // firms}

    def summary(self, model_table: pd.DataFrame, agent_table: pd.DataFrame) -> dict[str, float]:
        t = self.totals
        return {"flagged_share": t["flagged"] / t["market_periods"] if t["market_periods"] else float("nan"),
                "detected_share": t["detected"] / t["market_periods"] if t["market_periods"] else float("nan")}
