"""Periodic memory summaries written by the LLM: every due agent of a phase in one batch.

A summary replaces the memory entries it covers, so an agent keeps the gist of a long run in a bounded prompt.
A reply that fails its schema leaves the memory as it was (and is counted); summaries are never re-asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, create_model

from agents.llm.prompts import ChatParts
from sim.llm.asker import Asker, Question
from sim.llm.config import SamplingOverrides
from sim.llm.prompts import schema_json
from sim.schemas import json_schema_of, schema_builder

if TYPE_CHECKING:
    from agents.agent import SocietyAgent
    from agents.llm.policy import LLMPolicy


@schema_builder
def summary_schema(max_chars: int) -> type[BaseModel]:
    return create_model(
        "MemorySummary",
        summary=(str, Field(max_length=max_chars, description="What you remember, in a few sentences.")),
    )


def summary_sampling(policy: LLMPolicy, asker: Asker) -> SamplingOverrides:
    """Room for a summary of ``summary_chars`` characters (about 3 per token), never less than the group's."""
    group = asker.sampling(policy.group.sampling).max_tokens
    return SamplingOverrides(max_tokens=max(group, policy.params.summary_chars // 3 + 16))


def summary_question(policy: LLMPolicy, asker: Asker, agent: SocietyAgent, step: int, system: str) -> Question:
    """Same shared prefix as a decision; the user message asks for a rewrite of the memory."""
    max_chars = policy.params.summary_chars
    schema = summary_schema(max_chars)
    parts = ChatParts(
        templates=policy.templates,
        system=system,
        agent_id=agent.unique_id,
        summary=agent.memory.summary,
        memory=tuple(agent.memory.entries),
        messages=(),
        template="summary",
        values={"schema": schema_json(json_schema_of(schema)), "max_chars": max_chars},
    )
    return Question(
        purpose="summary", step=step, phase="summary", schema=schema, prompt=parts, agent=agent.unique_id,
        group=policy.group.name, reask=False, sampling=(policy.group.sampling, summary_sampling(policy, asker)),
        adapter=policy.group.llm.adapter,
    )


def summarise_due_memories(asker: Asker, members: list[tuple[LLMPolicy, SocietyAgent]], step: int) -> None:
    """Summarise the memory of every member whose policy says it is due, in one batch."""
    due = [(policy, agent) for policy, agent in members if policy.summary_due(agent, step)]
    if not due:
        return
    systems = {id(policy): policy.system_prompt() for policy, _ in due}
    questions = [summary_question(p, asker, a, step, systems[id(p)]) for p, a in due]
    for (_, agent), answer in zip(due, asker.ask(questions), strict=True):
        if answer.value is None:
            continue
        agent.memory.summary = str(getattr(answer.value, "summary", "")).strip()
        agent.memory.entries.clear()
