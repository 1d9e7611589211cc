"""Reference fishers for the commons: the strategies whose outcomes GovSim's metrics are built around."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from agents.policy import POLICIES, ScriptedPolicy
from sim.component import Params
from sim.step import Decision


@POLICIES.register("greedy")
class Greedy(ScriptedPolicy):
    """Asks for every fish in the lake."""

    environments = ("commons",)
    reads_institutions = False

    def on_act(self, decision: Decision) -> BaseModel:
        return decision.answer(fish=decision.observation.public["stock"])


@POLICIES.register("sustainable")
class Sustainable(ScriptedPolicy):
    """Asks for its share of the sustainability threshold, so the lake always regrows to capacity."""

    environments = ("commons",)
    reads_institutions = False

    def on_act(self, decision: Decision) -> BaseModel:
        return decision.answer(fish=decision.observation.public["sustainable_share"])


class ConditionalParams(Params):
    first: int | None = Field(None, ge=0, description="Month-1 request; the sustainable share when omitted.")


@POLICIES.register("conditional")
class ConditionalCooperator(ScriptedPolicy):
    """Takes what its neighbours took on average last month (rounded), capped by the stock.

    With no history yet it asks for ``first`` (by default its sustainable share): it cooperates
    with cooperators and follows defectors down.
    """

    environments = ("commons",)

    Params = ConditionalParams
    reads_institutions = False

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.neighbours_caught: dict[int, tuple[float, int]] = {}
        self._summed: dict[int, int] | None = None  # the month's catches that neighbours_caught was summed from

    def decide(self, decisions: list[Decision]) -> list[BaseModel]:
        """What each fisher's neighbours caught, summed in one pass over the network once a month (a complete
        network of N fishers would otherwise cost N² here), not once per slice of the phase's decisions: the
        month's catches are one dict, which resolve replaces."""
        acting = next((d for d in decisions if d.phase == "act"), None)
        if acting is not None and acting.observation.public["last_catches"] is not self._summed:
            self._summed = acting.observation.public["last_catches"]
            self.neighbours_caught = self.model.network.neighbour_totals(self._summed)
        return super().decide(decisions)

    def on_act(self, decision: Decision) -> BaseModel:
        public = decision.observation.public
        caught, fishers = self.neighbours_caught[decision.agent.unique_id]
        if not fishers:
            ask = public["sustainable_share"] if self.params.first is None else self.params.first
        else:
            ask = round(caught / fishers)
        return decision.answer(fish=min(ask, public["stock"]))
