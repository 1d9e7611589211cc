"""Periodic memory summaries written by the LLM: every due agent of a phase in one batch.

A summary replaces the memory entries it covers, so an agent keeps the gist of a long run in a bounded prompt.
A reply that fails its schema leaves the memory as it was (and is counted); summaries are never re-asked.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, create_model

from agents.llm.prompts import ChatParts, ContextBudget, fit_to_context, schema_json
from agents.llm.replies import parse_reply
from sim.llm.types import ChatRequest, Sampling, derive_seed

if TYPE_CHECKING:
    from agents.agent import SocietyAgent
    from agents.llm.policy import LLMPolicy
    from sim.llm.client import LLMClient


def summary_schema(max_chars: int) -> type[BaseModel]:
    return create_model(
        "MemorySummary",
        summary=(str, Field(max_length=max_chars, description="What you remember, in a few sentences.")),
    )


def summary_sampling(policy: LLMPolicy) -> Sampling:
    """The group's sampling with room for a summary of ``summary_chars`` characters (about 3 per token)."""
    base = policy.sampling()
    return replace(base, max_tokens=max(base.max_tokens, policy.params.summary_chars // 3 + 16))


def summary_request(policy: LLMPolicy, agent: SocietyAgent, step: int) -> ChatRequest:
    """Same shared prefix as a decision; the user message asks for a rewrite of the memory."""
    max_chars = policy.params.summary_chars
    schema = summary_schema(max_chars).model_json_schema()
    sampling = summary_sampling(policy)
    parts = ChatParts(
        system=policy.system_prompt(),
        agent_id=agent.unique_id,
        summary=agent.memory.summary,
        memory=tuple(agent.memory.entries),
        observation="",
        messages=(),
        instruction="",
        schema=schema_json(schema),
        template="summary",
        extra={"max_chars": max_chars},
    )
    budget = ContextBudget(policy.model.spec.llm.max_model_len, sampling.max_tokens)
    system, user = fit_to_context(parts, policy.templates, budget)
    return ChatRequest(
        messages=({"role": "system", "content": system}, {"role": "user", "content": user}),
        seed=derive_seed(policy.model.seed, step, "summary", agent.unique_id),
        schema=schema,
        sampling=sampling,
        tag=policy.tag(agent, step, "summary", 0, 0, "summary"),
    )


def summarise_due_memories(llm: LLMClient, members: list[tuple[LLMPolicy, SocietyAgent]], step: int) -> None:
    """Summarise the memory of every member whose policy says it is due, in one batch."""
    due = [(policy, agent) for policy, agent in members if policy.summary_due(agent, step)]
    if not due:
        return
    replies = llm.chat([summary_request(policy, agent, step) for policy, agent in due])
    for (policy, agent), reply in zip(due, replies, strict=True):
        answer, _ = parse_reply(summary_schema(policy.params.summary_chars), reply.text)
        if answer is None:
            policy.stats.invalid_summaries += 1
            continue
        agent.memory.summary = str(getattr(answer, "summary", "")).strip()
        agent.memory.entries.clear()
        policy.stats.summaries += 1
