"""Reference members for the silly-rules group: the Bayesian member of the model, and a loyal baseline."""

from __future__ import annotations

from pydantic import BaseModel

from agents.policy import POLICIES, ScriptedPolicy
from sim.step import Decision


@POLICIES.register("bayesian_member")
class BayesianMember(ScriptedPolicy):
    """Stays while its belief that enforcement has collapsed is at most the threshold π* where leaving pays."""

    environments = ("silly_rules",)
    reads_institutions = False

    def on_act(self, decision: Decision) -> BaseModel:
        private = decision.observation.private
        stay = private["member"] and private["belief_enforcement_collapsed"] <= private["leave_if_belief_above"]
        return decision.answer(stay=stay)


@POLICIES.register("loyal_member")
class LoyalMember(ScriptedPolicy):
    """Never leaves, whatever it sees: the baseline against which learning is measured."""

    environments = ("silly_rules",)
    reads_institutions = False

    def on_act(self, decision: Decision) -> BaseModel:
        return decision.answer(stay=True)
