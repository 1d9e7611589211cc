"""The ``llm`` policy: agents whose decisions come from a language model served by vLLM.

A decision phase becomes one batch: every LLM agent's question (all groups together) goes to the run's `Asker`
in a single call, which sends them to the engine as one batch, re-asks the invalid ones together once and gives
what still fails its fallback. Nothing an LLM says can crash a run; everything is counted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, Field, field_validator

from agents.llm.memory_summary import summarise_due_memories
from agents.llm.prompts import ChatParts, observation_json, render_conversation, render_local, state_json
from agents.policy import POLICIES, Policy
from sim.component import Params, Problem
from sim.errors import UserError
from sim.llm.asker import Question
from sim.llm.prompts import PromptTemplates, schema_json
from sim.llm.types import SEED_SPAN
from sim.scenario_files import ScenarioFile
from sim.step import Decision

if TYPE_CHECKING:
    from agents.agent import SocietyAgent
    from sim.model import SocietyModel
    from sim.scenario import GroupSpec, Scenario

TEMPLATE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class LLMPolicyParams(Params):
    templates: dict[str, ScenarioFile] = Field(
        default_factory=dict,
        description="Prompt templates to replace, name -> file: system, user, summary, universalization, or a "
        "phase's instruction, named after the phase (act, talk, sanction, vote, ...; 'phase' is the generic one); "
        "the defaults are in sim/llm/templates/.",
    )
    universalization: bool = Field(
        False, description="Add GovSim's universalization prompt (what if everyone did this?) to the act phase."
    )
    summary_every: int = Field(
        0, ge=0, description="Every this many steps the LLM rewrites each agent's memory as a summary (0: never)."
    )
    summary_chars: int = Field(400, gt=0, description="Longest memory summary, in characters.")
    candidates: int = Field(
        1, ge=1, le=SEED_SPAN, description="Samples drawn per act decision (seeds seed+i); the agent acts on sample 0 "
        "and every sample is scored by what it would have earned (candidates.parquet, for `alignsim export`).",
    )

    @field_validator("templates")
    @classmethod
    def _template_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [name for name in value if not TEMPLATE_NAME.match(name)]
        if bad:
            raise ValueError(f"template names are identifiers (a message template or a phase name), not {bad}")
        return value


class PhaseChats:
    """What the questions of one phase share, rendered once for the phase rather than once per agent: each group's
    system message, each distinct JSON schema's text, the step's conversation, and each distinct shared start of
    the user message (the instruction, the public state, the conversation).

    The public state is keyed by the identity of its values: agents of a phase are shown the same objects (one
    dict of last catches for every fisher), and all of them are alive while the phase is built, so equal keys
    mean equal states; a state built afresh for each agent only costs its own rendering.
    """

    def __init__(self, model: SocietyModel) -> None:
        self.model = model
        self._conversation: list[str] | None = None
        self._systems: dict[int, str] = {}
        self._schemas: dict[int, str] = {}
        self._shared: dict[tuple, str] = {}

    def system(self, policy: LLMPolicy) -> str:
        if id(policy) not in self._systems:
            self._systems[id(policy)] = policy.system_prompt()
        return self._systems[id(policy)]

    def schema_text(self, json_schema: dict[str, Any]) -> str:
        if id(json_schema) not in self._schemas:
            self._schemas[id(json_schema)] = schema_json(json_schema)
        return self._schemas[id(json_schema)]

    def conversation(self) -> list[str]:
        """In a complete network every message of the step reached every other agent, so the step's messages are
        public state, shown once in the shared part (``agent 3: ...`` lines, from the message events). Elsewhere
        none: each agent's own part lists what it received."""
        if self._conversation is None:
            self._conversation = []
            if self.model.spec.network.kind == "complete":
                step, said = self.model.steps, []
                for event in reversed(self.model.events):
                    if event.step != step:
                        break
                    if event.kind == "message":
                        said.append(f"agent {event.agent_id}: {event.detail}")
                self._conversation = said[::-1]
        return self._conversation

    def shared(self, policy: LLMPolicy, decision: Decision) -> str:
        """The ``shared`` template: the phase's instruction, the public state, the step's conversation, and what
        the agent's group sees (`Observation.local`, keyed like the public state: one rendering per group)."""
        public, local = decision.observation.public, decision.observation.local
        key = (id(policy), *((name, id(value)) for name, value in public.items()), id(local) if local else None)
        if key not in self._shared:
            values = {"instruction": policy.instruction(decision), "public": state_json(public),
                      "conversation": render_conversation(self.conversation()), "local": render_local(local)}
            self._shared[key] = policy.templates.render("shared", values, tidy=True)
        return self._shared[key]


@POLICIES.register("llm")
class LLMPolicy(Policy):
    """Decides by asking the scenario's LLM, with prompts built from this group's templates and persona."""

    Params = LLMPolicyParams
    remembers = True

    @classmethod
    def uses_llm(cls, params: LLMPolicyParams) -> bool:
        return True

    @classmethod
    def check(cls, params: LLMPolicyParams, scenario: Scenario) -> Iterator[Problem]:
        """The group's prompt templates load and use only known placeholders (checked again, cheaply, at build)."""
        try:
            PromptTemplates.load(scenario.environment.kind, params.templates)
        except UserError as exc:
            yield Problem(("templates",), str(exc))

    def __init__(self, model: SocietyModel, params: LLMPolicyParams, group: GroupSpec) -> None:
        super().__init__(model, params, group)
        self.templates = PromptTemplates.load(model.spec.environment.kind, params.templates)
        self._own_shows_schema = "schema" in self.templates.template("own")[0].get_identifiers()
        # a scenario's own shared template written before $local: the group's view goes with the private state
        self._shared_shows_local = "local" in self.templates.template("shared")[0].get_identifiers()
        self._rounds: dict[tuple[int, str], int] = {}
        self._summarised: dict[int, int] = {}

    # -- what every question of this group shares ---------------------------------------------------
    def system_prompt(self) -> str:
        """Rules (the same for all agents) then persona: the shared prefix of every chat of this group."""
        return self.templates.render("system", {"rules": self.model.briefing(), "persona": self.group.persona})

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
        text = self.templates.instruction(decision.phase, values)
        if decision.phase == "act" and self.params.universalization:
            text = f"{self.templates.render('universalization', values)}\n{text}"
        return text

    def question(self, decision: Decision, round_: int, chats: PhaseChats) -> Question:
        """The question for ``decision``: what the phase shares first, then this agent's own part."""
        agent, obs = decision.agent, decision.observation
        json_schema = decision.json_schema()
        common = {"agent_id": agent.unique_id, "summary": agent.memory.summary,
                  "memory": tuple(agent.memory.entries), "messages": tuple(obs.messages)}
        if self.model.spec.llm.prompt_layout == "agent_first":
            values = {
                "observation": observation_json(agent.unique_id, obs.public, {**obs.local, **obs.private}),
                "instruction": self.instruction(decision),
                "schema": chats.schema_text(json_schema),
            }
            parts = ChatParts(self.templates, chats.system(self), template="user", values=values, **common)
        else:
            values = {"private": state_json(obs.private if self._shared_shows_local else {**obs.local, **obs.private})}
            if self._own_shows_schema:  # not by default: the structured output enforces it (docs/llm_agents.md)
                values["schema"] = chats.schema_text(json_schema)
            if chats.conversation() or not self.model.spec.talk.rounds:  # shared already, or no one talks
                common.update(messages=(), no_messages="")
            parts = ChatParts(self.templates, chats.system(self), template="own", values=values,
                              shared=chats.shared(self, decision), **common)
        return Question(
            purpose="decision", step=obs.step, phase=decision.phase, schema=decision.schema,
            json_schema=json_schema, prompt=parts,
            agent=agent.unique_id, group=self.group.name, round=round_, fallback=decision.fallback,
            sampling=(self.group.sampling,), adapter=self.group.llm.adapter,
        )

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
    def questions(cls, batch: list[tuple[Policy, Decision]]) -> list[Question]:
        """One phase's questions, one per decision, in order (memories due a summary are summarised first)."""
        pairs = [(cast(LLMPolicy, p), d) for p, d in batch]
        model = pairs[0][0].model
        step, phase = pairs[0][1].observation.step, pairs[0][1].phase
        summarise_due_memories(model.asker, [(p, d.agent) for p, d in pairs], step)
        rounds: dict[int, int] = {}
        for policy, _ in pairs:
            if id(policy) not in rounds:
                rounds[id(policy)] = policy.next_round(step, phase)
        chats = PhaseChats(model)
        return [p.question(d, rounds[id(p)], chats) for p, d in pairs]

    @classmethod
    def decide_all(cls, batch: list[tuple[Policy, Decision]]) -> list[BaseModel]:
        """All LLM agents' decisions of one phase: one batch to the engine, one batch of re-asks."""
        if not batch:
            return []
        pairs = [(cast(LLMPolicy, p), d) for p, d in batch]
        model = pairs[0][0].model
        answers = cls.answer_questions(model, pairs, cls.questions(batch))
        for (policy, decision), answer in zip(pairs, answers, strict=True):
            policy.remember(decision, answer)
        return answers

    @staticmethod
    def answer_questions(model: SocietyModel, pairs: list[tuple[LLMPolicy, Decision]], questions: list[Question]
                ) -> list[BaseModel]:
        """The answer to each question, in order: one batch of first replies. A group with ``candidates: n`` draws n
        samples of each act decision in the same batch, acts on sample 0 (what one sample would have answered) and
        hands all n to the model's candidate pool to be scored."""
        counts = [p.params.candidates if d.phase == "act" else 1 for p, d in pairs]
        if max(counts) == 1:
            return [a.value for a in model.asker.ask(questions)]
        samples = model.asker.sample_each(questions, counts)
        for (_, decision), drawn in zip(pairs, samples, strict=True):
            if len(drawn) > 1:
                model.candidates.add(decision, drawn)
        return [drawn[0].value for drawn in samples]

    @classmethod
    def summary(cls, model: SocietyModel) -> dict[str, float]:
        """LLM call accounting over every group using this policy (the asker counts by purpose)."""
        decisions, summaries = model.asker.stats["decision"], model.asker.stats["summary"]
        asked = decisions.asked
        return {
            "llm_decisions": float(asked),
            "llm_invalid_rate": decisions.invalid / asked if asked else 0.0,
            "llm_reasks": float(decisions.reasks),
            "llm_fallback_rate": decisions.fallbacks / asked if asked else 0.0,
            "llm_summaries": float(summaries.asked - summaries.fallbacks),
        }
