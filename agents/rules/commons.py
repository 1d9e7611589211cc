"""Reference fishers for the commons: the strategies whose outcomes GovSim's metrics are built around."""

from __future__ import annotations

from pydantic import BaseModel, Field

from agents.policy import RulePolicy, register_policy
from sim.component import Params
from sim.step import Decision


@register_policy("greedy", environments=("commons",))
class Greedy(RulePolicy):
    """Asks for every fish in the lake."""

    def on_act(self, decision: Decision) -> BaseModel:
        return decision.schema(fish=decision.observation.public["stock"])


@register_policy("sustainable", environments=("commons",))
class Sustainable(RulePolicy):
    """Asks for its share of the sustainability threshold, so the lake always regrows to capacity."""

    def on_act(self, decision: Decision) -> BaseModel:
        return decision.schema(fish=decision.observation.public["sustainable_share"])


class ConditionalParams(Params):
    first: int | None = Field(None, ge=0, description="Month-1 request; the sustainable share when omitted.")


@register_policy("conditional", environments=("commons",))
class ConditionalCooperator(RulePolicy):
    """Takes what its neighbours took on average last month (rounded), capped by the stock.

    With no history yet it asks for ``first`` (by default its sustainable share): it cooperates
    with cooperators and follows defectors down.
    """

    Params = ConditionalParams

    def on_act(self, decision: Decision) -> BaseModel:
        public = decision.observation.public
        last = public["last_catches"]
        seen = [last[n] for n in decision.agent.neighbors if n in last]
        if not seen:
            ask = public["sustainable_share"] if self.params.first is None else self.params.first
        else:
            ask = round(sum(seen) / len(seen))
        return decision.schema(fish=min(ask, public["stock"]))
