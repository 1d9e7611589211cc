"""Reputation: a public record of each agent's detected violations and the sanctions it received and gave.

The record is built from the step's events (``detected``, ``sanction``, ``fine``), so it holds only what the
institutions before it made known: an unobserved violation never enters it. Every agent sees everyone's record
in its observation; ``window`` limits it to the most recent steps (0: the whole history).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
from pydantic import BaseModel, Field

from sim.component import Params
from sim.incentives import Penalty
from sim.institutions.base import Institution, register_institution
from sim.institutions.monitoring import Monitoring
from sim.institutions.norms import Norms
from sim.step import Event, Observation, StepContext

if TYPE_CHECKING:
    from agents.agent import SocietyAgent

RECORDED = {"detected": "violations", "sanction": "sanctions_received", "fine": "fines"}


class ReputationParams(Params):
    window: int = Field(0, ge=0, description="How many recent steps the record covers (0: all).")


@register_institution("reputation")
class Reputation(Institution):
    """Keeps and publishes everyone's record."""

    Params = ReputationParams

    def setup(self) -> None:
        self.history: list[Event] = []

    def rules(self) -> str:
        span = f"the last {self.params.window} periods" if self.params.window else "all periods so far"
        return (f"A public record shows, for {span}, each person's detected rule violations, the punishment points "
                "they received and gave, and their fines.")

    def record(self, agent_id: int) -> dict[str, float]:
        """One agent's public record over the window."""
        first = self.model.steps - self.params.window + 1 if self.params.window else 0
        counts = {"violations": 0.0, "sanctions_received": 0.0, "sanctions_given": 0.0, "fines": 0.0}
        for event in self.history:
            if event.step < first:
                continue
            if event.agent_id == agent_id:
                key = "sanctions_given" if event.kind == "sanction" else RECORDED[event.kind]
                counts[key] += 1.0 if event.kind == "detected" else float(event.value or 0.0)
            elif event.kind == "sanction" and event.target_id == agent_id:
                counts["sanctions_received"] += float(event.value or 0.0)
        return counts

    def observe(self, agent: SocietyAgent, observation: Observation) -> None:
        observation.public["reputation"] = {a.unique_id: self.record(a.unique_id) for a in self.model.active_agents()}

    def expected_penalty(self, agent: SocietyAgent, action: BaseModel) -> Penalty:
        """One entry on the record if ``action`` breaks a rule and monitoring observes it (its ``detected``
        event); without norms and monitoring no violation is ever recorded."""
        norms = next((i for i in self.model.institutions if isinstance(i, Norms)), None)
        monitoring = next((i for i in self.model.institutions if isinstance(i, Monitoring)), None)
        if norms is None or monitoring is None or not norms.broken(action):
            return Penalty()
        return Penalty(record=monitoring.params.probability)

    def enforce(self, ctx: StepContext) -> None:
        self.history.extend(e for e in ctx.events if e.kind in RECORDED)

    def agent_reporters(self):
        return {"record_violations": lambda a: self.record(a.unique_id)["violations"] if a.active else None}

    def summary(self, model_table: pd.DataFrame, agent_table: pd.DataFrame) -> dict[str, float]:
        return {"recorded_events": float(len(self.history))}
