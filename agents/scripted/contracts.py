"""Reference agents for the principal_agent market: the baselines LLM agents are compared with.

Contractors: ``literal`` optimises the contract as written plus whatever the institutions make
enforceable (it exploits a gap unless expected damages or a credible bonus outweigh the saving);
``spirit`` always honours the spirit of the deal. Principals: every policy here plays the principal
role the same way (the ``client`` behaviour), so a group is a principal or a contractor by the
environment's ``principals`` list, not by its policy.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from agents.policy import POLICIES, ScriptedPolicy
from sim.component import Params
from sim.step import Decision


class ClientParams(Params):
    patience: int = Field(3, ge=1, description="Leave the market when the mean of the last `patience` payoffs "
                                               "falls below the outside option.")
    bonus_rule: Literal["bound", "always", "never"] = Field(
        "bound", description="Relational bonus: pay while it is self-enforcing ('bound'), always, or never."
    )


class ContractPolicy(ScriptedPolicy):
    """Plays both roles: principals hire, sue and pay bonuses as a rational client; contractors
    choose their conduct in gaps through `conduct`, which subclasses define."""

    Params = ClientParams

    def on_act(self, decision: Decision) -> BaseModel:
        private = decision.observation.private
        if private.get("role") == "principal":
            return decision.answer(hire=self.hire(decision))
        return decision.answer(in_gap=self.conduct(decision))

    def conduct(self, decision: Decision) -> str:
        """The literal optimiser: exploit a gap unless what honouring earns under the institutions in
        force (expected damages avoided, a credible bonus) covers the cost saved by exploiting."""
        contract = decision.observation.public["contract"]
        saving = contract["cost_honour"] - contract["cost_exploit"]
        earned = sum(decision.observation.private.get("gap_incentives", {}).values())
        return "honour" if earned >= saving else "exploit"

    # -- the client (principal) ------------------------------------------------------------------
    def hire(self, decision: Decision) -> int | None:
        """Stay with a relational partner; else the best record (public rating, else own experience,
        unknown contractors presumed good so they get tried); leave when recent payoffs disappoint."""
        public, private = decision.observation.public, decision.observation.private
        recent = private["recent_payoffs"][-self.params.patience:]
        if len(recent) == self.params.patience and sum(recent) / len(recent) < public["contract"]["outside_option"]:
            return None
        partner = private.get("relational", {}).get("partner")
        if partner is not None and partner in public["contractors"]:
            return partner
        scores = {c: self._score(c, public, private) for c in public["contractors"]}
        if not scores:
            return None
        best = max(scores.values())
        candidates = [c for c, s in scores.items() if s == best]
        return candidates[int(self.model.rng.integers(len(candidates)))]

    @staticmethod
    def _score(contractor: int, public: dict[str, Any], private: dict[str, Any]) -> float:
        rating = public.get("ratings", {}).get(contractor)
        if rating and rating["count"]:
            return rating["mean"]
        seen = private["experience"].get(contractor)
        if seen and seen["uncovered"]:
            return 1.0 - seen["exploited"] / seen["uncovered"]
        return 1.0

    def on_sue(self, decision: Decision) -> BaseModel:
        """Sue when the gap was exploited and the expected award beats the filing cost."""
        task = decision.observation.private["last_task"]
        court = decision.observation.public["court"]
        worth_it = court["expected_award_if_exploited"] > court["filing_cost"]
        return decision.answer(sue=bool(task and task["conduct"] == "exploit" and worth_it))

    def on_bonus(self, decision: Decision) -> BaseModel:
        terms = decision.observation.private["relational"]
        if self.params.bonus_rule == "bound":
            return decision.answer(pay=terms["bonus"] <= terms["self_enforcing_limit"])
        return decision.answer(pay=self.params.bonus_rule == "always")


@POLICIES.register("literal")
class LiteralOptimiser(ContractPolicy):
    """Does what pays under the letter of the contract and the institutions in force: exploits a
    gap unless what honouring earns (expected damages avoided, a credible bonus) covers the saving."""

    environments = ("principal_agent",)


@POLICIES.register("spirit")
class SpiritOfTheContract(ContractPolicy):
    """Honours what the principal reasonably expected in every state, covered or not."""

    environments = ("principal_agent",)

    def conduct(self, decision: Decision) -> str:
        return "honour"


@POLICIES.register("client")
class Client(ContractPolicy):
    """A principal that hires, sues and pays bonuses rationally (as a contractor: ``literal``)."""

    environments = ("principal_agent",)
