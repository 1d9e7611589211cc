"""Reference agents for the proxy task: the proxy's optimiser and the principal's own optimum."""

from __future__ import annotations

from pydantic import BaseModel

from agents.policy import POLICIES, ScriptedPolicy
from sim.step import Decision


@POLICIES.register("proxy_optimiser")
class ProxyOptimiser(ScriptedPolicy):
    """Puts everything it can on the rewarded attributes: the steepest ascent of the proxy reward,
    as fast as the environment's optimisation pressure (max_change) allows."""

    environments = ("proxy_task",)
    reads_institutions = False

    def on_act(self, decision: Decision) -> BaseModel:
        public = decision.observation.public
        rewarded = set(public["rewarded_attributes"])
        return decision.schema(allocation=[1.0 if i in rewarded else 0.0 for i in range(public["attributes"])])


@POLICIES.register("balanced")
class Balanced(ScriptedPolicy):
    """Keeps the even split, which maximises the principal's U = Σ log s_i whatever the proxy says."""

    environments = ("proxy_task",)
    reads_institutions = False

    def on_act(self, decision: Decision) -> BaseModel:
        return decision.schema(allocation=[1.0] * decision.observation.public["attributes"])
