"""The ``llm`` policy: agents whose decisions come from a language model served by vLLM.

A decision phase becomes one batch: every LLM agent's chat (all groups together) goes to the engine in a single
`LLMClient.chat` call, replies that fail the phase's action schema are re-asked together in one more call, and
what still fails takes the decision's fallback. Nothing an LLM says can crash a run; everything is counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from pydantic import BaseModel, Field

from agents.llm.memory_summary import summarise_due_memories
from agents.llm.prompts import (
    ChatParts,
    ContextBudget,
    PromptTemplates,
    TemplateName,
    fit_to_context,
    observation_json,
    schema_json,
)
from agents.llm.replies import parse_reply
from agents.policy import Policy, register_policy
from sim.component import Params
from sim.llm.types import ChatRequest, Sampling, derive_seed
from sim.scenario_files import ScenarioFile
from sim.step import Decision

if TYPE_CHECKING:
    from agents.agent import SocietyAgent
    from sim.llm.client import LLMClient
    from sim.model import SocietyModel
    from sim.scenario import GroupSpec

REASK_NOTE = "Your answer was not valid ({error}). Answer again with only a JSON object that matches the schema."


class LLMPolicyParams(Params):
    templates: dict[TemplateName, ScenarioFile] = Field(
        default_factory=dict,
        description="Prompt templates to replace, name -> file (system, user, act, talk, phase, universalization, "
        "summary); the defaults are in agents/llm/templates/.",
    )
    universalization: bool = Field(
        False, description="Add GovSim's universalization prompt (what if everyone did this?) to the act phase."
    )
    summary_every: int = Field(
        0, ge=0, description="Every this many steps the LLM rewrites each agent's memory as a summary (0: never)."
    )
    summary_chars: int = Field(400, gt=0, description="Longest memory summary, in characters.")


@dataclass
class LLMStats:
    """What happened to one group's LLM calls; `LLMPolicy.summary` adds them up over the groups."""

    decisions: int = 0
    invalid: int = 0
    reasks: int = 0
    fallbacks: int = 0
    summaries: int = 0
    invalid_summaries: int = 0


@dataclass(frozen=True)
class Ask:
    """One decision on its way to the engine."""

    policy: LLMPolicy
    decision: Decision
    round: int
    request: ChatRequest


@register_policy("llm")
class LLMPolicy(Policy):
    """Decides by asking the scenario's LLM, with prompts built from this group's templates and persona."""

    Params = LLMPolicyParams

    def __init__(self, model: SocietyModel, params: LLMPolicyParams, group: GroupSpec) -> None:
        super().__init__(model, params, group)
        self.templates = PromptTemplates.load(model.spec.environment.kind, params.templates)
        self.stats = LLMStats()
        self._rounds: dict[tuple[int, str], int] = {}
        self._summarised: dict[int, int] = {}

    # -- what every request of this group shares --------------------------------------------------
    def sampling(self) -> Sampling:
        """The ``llm:`` block's sampling with this group's overrides."""
        base, own = self.model.spec.llm, self.group.sampling
        return Sampling(
            temperature=base.temperature if own.temperature is None else own.temperature,
            top_p=base.top_p if own.top_p is None else own.top_p,
            max_tokens=base.max_tokens if own.max_tokens is None else own.max_tokens,
        )

    def budget(self) -> ContextBudget:
        return ContextBudget(self.model.spec.llm.max_model_len, self.sampling().max_tokens)

    def system_prompt(self) -> str:
        """Rules (the same for all agents) then persona: the shared prefix of every chat of this group."""
        return self.templates.render("system", {"rules": self.model.rules(), "persona": self.group.persona})

    def next_round(self, step: int, phase: str) -> int:
        """How many times this phase already ran this step (talk runs once per round)."""
        round_ = self._rounds.get((step, phase), 0)
        self._rounds[(step, phase)] = round_ + 1
        return round_

    # -- one decision ------------------------------------------------------------------------------
    def instruction(self, decision: Decision) -> str:
        obs = decision.observation
        values = {
            **{k: v for k, v in obs.public.items() if isinstance(v, str | int | float | bool)},
            "step": obs.step,
            "phase": decision.phase,
        }
        name = decision.phase if decision.phase in ("act", "talk") else "phase"
        text = self.templates.render(name, values)
        if decision.phase == "act" and self.params.universalization:
            text = f"{self.templates.render('universalization', values)}\n{text}"
        return text

    def request(self, decision: Decision, round_: int, attempt: int = 0, note: str = "") -> ChatRequest:
        """The chat for ``decision``: shared prefix first, then this agent's memory, observation and messages."""
        agent, obs = decision.agent, decision.observation
        parts = ChatParts(
            system=self.system_prompt(),
            agent_id=agent.unique_id,
            summary=agent.memory.summary,
            memory=tuple(agent.memory.entries),
            observation=observation_json(agent.unique_id, obs.public, obs.private),
            messages=tuple(obs.messages),
            instruction=self.instruction(decision),
            schema=schema_json(decision.json_schema()),
        )
        system, user = fit_to_context(parts, self.templates, self.budget())
        if note:
            user = f"{user}\n\n{note}"
        label = decision.phase if round_ == 0 else f"{decision.phase}#{round_}"
        return ChatRequest(
            messages=({"role": "system", "content": system}, {"role": "user", "content": user}),
            seed=derive_seed(self.model.seed, obs.step, label, agent.unique_id, attempt),
            schema=decision.json_schema(),
            sampling=self.sampling(),
            tag=self.tag(agent, obs.step, decision.phase, round_, attempt, "decision"),
        )

    def tag(self, agent: SocietyAgent, step: int, phase: str, round_: int, attempt: int, purpose: str) -> dict:
        """What the transcript records about a request: who asked, when, in which phase, and why."""
        return {"agent": agent.unique_id, "group": self.group.name, "step": step, "phase": phase,
                "round": round_, "attempt": attempt, "purpose": purpose}

    def remember(self, decision: Decision, answer: BaseModel) -> None:
        """Keep the conversation in memory: what the agent said, and (when it acts) what it heard this step."""
        memory, step = decision.agent.memory, decision.observation.step
        if decision.phase == "talk":
            said = str(getattr(answer, "message", "")).strip()
            if said:
                memory.add(step, "said", said)
        elif decision.phase == "act":
            for message in decision.observation.messages:
                memory.add(step, "heard", message)

    def summary_due(self, agent: SocietyAgent, step: int) -> bool:
        """Whether to summarise ``agent``'s memory now: every ``summary_every`` steps, once per step."""
        every = self.params.summary_every
        if not every or step <= 1 or (step - 1) % every or not len(agent.memory):
            return False
        if self._summarised.get(agent.unique_id) == step:
            return False
        self._summarised[agent.unique_id] = step
        return True

    # -- a whole phase -----------------------------------------------------------------------------
    @classmethod
    def decide_all(cls, batch: list[tuple[Policy, Decision]]) -> list[BaseModel]:
        """All LLM agents' decisions of one phase: one batch to the engine, one batch of re-asks."""
        if not batch:
            return []
        pairs = [(cast(LLMPolicy, p), d) for p, d in batch]
        model = pairs[0][0].model
        step, phase = pairs[0][1].observation.step, pairs[0][1].phase
        summarise_due_memories(model.llm, [(p, d.agent) for p, d in pairs], step)
        rounds: dict[int, int] = {}
        for policy, _ in pairs:
            if id(policy) not in rounds:
                rounds[id(policy)] = policy.next_round(step, phase)
        asks = [Ask(p, d, rounds[id(p)], p.request(d, rounds[id(p)])) for p, d in pairs]
        answers = answer_all(model.llm, asks)
        for ask, answer in zip(asks, answers, strict=True):
            ask.policy.remember(ask.decision, answer)
        return answers

    @classmethod
    def summary(cls, model: SocietyModel) -> dict[str, float]:
        """LLM call accounting over every group using this policy."""
        groups = [p.stats for p in model.policies.values() if isinstance(p, cls)]
        decisions = sum(s.decisions for s in groups)
        return {
            "llm_decisions": float(decisions),
            "llm_invalid_rate": sum(s.invalid for s in groups) / decisions if decisions else 0.0,
            "llm_reasks": float(sum(s.reasks for s in groups)),
            "llm_fallback_rate": sum(s.fallbacks for s in groups) / decisions if decisions else 0.0,
            "llm_summaries": float(sum(s.summaries for s in groups)),
        }


def answer_all(llm: LLMClient, asks: list[Ask]) -> list[BaseModel]:
    """Answers in order: first replies, then one re-ask batch for the invalid ones, then fallbacks."""
    replies = llm.chat([a.request for a in asks])
    answers: list[BaseModel | None] = []
    errors: dict[int, str] = {}
    for i, (ask, reply) in enumerate(zip(asks, replies, strict=True)):
        answer, error = parse_reply(ask.decision.schema, reply.text)
        ask.policy.stats.decisions += 1
        if answer is None:
            ask.policy.stats.invalid += 1
            errors[i] = error
        answers.append(answer)
    if errors:
        reasks = [
            asks[i].policy.request(asks[i].decision, asks[i].round, 1, REASK_NOTE.format(error=error))
            for i, error in errors.items()
        ]
        for i, reply in zip(errors, llm.chat(reasks), strict=True):
            ask = asks[i]
            ask.policy.stats.reasks += 1
            answer, _ = parse_reply(ask.decision.schema, reply.text)
            if answer is None:
                ask.policy.stats.fallbacks += 1
                answer = ask.decision.fallback
            answers[i] = answer
    return [a for a in answers if a is not None]
