"""Monitoring: whether a broken rule is seen, and by whom.

Each step every act is observed with probability ``probability``, independently across agents. An observed act
is seen by its ``neighbours`` (the group in the public goods game, else the network neighbours), by
``everyone``, or only by an ``official``; whatever the observers, an observed violation is *detected*: it can
be fined and enters the public record. An unobserved act leaves no trace, so with probability 0 nobody can be
sanctioned for anything.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd
from pydantic import Field

from sim.component import Params
from sim.institutions.base import INSTITUTIONS, Institution
from sim.institutions.norms import Norms
from sim.institutions.social import earlier, peers
from sim.step import StepContext


class MonitoringParams(Params):
    probability: float = Field(1.0, ge=0, le=1, description="Probability that an agent's act is observed.")
    observers: Literal["neighbours", "everyone", "official"] = Field(
        "neighbours", description="Who sees an observed act: the actor's neighbours (its group), everyone, or "
                                  "only an official (then peers cannot punish, fines still apply).",
    )


@INSTITUTIONS.register("monitoring")
class Monitoring(Institution):
    """Draws which acts are observed this step, and who witnessed them."""

    Params = MonitoringParams
    needs = ("norms",)

    def configure(self) -> None:
        self.norms = earlier(self, Norms)

    def setup(self) -> None:
        self.seen: dict[int, list[int]] = {}
        self.seen_by: dict[int, list[int]] = {}  # observer -> the acts it saw, in the order of ``seen``
        self.observed_acts = 0
        self.acts = 0
        self.detected_total = 0
        self.violations_total = 0

    def briefing(self) -> str:
        who = {"neighbours": "the people around them", "everyone": "everyone", "official": "an official"}
        return (f"Each act is observed with probability {self.params.probability:.0%}; an observed act is seen by "
                f"{who[self.params.observers]}.")

    def witnesses(self, actor: int) -> list[int]:
        match self.params.observers:
            case "neighbours":
                return peers(self.model, actor)
            case "everyone":
                return [a.unique_id for a in self.model.active_agents() if a.unique_id != actor]
        return []

    def enforce(self, ctx: StepContext) -> None:
        self.seen, self.seen_by = {}, {}
        for actor in ctx.actions:
            if self.model.rng.random() < self.params.probability:
                self.seen[actor] = self.witnesses(actor)
        for actor, who in self.seen.items():
            for observer in who:
                self.seen_by.setdefault(observer, []).append(actor)
        for actor, broken in self.norms.violations.items():
            if broken and actor in self.seen:
                ctx.emit("detected", actor, None, None, ",".join(broken))
        self.acts += len(ctx.actions)
        self.observed_acts += len(self.seen)
        self.violations_total += sum(bool(v) for v in self.norms.violations.values())
        self.detected_total += sum(bool(v) for a, v in self.norms.violations.items() if a in self.seen)

    # -- the perception the next stages read (classification may replace it) --------------------------
    def expected_labels(self, broken: list[str]) -> float:
        """How many rules the official record is expected to list against an act that breaks ``broken``:
        each of them, if the act is observed."""
        return self.params.probability * len(broken)

    def witnessed(self, observer: int) -> dict[int, list[str]]:
        """The rules each act ``observer`` saw this step broke (the truth: no classification in force)."""
        return {actor: self.norms.violations[actor] for actor in self.seen_by.get(observer, ())}

    def official(self) -> dict[int, list[str]]:
        """The detected violations: every observed act that broke a rule."""
        return {actor: self.norms.violations[actor] for actor in self.seen if self.norms.violations[actor]}

    def model_reporters(self):
        return {"detected": lambda m: len(self.official())}

    def summary(self, model_table: pd.DataFrame, agent_table: pd.DataFrame) -> dict[str, float]:
        rate = self.detected_total / self.violations_total if self.violations_total else float("nan")
        return {"observed_share": self.observed_acts / self.acts if self.acts else float("nan"),
                "detection_rate": rate}
