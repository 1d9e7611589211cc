"""An LLM agent's chat: its parts, rendered with the group's templates and fitted into the model's context window.

Every chat is ordered so that vLLM's prefix cache can reuse its common part across agents:

    system: the scenario and institution rules (identical bytes for every agent) -> the group's persona
    user:   the agent's id and memory -> what it observes now (JSON) -> messages received -> the phase's
            instruction -> the JSON schema of the answer

The templates themselves, their lookup and the token estimate are the LLM layer's (`sim.llm.prompts`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from agents.memory import MemoryEntry
from sim.errors import UserError
from sim.llm.prompts import ContextBudget, PromptTemplates, estimate_tokens, too_small


def render_memory(summary: str, entries: Sequence[MemoryEntry]) -> str:
    if not summary and not entries:
        return "You remember nothing yet."
    lines = ["What you remember:"]
    if summary:
        lines.append(f"Summary of earlier steps: {summary}")
    lines.extend(f"- [step {e.step}, {e.kind}] {e.text}" for e in entries)
    return "\n".join(lines)


def render_messages(messages: Sequence[str]) -> str:
    if not messages:
        return "You have received no messages."
    return "\n".join(["Messages you received:", *(f"- {m}" for m in messages)])


def observation_json(agent_id: int, public: Mapping[str, Any], private: Mapping[str, Any]) -> str:
    """The observation as compact, key-sorted JSON: the same state always gives the same bytes."""
    payload = {"you": agent_id, "public": dict(public), "private": dict(private)}
    return json.dumps(payload, sort_keys=True, separators=(", ", ": "), default=str)


@dataclass(frozen=True)
class ChatParts:
    """The pieces of one agent's chat before they are fitted into the context window (a `sim.llm.prompts.Prompt`).

    ``memory`` is oldest first; ``messages`` in the order they arrived.
    """

    templates: PromptTemplates
    system: str
    agent_id: int
    summary: str
    memory: tuple[MemoryEntry, ...]
    observation: str
    messages: tuple[str, ...]
    instruction: str
    schema: str
    template: str = "user"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def fit(self, budget: ContextBudget) -> tuple[str, str]:
        return fit_to_context(self, budget)

    def user(self) -> str:
        """The user message from ``template`` (``user`` for decisions, ``summary`` for memory summaries)."""
        values = {
            **self.extra,
            "agent_id": self.agent_id,
            "memory": render_memory(self.summary, self.memory),
            "observation": self.observation,
            "messages": render_messages(self.messages),
            "instruction": self.instruction,
            "schema": self.schema,
        }
        return self.templates.render(self.template, values)


def fit_to_context(parts: ChatParts, budget: ContextBudget) -> tuple[str, str]:
    """(system, user) texts whose estimated tokens fit the budget.

    The trimming rule, applied only as far as needed: drop the oldest memory entries, one at a time; then the
    oldest messages received; then cut the memory summary from its start. The rules, persona, observation,
    instruction and schema are never cut: if they alone do not fit, the context is too small for the scenario,
    and that is a `UserError` naming the numbers.
    """
    limit = budget.prompt_tokens
    fixed = estimate_tokens(parts.system)

    def fits(candidate: ChatParts) -> bool:
        return fixed + estimate_tokens(candidate.user()) <= limit

    if fits(parts):
        return parts.system, parts.user()
    bare = replace(parts, memory=(), messages=(), summary="")
    if not fits(bare):
        need = fixed + estimate_tokens(bare.user())
        what = f"the LLM prompt of agent {parts.agent_id} before any memory or message"
        raise UserError(too_small(need, budget, what))
    trimmed = parts
    while trimmed.memory and not fits(trimmed):
        trimmed = replace(trimmed, memory=trimmed.memory[1:])
    while trimmed.messages and not fits(trimmed):
        trimmed = replace(trimmed, messages=trimmed.messages[1:])
    if not fits(trimmed):
        trimmed = _cut_summary(trimmed, fits)
    return trimmed.system, trimmed.user()


def _cut_summary(parts: ChatParts, fits: Callable[[ChatParts], bool]) -> ChatParts:
    """The longest tail of the summary that fits (binary search: the estimate grows with the text)."""
    low, high = 0, len(parts.summary)
    while low < high:
        keep = (low + high + 1) // 2
        if fits(replace(parts, summary="..." + parts.summary[-keep:])):
            low = keep
        else:
            high = keep - 1
    return replace(parts, summary="..." + parts.summary[-low:] if low else "")
