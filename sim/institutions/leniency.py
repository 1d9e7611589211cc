"""A leniency programme: the first firm to report its cartel is spared the fine, and the others are fined for sure.

Leniency turns a cartel's members against each other (Motta & Polo 2003, "Leniency programs and cartel
prosecution", International Journal of Industrial Organization 21(3); the EU and US programmes grant the first
applicant full immunity). Here, after each period, the firms of every market that the ``antitrust`` test flags
decide whether to report (their own phase, ``report``). In a market where some firm reports, the first to report
(among simultaneous reports, one drawn at random) is spared and every other firm of the market goes on the record,
whether or not the authority inspected; elsewhere the authority's record stands. Reporting is weakly dominant once
a market is flagged (the reporter is either spared or fined as it would have been), so `record_odds`, what a
learner that trains on the stage game expects, assumes every firm of a flagged market reports: each is on the
record with probability (n − 1)/n.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, create_model

from sim.component import Params
from sim.institutions.antitrust import RULE, Antitrust
from sim.institutions.base import INSTITUTIONS, Institution
from sim.institutions.social import earlier
from sim.schemas import schema_builder
from sim.step import Observation, StepContext

if TYPE_CHECKING:
    from agents.agent import SocietyAgent


class LeniencyParams(Params):
    """The programme has no settings: the first reporter of a market goes free, the others are fined."""


@schema_builder
def report_schema() -> type[BaseModel]:
    return create_model("Report", __doc__="Whether you report the collusion to the authority.",
                        report=(bool, Field(description="true: report your market's collusion to the authority.")))


@INSTITUTIONS.register("leniency")
class Leniency(Institution):
    """Asks the firms of flagged markets whether they report; spares the first reporter, convicts the rest."""

    Params = LeniencyParams
    phase = "report"
    environments = ("oligopoly",)
    needs = ("antitrust",)

    def configure(self) -> None:
        self.authority = earlier(self, Antitrust)

    def setup(self) -> None:
        self.asked: set[int] = set()
        self.record: dict[int, list[str]] = {}
        self.step_reports = 0
        self.totals = {"reports": 0, "reported_markets": 0, "spared": 0}

    def briefing(self) -> str:
        return ("Leniency programme: after a period whose prices the authority's test treats as collusion, each firm "
                "of the market may report it. The first firm to report pays no fine; once a firm has reported, the "
                "authority fines the market's other firms for certain, whether or not it inspected.")

    def open_phase(self, agents: list[SocietyAgent]) -> list[SocietyAgent]:
        """The firms of the markets flagged this period."""
        markets = self.authority.environment.markets
        self.asked = {firm for market in self.authority.flagged_markets() for firm in markets[market]}
        return [a for a in self.model.answering(self.phase, agents) if a.unique_id in self.asked]

    def observer(self) -> Callable[[SocietyAgent, Observation], None] | None:
        asked = self.asked

        def observe(agent: SocietyAgent, observation: Observation) -> None:
            if agent.unique_id in asked:
                observation.private["prices_flagged_as_collusion"] = True

        return observe if asked else None

    def phase_schema(self, agent: SocietyAgent) -> type[BaseModel]:
        return report_schema()

    def phase_fallback(self, agent: SocietyAgent) -> BaseModel:
        return report_schema()(report=False)

    def enforce(self, ctx: StepContext) -> None:
        reports = ctx.phase_actions.get(self.phase, {})
        self.asked = set()
        self.step_reports = sum(bool(getattr(answer, "report", False)) for answer in reports.values())
        self.record = dict(self.authority.official())
        markets = self.authority.environment.markets
        for market in self.authority.flagged_markets():
            reporters = [firm for firm in markets[market] if getattr(reports.get(firm), "report", False)]
            if not reporters:
                continue
            spared = reporters[int(self.model.rng.integers(len(reporters)))]
            for firm in markets[market]:
                if firm == spared:
                    self.record.pop(firm, None)
                    ctx.emit("leniency", firm, None, None, RULE)
                else:
                    self.record[firm] = [RULE]
            self.totals["reports"] += len(reporters)
            self.totals["reported_markets"] += 1
            self.totals["spared"] += 1

    # -- the perception the next stages read -------------------------------------------------------
    def witnessed(self, observer: int) -> dict[int, list[str]]:
        return {}

    def official(self) -> dict[int, list[str]]:
        return self.record

    def expected_labels(self, broken: list[str]) -> float:
        return self.authority.expected_labels(broken)

    def record_odds(self, prices: np.ndarray) -> np.ndarray:
        """Each firm's chance of being on the record if every firm of a flagged market reports: (n − 1)/n, the
        others' report convicting it unless it is drawn first."""
        firms = np.shape(prices)[-1]
        odds = self.authority.flags(prices).astype(float) * (firms - 1) / firms
        return np.broadcast_to(odds[..., None], np.shape(prices)).copy()

    def model_reporters(self) -> dict[str, Callable[[Any], Any]]:
        return {"leniency_reports": lambda m: self.step_reports}

    def summary(self, model_table: pd.DataFrame, agent_table: pd.DataFrame) -> dict[str, float]:
        return {"leniency_reports": float(self.totals["reports"]),
                "leniency_reported_markets": float(self.totals["reported_markets"])}
