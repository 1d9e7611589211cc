"""Silly rules: learning whether a group's rules are enforced (Hadfield-Menell, Andrus & Hadfield 2019).

A group lives under ``important_rules`` rules whose violation harms a fellow member and ``silly_rules`` rules
whose violation harms nobody; keeping each silly rule costs ``silly_cost`` a period. Every period each member
breaks each rule with probability ``violation_rate`` (slips, tests of the rules); the group's enforcers punish
each violation with probability θ: ``enforcement_high`` while enforcement is sound, ``enforcement_low`` once
it has collapsed. Each member sees each violation by another member, and whether it was punished, with
probability ``observe``, and updates its belief that enforcement has collapsed (sim/theory/silly_rules.py,
equations (3)-(4)). Each period each member decides whether to stay; leaving is for good and pays
``outside_option``.

Shocks: from ``collapse_step`` enforcement collapses for ``collapse_length`` periods (0: for good); at
``belief_shock_step`` every member's belief in collapse jumps to ``belief_shock`` before that period's
evidence (a rumour). Enforcement also collapses for good when fewer than ``quorum`` of the founding members
remain: a group needs enforcers.

Specified reward: the member's payoff, value − harm per unpunished important violation it suffers − the
silly rules' cost (the outside option once it left). True utility: the same, but charging each member the harm
its own unpunished important violations do to others instead of the harm it suffers; the totals agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, model_validator

from sim.component import Params
from sim.environments.base import ENVIRONMENTS, Environment
from sim.step import Observation, Outcome
from sim.theory.silly_rules import SillyRulesModel

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from agents.agent import SocietyAgent


class SillyRulesParams(Params):
    important_rules: int = Field(1, ge=1, description="Rules whose unpunished violation harms a member.")
    silly_rules: int = Field(0, ge=0, description="Rules with no direct effect on welfare (the density knob).")
    violation_rate: float = Field(0.1, gt=0, le=1, description="Probability a member breaks a rule in a period.")
    observe: float = Field(1.0, gt=0, le=1, description="Probability a member sees another's violation and its "
                                                       "punishment.")
    enforcement_high: float = Field(0.9, gt=0, lt=1, description="Punishment probability while enforcement holds.")
    enforcement_low: float = Field(0.6, gt=0, lt=1, description="Punishment probability once it has collapsed.")
    value: float = Field(1.0, description="What membership is worth per period before harms and costs.")
    harm: float = Field(30.0, ge=0, description="What an unpunished important violation costs its victim.")
    silly_cost: float = Field(0.01, ge=0, description="What keeping one silly rule costs a member per period.")
    outside_option: float = Field(0.0, description="Per-period payoff of a member who has left.")
    prior_collapse: float = Field(0.05, ge=0, lt=1, description="Members' initial belief that enforcement "
                                                              "has collapsed.")
    hazard: float = Field(0.01, ge=0, lt=1, description="Members' belief that sound enforcement collapses in "
                                                       "any given period.")
    quorum: float = Field(0.5, ge=0, le=1, description="Enforcement collapses for good below this share of the "
                                                      "founding members.")
    collapse_step: int | None = Field(None, ge=1, description="Enforcement shock: the step enforcement collapses.")
    collapse_length: int = Field(0, ge=0, description="How many periods the shock lasts (0: for good).")
    belief_shock_step: int | None = Field(None, ge=1, description="The step a rumour of collapse reaches everyone.")
    belief_shock: float = Field(0.9, ge=0, lt=1, description="Everyone's belief in collapse after the rumour.")

    @model_validator(mode="after")
    def _collapse_is_worse(self) -> SillyRulesParams:
        if self.enforcement_low >= self.enforcement_high:
            raise ValueError("enforcement_low must be below enforcement_high: a collapse means less punishment")
        return self

    def theory(self) -> SillyRulesModel:
        return SillyRulesModel(
            self.important_rules, self.silly_rules, self.violation_rate, self.observe, self.enforcement_high,
            self.enforcement_low, self.value, self.harm, self.silly_cost, self.outside_option, self.hazard,
        )


class Membership(BaseModel):
    """Whether you stay in the group this period. Leaving is for good."""

    stay: bool = Field(description="true to stay in the group, false to leave it for good.")


@ENVIRONMENTS.register("silly_rules")
class SillyRules(Environment):
    """A group whose members learn, from punishments they see, whether its rules are still enforced."""

    Params = SillyRulesParams
    Action = Membership
    step_name = "period"

    def setup(self) -> None:
        p = self.params
        self.founders = len(self.model.active_agents())
        self.members: set[int] = {a.unique_id for a in self.model.active_agents()}
        self.belief = dict.fromkeys(self.members, p.prior_collapse)
        self.seen: dict[int, dict[str, int]] = {}
        self.left_at: dict[int, int] = {}
        self.quorum_lost = False
        self.enforcement = p.enforcement_high

    def configure(self) -> None:
        self.theory = self.params.theory()

    # -- the state of enforcement -----------------------------------------------------------------
    def enforcement_now(self, step: int) -> float:
        p = self.params
        shocked = p.collapse_step is not None and step >= p.collapse_step and (
            p.collapse_length == 0 or step < p.collapse_step + p.collapse_length)
        return p.enforcement_low if shocked or self.quorum_lost else p.enforcement_high

    # -- what members know -----------------------------------------------------------------------
    def briefing(self) -> str:
        p = self.params
        return (
            f"You belong to a group that lives under {p.important_rules + p.silly_rules} rules. Breaking "
            f"{p.important_rules} of them harms another member ({p.harm:g} per unpunished violation); the other "
            f"{p.silly_rules} harm nobody, and keeping each of them costs you {p.silly_cost:g} per period. Members "
            "sometimes break rules; the group's enforcers punish violations, reliably while enforcement holds "
            f"(about {p.enforcement_high:.0%} of violations) and less once it has collapsed (about "
            f"{p.enforcement_low:.0%}). Membership is worth {p.value:g} per period before harms and costs; "
            f"outside the group you get {p.outside_option:g} per period. You may leave at any time, for good."
        )

    def observe_public(self, public: dict[str, Any]) -> None:
        public.update(period=self.model.steps, members=len(self.members), founders=self.founders,
                      important_rules=self.params.important_rules, silly_rules=self.params.silly_rules)

    def observe(self, agent: SocietyAgent, observation: Observation) -> None:
        me = agent.unique_id
        observation.private.update(
            member=me in self.members,
            belief_enforcement_collapsed=round(self.belief.get(me, 1.0), 4),
            leave_if_belief_above=round(self.theory.threshold(), 4),
            seen_last_period=dict(self.seen.get(me, {})),
        )

    def fallback(self, agent: SocietyAgent) -> BaseModel:
        """No valid answer keeps the status quo: a member stays."""
        return Membership(stay=True)

    # -- one period ------------------------------------------------------------------------------
    def resolve(self, actions: dict[int, BaseModel]) -> Outcome:
        p, step = self.params, self.model.steps
        for agent_id, action in actions.items():
            if agent_id in self.members and not action.stay:
                self.members.discard(agent_id)
                self.left_at[agent_id] = step
        self.quorum_lost = self.quorum_lost or len(self.members) < p.quorum * self.founders
        self.enforcement = self.enforcement_now(step)
        members = sorted(self.members)
        specified = {a: float(p.outside_option) for a in actions}
        true = dict(specified)
        for a in members:
            specified[a] = true[a] = p.value - p.silly_cost * p.silly_rules
        self._violations(members, specified, true)
        return Outcome(specified=specified, true=true, info={"members": members, "enforcement": self.enforcement})

    def _violations(self, members: list[int], specified: dict[int, float], true: dict[int, float]) -> None:
        """Draw violations and punishments; charge harms; let every member see what it sees and update."""
        p, rng = self.params, self.model.rng
        rules = p.important_rules + p.silly_rules
        broken = rng.random((len(members), rules)) < p.violation_rate
        punished = rng.random((len(members), rules)) < self.enforcement
        unpunished = (broken & ~punished)[:, : p.important_rules].sum(axis=1)
        for i, a in enumerate(members):
            for _ in range(int(unpunished[i])):
                if len(members) > 1:  # the k-th of the others: the members less a, without building that list
                    k = int(rng.integers(len(members) - 1))
                    victim = members[k if k < i else k + 1]
                else:
                    victim = a
                true[a] -= p.harm
                specified[victim] -= p.harm
        step = self.model.steps
        for j, a in enumerate(members):
            sees = rng.random((len(members), rules)) < p.observe
            sees[j, :] = False
            seen = broken & sees
            important, silly = seen[:, : p.important_rules], seen[:, p.important_rules:]
            hit_i, hit_s = punished[:, : p.important_rules], punished[:, p.important_rules:]
            self.seen[a] = {
                "important_violations": int(important.sum()), "important_punished": int((important & hit_i).sum()),
                "silly_violations": int(silly.sum()), "silly_punished": int((silly & hit_s).sum()),
            }
            k, n = int((seen & punished).sum()), int(seen.sum())
            rumour = step == p.belief_shock_step
            self.belief[a] = self.theory.bayes(p.belief_shock, k, n) if rumour else self.theory.update(
                self.belief[a], k, n)

    # -- metrics ---------------------------------------------------------------------------------
    def model_reporters(self):
        return {
            "members": lambda m: len(self.members),
            "enforcement": lambda m: self.enforcement,
            "mean_belief_collapsed": lambda m: float(np.mean([self.belief[a] for a in self.members]))
            if self.members else float("nan"),
        }

    def agent_reporters(self):
        return {
            "member": lambda a: a.unique_id in self.members,
            "belief_collapsed": lambda a: self.belief.get(a.unique_id),
        }

    def headline_figure(self, model_table: pd.DataFrame, agent_table: pd.DataFrame,
                        events: pd.DataFrame) -> Figure:
        """Members left and their belief in collapse, against the quorum and the belief at which leaving pays."""
        from sim.plots.silly_rules import silly_rules_figure

        founders = int(agent_table.loc[agent_table["step"] == agent_table["step"].min(), "active"].sum())
        return silly_rules_figure(self.params, founders, model_table, self.figure_frame(model_table))

    def summary(self, model_table: pd.DataFrame, agent_table: pd.DataFrame) -> dict[str, float]:
        p = self.params
        shock = p.collapse_step
        delays = [t - shock for t in self.left_at.values() if shock is not None and t >= shock]
        return {
            "silly_density": p.silly_rules / (p.silly_rules + p.important_rules),
            "leave_threshold": self.theory.threshold(),
            "learning_drift": self.theory.drift(self.founders),
            "members_final": float(len(self.members)),
            "survived": float(len(self.members) >= p.quorum * self.founders and len(self.members) > 0),
            "exit_delay_after_collapse": float(np.mean(delays)) if delays else float("nan"),
            "left_before_collapse": float(sum(t < shock for t in self.left_at.values())) if shock else
            float(len(self.left_at)),
        }
