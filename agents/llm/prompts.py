"""An LLM agent's chat: its parts, rendered with the group's templates and fitted into the model's context window.

Every chat is ordered so that vLLM's prefix cache can reuse what the agents of a phase share (``llm.prompt_layout``
``shared_first``, the default):

    system: the scenario and institution rules (identical bytes for every agent) -> the group's persona
    user:   the phase's instruction -> the public state (JSON) -> in a complete network, the step's conversation
            (every message reached every other agent)   [rendered once per phase: identical bytes across the batch]
            -> what the agent's group sees (JSON; the public goods game's groups)  [once per group]
            -> the agent's id -> its memory (oldest first, so it grows by appending) -> its private state (JSON)
            -> the messages it received (elsewhere than in a complete network; nothing when no one talks)

The answer's JSON schema is not spelled out: vLLM's structured output enforces it, and without its text the
prompts cost fewer tokens, share more, and were valid as often or more (benchmarks/prompt_cost.py; the ``own``
template may still name ``$schema``). The layout before it (``agent_first``: id, memory, whole observation,
messages, instruction, schema) is kept only for the before/after comparison of benchmarks/prompt_cost.py.

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
    lines.extend(f"- step {e.step}: {e.text}" if e.kind == "outcome" else f"- step {e.step} ({e.kind}): {e.text}"
                 for e in entries)
    return "\n".join(lines)


NO_MESSAGES = "You have received no messages."


def render_messages(messages: Sequence[str], empty: str = NO_MESSAGES) -> str:
    if not messages:
        return empty
    return "\n".join(["Messages you received:", *(f"- {m}" for m in messages)])


def render_conversation(lines: Sequence[str]) -> str:
    """What every agent heard this step (a complete network), as one block of the shared part; empty if nothing."""
    if not lines:
        return ""
    return "\n".join(["What was said to everyone this step:", *(f"- {line}" for line in lines)])


def render_local(local: Mapping[str, Any]) -> str:
    """What the agent's group sees alike, as one block of the shared part (after what everyone sees); empty if the
    game has no groups."""
    return f"What your group observes (JSON):\n{state_json(local)}" if local else ""


def observation_json(agent_id: int, public: Mapping[str, Any], private: Mapping[str, Any]) -> str:
    """The whole observation as compact, key-sorted JSON (the agent-first layout)."""
    return state_json({"you": agent_id, "public": dict(public), "private": dict(private)})


def state_json(state: Mapping[str, Any]) -> str:
    """Public or private state as compact, key-sorted JSON: the same state always gives the same bytes.

    Numbers as a person would write them: floats to 10 significant digits, which keeps every payoff and drops the
    binary noise of a sum (12.600000000000001 reads 12.6), and no spaces after separators. Both cost tokens in
    every agent's own part, where the prefix cache cannot help (benchmarks/prompt_cost.py).
    """
    return json.dumps(readable(dict(state)), sort_keys=True, separators=(",", ":"), default=str)


def readable(value: Any) -> Any:
    """``value`` with every float rounded to 10 significant digits (JSON then writes the shortest text of it)."""
    if isinstance(value, float):
        return float(f"{value:.10g}")
    if isinstance(value, Mapping):
        return {key: readable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [readable(item) for item in value]
    return value


@dataclass(frozen=True)
class ChatParts:
    """The pieces of one agent's chat before they are fitted into the context window (a `sim.llm.prompts.Prompt`).

    The user message is ``shared`` (the start the whole phase shares, rendered once for it; empty in the
    agent-first layout), then ``template`` rendered with ``values`` and the agent's id, memory and messages:
    ``own`` for a decision, ``user`` for a decision in the agent-first layout, ``summary`` for a memory summary.
    ``memory`` is oldest first; ``messages`` in the order they arrived (``no_messages`` is said when there are
    none: nothing, where the shared part already lists every message of the step).
    """

    templates: PromptTemplates
    system: str
    agent_id: int
    summary: str
    memory: tuple[MemoryEntry, ...]
    messages: tuple[str, ...]
    template: str
    values: Mapping[str, Any] = field(default_factory=dict)
    shared: str = ""
    no_messages: str = NO_MESSAGES

    def fit(self, budget: ContextBudget) -> tuple[str, str]:
        return fit_to_context(self, budget)

    def own(self) -> str:
        """The agent's own part of the user message."""
        values = {
            **self.values,
            "agent_id": self.agent_id,
            "memory": render_memory(self.summary, self.memory),
            "messages": render_messages(self.messages, self.no_messages),
        }
        return self.templates.render(self.template, values, tidy=self.template == "own")

    def user(self) -> str:
        return self.user_with(self.own())

    def user_with(self, own: str) -> str:
        """The user message with ``own`` as the agent's part: the phase's shared start, then ``own``."""
        return f"{self.shared}\n\n{own}" if self.shared else own


def fit_to_context(parts: ChatParts, budget: ContextBudget) -> tuple[str, str]:
    """(system, user) texts whose estimated tokens fit the budget.

    The trimming rule, applied only as far as needed: drop the oldest memory entries, one at a time; then the
    oldest messages received; then cut the memory summary from its start. The rules, persona, observation,
    instruction and schema are never cut: if they alone do not fit, the context is too small for the scenario,
    and that is a `UserError` naming the numbers.
    """
    limit = budget.prompt_tokens
    fixed = estimate_tokens(parts.system) + (estimate_tokens(parts.shared) + 2 if parts.shared else 0)

    def fitted(candidate: ChatParts) -> str | None:
        """The candidate's own part if the whole chat fits, else None (each candidate is rendered once)."""
        own = candidate.own()
        return own if fixed + estimate_tokens(own) <= limit else None

    def chat(own: str) -> tuple[str, str]:
        return parts.system, parts.user_with(own)

    if (own := fitted(parts)) is not None:
        return chat(own)
    bare = replace(parts, memory=(), messages=(), summary="")
    if fitted(bare) is None:
        need = fixed + estimate_tokens(bare.own())
        what = f"the LLM prompt of agent {parts.agent_id} before any memory or message"
        raise UserError(too_small(need, budget, what))
    trimmed, own = parts, None
    while own is None and trimmed.memory:
        trimmed = replace(trimmed, memory=trimmed.memory[1:])
        own = fitted(trimmed)
    while own is None and trimmed.messages:
        trimmed = replace(trimmed, messages=trimmed.messages[1:])
        own = fitted(trimmed)
    if own is None:
        own = _cut_summary(trimmed, lambda candidate: fitted(candidate) is not None).own()
    return chat(own)


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
