"""Public ratings of contractors that principals read before they hire (reputation as market discipline).

After each task the principal's satisfaction is recorded as a rating, 1 if it got what it reasonably
expected (a covered state, or an honoured gap) and 0 if the gap was exploited, and published with
probability ``visibility``. Sweeping ``visibility`` from 0 (no reputation) to 1 (every task rated)
measures how much a reputation market closes the contract's gaps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import Field

from sim.component import Params
from sim.environments.principal_agent import PrincipalAgent
from sim.institutions.base import INSTITUTIONS, Institution
from sim.step import Observation, StepContext

if TYPE_CHECKING:
    from agents.agent import SocietyAgent


class RatingsParams(Params):
    visibility: float = Field(1.0, ge=0, le=1, description="Probability that a finished task's rating is published.")
    window: int = Field(0, ge=0, description="How many recent ratings count per contractor (0: all of them).")


@INSTITUTIONS.register("ratings")
class Ratings(Institution):
    """A public record of how each contractor filled the contract's gaps."""

    Params = RatingsParams

    environments = ("principal_agent",)

    def setup(self) -> None:
        self.principal_agent: PrincipalAgent = self.model.environment
        self.ratings: dict[int, list[int]] = {}

    def record(self, contractor: int) -> dict[str, float | int | None]:
        """A contractor's public record: mean rating (None before any) and how many ratings count."""
        counted = self.ratings.get(contractor, [])
        if self.params.window:
            counted = counted[-self.params.window:]
        return {"mean": float(np.mean(counted)) if counted else None, "count": len(counted)}

    def briefing(self) -> str:
        return (
            "Ratings: after each task the principal rates the contractor 1 if it got what it reasonably expected "
            f"and 0 if the contractor exploited a gap; {self.params.visibility:.0%} of ratings are published. Every "
            "principal sees each contractor's published ratings before hiring."
        )

    def observe_public(self, public: dict[str, Any]) -> None:
        public["ratings"] = {a.unique_id: self.record(a.unique_id) for a in self.principal_agent.contractors()}

    def observe(self, agent: SocietyAgent, observation: Observation) -> None:
        if not self.principal_agent.is_principal(agent):
            observation.private["my_rating"] = self.record(agent.unique_id)

    def enforce(self, ctx: StepContext) -> None:
        for task in self.principal_agent.tasks:
            if self.model.rng.random() < self.params.visibility:
                rating = 0 if task.exploited else 1
                self.ratings.setdefault(task.contractor, []).append(rating)
                ctx.emit("rating", task.principal, task.contractor, float(rating))

    def model_reporters(self):
        return {"ratings_published": lambda m: sum(len(r) for r in self.ratings.values())}

    def summary(self, model_table: pd.DataFrame, agent_table: pd.DataFrame) -> dict[str, float]:
        all_ratings = [r for rs in self.ratings.values() for r in rs]
        return {"mean_rating": float(np.mean(all_ratings)) if all_ratings else float("nan")}
