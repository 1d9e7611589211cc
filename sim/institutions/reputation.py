"""Reputation: a public record of each agent's detected violations and the sanctions it received and gave.

The record is built from the step's events (``detected``, ``sanction``, ``fine``), so it holds only what the
institutions before it made known: an unobserved violation never enters it. Every agent sees everyone's record
in its observation; ``window`` limits it to the most recent steps (0: the whole history).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import BaseModel, Field

from sim.component import Params
from sim.incentives import Penalty
from sim.institutions.base import INSTITUTIONS, Institution
from sim.institutions.monitoring import Monitoring
from sim.institutions.norms import Norms
from sim.step import Event, StepContext

if TYPE_CHECKING:
    from agents.agent import SocietyAgent

RECORDED = {"detected": "violations", "sanction": "sanctions_received", "fine": "fines"}


def empty_record() -> dict[str, float]:
    return {"violations": 0.0, "sanctions_received": 0.0, "sanctions_given": 0.0, "fines": 0.0}


class ReputationParams(Params):
    window: int = Field(0, ge=0, description="How many recent steps the record covers (0: all).")


@INSTITUTIONS.register("reputation")
class Reputation(Institution):
    """Keeps and publishes everyone's record."""

    Params = ReputationParams

    def setup(self) -> None:
        self.history: list[Event] = []
        self.entries: dict[int, list[tuple[int, str, float]]] = {}  # agent -> (step, record key, amount), in order
        self.totals: dict[int, dict[str, float]] = {}  # agent -> its whole record (window 0)

    def briefing(self) -> str:
        span = f"the last {self.params.window} periods" if self.params.window else "all periods so far"
        return (f"A public record shows, for {span}, each person's detected rule violations, the punishment points "
                "they received and gave, and their fines.")

    def record(self, agent_id: int) -> dict[str, float]:
        """One agent's public record over the window (its own entries only: linear in the population)."""
        if not self.params.window:
            return dict(self.totals.get(agent_id) or empty_record())
        first = self.model.steps - self.params.window + 1
        entries = self.entries.get(agent_id, [])
        while entries and entries[0][0] < first:  # out of the window for good: steps only grow
            entries.pop(0)
        counts = empty_record()
        for _, key, amount in entries:
            counts[key] += amount
        return counts

    def observe_public(self, public: dict[str, Any]) -> None:
        public["reputation"] = {a.unique_id: self.record(a.unique_id) for a in self.model.active_agents()}

    def expected_penalty(self, agent: SocietyAgent, action: BaseModel) -> Penalty:
        """One entry on the record if ``action`` breaks a rule and monitoring observes it (its ``detected``
        event); without norms and monitoring no violation is ever recorded."""
        norms = next((i for i in self.model.institutions if isinstance(i, Norms)), None)
        monitoring = next((i for i in self.model.institutions if isinstance(i, Monitoring)), None)
        if norms is None or monitoring is None or not norms.broken(action):
            return Penalty()
        return Penalty(record=monitoring.params.probability)

    def enforce(self, ctx: StepContext) -> None:
        for event in ctx.events:
            if event.kind not in RECORDED:
                continue
            self.history.append(event)
            amount = 1.0 if event.kind == "detected" else float(event.value or 0.0)
            self._enter(event.agent_id, event.step, "sanctions_given" if event.kind == "sanction"
                        else RECORDED[event.kind], amount)
            if event.kind == "sanction" and event.target_id != event.agent_id:
                self._enter(event.target_id, event.step, "sanctions_received", float(event.value or 0.0))

    def _enter(self, agent_id: int | None, step: int, key: str, amount: float) -> None:
        if agent_id is None:
            return
        self.entries.setdefault(agent_id, []).append((step, key, amount))  # both kept: an amendment may set a window
        self.totals.setdefault(agent_id, empty_record())[key] += amount

    def agent_reporters(self):
        return {"record_violations": lambda a: self.record(a.unique_id)["violations"] if a.active else None}

    def summary(self, model_table: pd.DataFrame, agent_table: pd.DataFrame) -> dict[str, float]:
        return {"recorded_events": float(len(self.history))}
