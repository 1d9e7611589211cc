"""Relational contracts: repeated matching with a discretionary bonus (Baker, Gibbons & Murphy 2002).

A principal keeps hiring the same contractor and promises a bonus for every gap the contractor fills
in good faith. No court enforces the promise: the principal pays only if keeping the relationship
is worth more than the bonus saved. Paying b now and keeping it is worth −b + Σ_{k>=1} δ^k S_rel;
reneging is worth Σ_{k>=1} δ^k S_fallback, because a contractor that has been reneged on never
counts on a bonus again (grim trigger) and exploits gaps from then on. So the promise is
self-enforcing iff b <= δ/(1−δ)·(S_rel − S_fallback), with S the principal's per-period surplus:
S_rel = value − price − (1−κ)·b and S_fallback = value − price − (1−κ)·harm (κ = completeness).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
from pydantic import BaseModel, Field

from sim.component import Params
from sim.environments.principal_agent import PrincipalAgent
from sim.incentives import Penalty
from sim.institutions.base import INSTITUTIONS, Institution
from sim.step import Observation, StepContext
from sim.theory.contracts import relational_bound

if TYPE_CHECKING:
    from agents.agent import SocietyAgent


class RelationalParams(Params):
    bonus: float = Field(4.0, ge=0, description="Bonus a principal promises for each gap honoured in good faith.")
    delta: float = Field(0.9, ge=0, lt=1, description="Discount factor δ: how much next period counts.")


class BonusDecision(BaseModel):
    """Whether to pay the bonus you promised your contractor: this period's task met a state the contract
    does not cover and the contractor honoured the spirit of the deal. No court enforces the promise;
    a contractor you do not pay will never count on your bonus again."""

    pay: bool = Field(description="true to pay the promised bonus, false to keep the money.")


@INSTITUTIONS.register("relational")
class Relational(Institution):
    """A self-enforcing promise of a bonus for good-faith conduct in the contract's gaps."""

    Params = RelationalParams
    phase = "bonus"

    environments = ("principal_agent",)

    def setup(self) -> None:
        self.principal_agent: PrincipalAgent = self.model.environment
        self.partner: dict[int, int] = {}
        self.betrayed: set[int] = set()
        self.paid = 0
        self.reneged = 0

    # -- the theory ------------------------------------------------------------------------------
    def surpluses(self) -> tuple[float, float]:
        """The principal's expected per-period surplus with the relationship and without it."""
        p = self.principal_agent.params
        gap_share = 1 - p.covered_states() / p.states
        base = p.value - p.price
        return base - gap_share * self.params.bonus, base - gap_share * p.harm

    def limit(self) -> float:
        """The largest self-enforcing bonus given the promised one: δ/(1−δ)·(S_rel − S_fallback)."""
        return relational_bound(self.params.delta, *self.surpluses())

    # -- what agents know ------------------------------------------------------------------------
    def briefing(self) -> str:
        return (
            "Relational contracts: a principal keeps working with the same contractor and promises a bonus of "
            f"{self.params.bonus:g} for every task in an uncovered state that the contractor honours. No court "
            "enforces this promise: the principal decides each time whether to pay. A contractor that is not paid "
            "stops counting on bonuses, and the relationship ends. Future periods count with discount factor "
            f"{self.params.delta:g}."
        )

    def observe(self, agent: SocietyAgent, observation: Observation) -> None:
        me = agent.unique_id
        if self.principal_agent.is_principal(agent):
            observation.private["relational"] = {
                "partner": self.partner.get(me), "bonus": self.params.bonus, "delta": self.params.delta,
                "self_enforcing_limit": self.limit(),
            }
        else:
            trusts = me not in self.betrayed
            observation.private["relational"] = {"bonus": self.params.bonus, "counts_on_bonus": trusts}
            observation.private.setdefault("gap_incentives", {})["relational_bonus"] = (
                self.params.bonus if trusts else 0.0
            )

    def expected_penalty(self, agent: SocietyAgent, action: BaseModel) -> Penalty:
        """A contractor that still counts on the bonus expects it for every uncovered task it honours: a
        negative penalty."""
        if self.principal_agent.is_principal(agent) or agent.unique_id in self.betrayed or (
                getattr(action, "in_gap", None) != "honour"):
            return Penalty()
        work = self.principal_agent
        return Penalty(payoff=-work.expected_tasks() * work.uncovered_share() * self.params.bonus)

    # -- the bonus phase -------------------------------------------------------------------------
    def open_phase(self, agents: list[SocietyAgent]) -> list[SocietyAgent]:
        """Principals whose contractor honoured an uncovered state this period owe the bonus."""
        return [
            a for a in agents
            if (task := self.principal_agent.task_of(a.unique_id)) is not None and task.conduct == "honour"
        ]

    def phase_schema(self, agent: SocietyAgent) -> type[BaseModel]:
        return BonusDecision

    def phase_fallback(self, agent: SocietyAgent) -> BaseModel:
        """No valid answer keeps the promise: a relationship should not end on a malformed reply."""
        return BonusDecision(pay=True)

    def enforce(self, ctx: StepContext) -> None:
        for task in self.principal_agent.tasks:
            self.partner.setdefault(task.principal, task.contractor)
        bonus = self.params.bonus
        for principal, decision in ctx.phase_actions.get(self.phase, {}).items():
            contractor = self.principal_agent.task_of(principal).contractor
            if decision.pay:
                ctx.outcome.adjust(principal, "bonus", -bonus, -bonus)
                ctx.outcome.adjust(contractor, "bonus", bonus, bonus)
                ctx.emit("bonus_paid", principal, contractor, bonus)
                self.paid += 1
            else:
                self.betrayed.add(contractor)
                self.partner.pop(principal, None)
                ctx.emit("reneged", principal, contractor, bonus)
                self.reneged += 1

    # -- metrics ---------------------------------------------------------------------------------
    def model_reporters(self):
        return {"bonuses_paid_total": lambda m: self.paid, "renegings_total": lambda m: self.reneged}

    def summary(self, model_table: pd.DataFrame, agent_table: pd.DataFrame) -> dict[str, float]:
        return {
            "relational_limit": self.limit(),
            "bonus_within_limit": float(self.params.bonus <= self.limit()),
            "bonuses_paid": float(self.paid),
            "renegings": float(self.reneged),
        }
