"""A court that fills contract gaps after the fact (external gap-filling, Hadfield-Menell & Hadfield 2019).

After each period, a principal whose task met a state the contract does not cover may sue its
contractor, paying ``filing_cost``. The court sees the evidence (the contract, the state, and the
value the principal received) and asks whether the contractor gave what the parties reasonably
expected. The evidence is wrong with probability ``error_rate``; the reasonable-expectations judge
rules correctly on it, so it errs exactly that often; the LLM judge reads the same evidence and
adds its own mistakes. A liable contractor pays expectation damages, ``damages_multiplier`` × harm:
what puts the principal where honouring the spirit would have.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
from pydantic import BaseModel, Field

from sim.component import Params
from sim.environments.principal_agent import PrincipalAgent, Task
from sim.incentives import Penalty
from sim.institutions.base import INSTITUTIONS, Institution
from sim.llm.asker import Question
from sim.llm.prompts import FixedPrompt, PromptTemplates
from sim.step import Observation, StepContext

if TYPE_CHECKING:
    from agents.agent import SocietyAgent


class CourtParams(Params):
    judge: Literal["reasonable_expectations", "llm"] = Field(
        "reasonable_expectations", description="Who decides disputes: the reasonable-expectations rule or an LLM."
    )
    error_rate: float = Field(0.1, ge=0, le=1, description="Probability that the evidence shows the opposite "
                                                            "of what the contractor did.")
    filing_cost: float = Field(1.0, ge=0, description="What a principal pays to bring a suit.")
    damages_multiplier: float = Field(1.0, ge=0, description="Damages = this × the harm of an exploited gap.")


class Suit(BaseModel):
    """Whether to take your contractor to court over this period's task, which met a state the contract
    does not cover. Suing costs the filing fee; if the court finds the contractor did not give what the
    deal reasonably implied, it pays you damages."""

    sue: bool = Field(description="true to sue the contractor over this period's task, false not to.")


class Verdict(BaseModel):
    """The court's decision on one dispute."""

    liable: bool = Field(description="true if the contractor failed to give what the parties reasonably expected.")
    reason: str = Field("", max_length=300, description="One sentence on why.")


@dataclass
class Dispute:
    """One suit: the task, and the evidence the court sees (possibly wrong)."""

    task: Task
    evidence_shows_exploit: bool


@INSTITUTIONS.register("court")
class Court(Institution):
    """Judges disputes over uncovered states and awards damages."""

    Params = CourtParams
    phase = "sue"
    environments = ("principal_agent",)

    @classmethod
    def uses_llm(cls, params: CourtParams) -> bool:
        return params.judge == "llm"

    def setup(self) -> None:
        self.principal_agent: PrincipalAgent = self.model.environment
        self.verdicts: list[tuple[Dispute, bool]] = []
        self.step_suits = 0
        self.step_damages = 0.0
        self.invalid_verdicts = 0

    @property
    def damages(self) -> float:
        return self.params.damages_multiplier * self.principal_agent.params.harm

    def expected_award(self) -> float:
        """What suing over an exploited gap is expected to win: (1 − error rate) × damages."""
        return (1 - self.params.error_rate) * self.damages

    def deterrence(self) -> float:
        """Expected damages a contractor avoids by honouring a gap: rational principals sue only when
        the expected award beats the filing cost, and only over exploited gaps."""
        return self.expected_award() if self.expected_award() > self.params.filing_cost else 0.0

    def expected_penalty(self, agent: SocietyAgent, action: BaseModel) -> Penalty:
        """A contractor exploiting the gaps expects the damages rational principals would win, in every
        uncovered task it gets."""
        if self.principal_agent.is_principal(agent) or getattr(action, "in_gap", None) != "exploit":
            return Penalty()
        work = self.principal_agent
        return Penalty(payoff=work.expected_tasks() * work.uncovered_share() * self.deterrence())

    # -- what agents know ------------------------------------------------------------------------
    def briefing(self) -> str:
        p = self.params
        judge = "a judge applying the reasonable-expectations rule" if p.judge == "reasonable_expectations" \
            else "an AI judge"
        return (
            "A court hears disputes over tasks that met a state the contract does not cover. After such a task the "
            f"principal may sue its contractor, paying a filing fee of {p.filing_cost:g}. The case is decided by "
            f"{judge}, who asks whether the contractor gave what the parties reasonably expected; the evidence is "
            f"wrong in {p.error_rate:.0%} of cases. A contractor found liable pays the principal damages of "
            f"{self.damages:g}."
        )

    def observe_public(self, public: dict[str, Any]) -> None:
        public["court"] = {
            "judge": self.params.judge, "filing_cost": self.params.filing_cost,
            "error_rate": self.params.error_rate, "damages": self.damages,
            "expected_award_if_exploited": self.expected_award(),
        }

    def observe(self, agent: SocietyAgent, observation: Observation) -> None:
        if not self.principal_agent.is_principal(agent):
            observation.private.setdefault("gap_incentives", {})["court_damages_avoided"] = self.deterrence()

    # -- the suing phase -------------------------------------------------------------------------
    def open_phase(self, agents: list[SocietyAgent]) -> list[SocietyAgent]:
        """Only principals whose task this period met an uncovered state have a case to bring."""
        task_of = self.principal_agent.task_of
        return [a for a in agents if (task := task_of(a.unique_id)) is not None and not task.covered]

    def phase_schema(self, agent: SocietyAgent) -> type[BaseModel]:
        return Suit

    def phase_fallback(self, agent: SocietyAgent) -> BaseModel:
        return Suit(sue=False)

    def enforce(self, ctx: StepContext) -> None:
        suits = [pid for pid, action in ctx.phase_actions.get(self.phase, {}).items() if action.sue]
        disputes = []
        for principal in suits:
            task = self.principal_agent.task_of(principal)
            ctx.outcome.adjust(principal, "filing_cost", -self.params.filing_cost, -self.params.filing_cost)
            ctx.emit("lawsuit", principal, task.contractor, self.params.filing_cost, f"state {task.state}")
            wrong_evidence = self.model.rng.random() < self.params.error_rate
            disputes.append(Dispute(task, task.exploited != wrong_evidence))
        liable = self._judge(disputes, ctx.step)
        self.step_suits, self.step_damages = len(disputes), 0.0
        for dispute, found_liable in zip(disputes, liable, strict=True):
            task = dispute.task
            self.verdicts.append((dispute, found_liable))
            correct = "correct" if found_liable == task.exploited else "wrong"
            if found_liable:
                ctx.outcome.adjust(task.contractor, "damages", -self.damages, -self.damages)
                ctx.outcome.adjust(task.principal, "damages", self.damages, self.damages)
                self.step_damages += self.damages
            ctx.emit("verdict", task.principal, task.contractor, self.damages if found_liable else 0.0,
                     f"{'liable' if found_liable else 'not liable'} ({correct})")

    def _judge(self, disputes: list[Dispute], step: int) -> list[bool]:
        if self.params.judge == "reasonable_expectations":
            return [d.evidence_shows_exploit for d in disputes]
        return self._llm_verdicts(disputes, step)

    # -- the LLM judge ---------------------------------------------------------------------------
    def _llm_verdicts(self, disputes: list[Dispute], step: int) -> list[bool]:
        """One batch of questions, one per dispute (about its plaintiff and defendant); a verdict unreadable
        twice finds for the defendant (the plaintiff carries the burden of proof) and counts in ``judge_invalid``."""
        if not disputes:
            return []
        templates = PromptTemplates.load(self.model.spec.environment.kind)
        system = templates.instruction("verdict", {"rules": self.principal_agent.briefing()})
        questions = [
            Question(
                purpose="verdict", step=step, phase="verdict", schema=Verdict,
                prompt=FixedPrompt(system, json.dumps(self._evidence(d))),
                about=(d.task.principal, d.task.contractor), fallback=Verdict(liable=False),
            )
            for d in disputes
        ]
        answers = self.model.asker.ask(questions)
        self.invalid_verdicts += sum(a.fell_back for a in answers)
        return [bool(getattr(a.value, "liable", False)) for a in answers]

    def _evidence(self, dispute: Dispute) -> dict:
        p = self.principal_agent.params
        return {
            "state": dispute.task.state,
            "covered_by_contract": False,
            "price_paid": p.price,
            "value_reasonably_expected": p.value,
            "value_received": p.value - p.harm if dispute.evidence_shows_exploit else p.value,
        }

    # -- metrics ---------------------------------------------------------------------------------
    def model_reporters(self):
        return {
            "lawsuits": lambda m: self.step_suits,
            "litigation_rate": lambda m: self._rate(self.step_suits, self.principal_agent.tasks),
            "damages_awarded": lambda m: self.step_damages,
        }

    @staticmethod
    def _rate(suits: int, tasks: list[Task]) -> float:
        """Suits per uncovered task (nan when no gap arose)."""
        gaps = sum(not t.covered for t in tasks)
        return suits / gaps if gaps else float("nan")

    def summary(self, model_table: pd.DataFrame, agent_table: pd.DataFrame) -> dict[str, float]:
        correct = [liable == d.task.exploited for d, liable in self.verdicts]
        return {
            "litigation_rate": self._rate(len(self.verdicts), self.principal_agent.history),
            "court_accuracy": sum(correct) / len(correct) if correct else float("nan"),
            "damages_awarded": float(sum(self.damages for _, liable in self.verdicts if liable)),
            "judge_invalid": float(self.invalid_verdicts),
        }
