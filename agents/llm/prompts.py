"""Prompt templates and the assembly of one chat, fitted into the model's context window.

Every chat is ordered so that vLLM's prefix cache can reuse its common part across agents:

    system: the scenario and institution rules (identical bytes for every agent) -> the group's persona
    user:   the agent's id and memory -> what it observes now (JSON) -> messages received -> the phase's
            instruction -> the JSON schema of the answer

Templates are plain text files with ``$name`` placeholders (`string.Template`), so JSON braces in them need no
escaping. The defaults live in ``agents/llm/templates/``; an environment may refine any of them in a folder named
after it (``templates/commons/act.txt``); a scenario overrides any of them with a file of its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from string import Template
from typing import Any, Literal

from agents.memory import MemoryEntry
from sim.errors import UserError

TEMPLATES_DIR = Path(__file__).parent / "templates"

TemplateName = Literal["system", "user", "act", "talk", "phase", "universalization", "summary"]
TEMPLATE_NAMES: tuple[str, ...] = TemplateName.__args__

# Placeholders each whole-message template may use; instruction templates (act, talk, phase, universalization)
# may also name any scalar of the observation's public state (e.g. $month, $stock in the commons).
MESSAGE_PLACEHOLDERS: dict[str, frozenset[str]] = {
    "system": frozenset({"rules", "persona"}),
    "user": frozenset({"agent_id", "memory", "observation", "messages", "instruction", "schema"}),
    "summary": frozenset({"agent_id", "memory", "schema", "max_chars"}),
}

# Tokens held back from the context window beyond the reply: the chat template's role markers (14 tokens for a
# system + user chat with SmolLM2's template) and the note a re-ask appends to the user message.
CHAT_TEMPLATE_RESERVE = 32
REASK_RESERVE = 160


def estimate_tokens(text: str) -> int:
    """An upper estimate of a text's token count that does not depend on which tokenizer is installed.

    Prompts must be the same bytes on every machine (they are cache keys), so trimming cannot use a tokenizer
    that may be absent. Byte-level BPE tokenizers give digits and punctuation a token each at worst and merge
    letters into words; so: one token per non-letter ASCII character, one per UTF-8 byte of anything else,
    and one per two ASCII letters. On SmolLM2's tokenizer this overestimates English by about 2x and is exact
    for digit strings (tests/test_prompts.py checks it against the real tokenizer).
    """
    letters = sum(c.isascii() and c.isalpha() for c in text)
    other_ascii = sum(c.isascii() and not c.isalpha() for c in text)
    other_bytes = len(text.encode("utf-8")) - letters - other_ascii
    return (letters + 1) // 2 + other_ascii + other_bytes


@dataclass(frozen=True)
class PromptTemplates:
    """The text templates of one LLM group, each remembered with the file it came from (for error messages)."""

    texts: Mapping[str, Template]
    sources: Mapping[str, str]

    @classmethod
    def load(cls, environment: str, overrides: Mapping[str, str] | None = None) -> PromptTemplates:
        """Defaults, refined by the environment's folder, replaced by ``overrides`` (name -> file path)."""
        texts: dict[str, Template] = {}
        sources: dict[str, str] = {}
        for name in TEMPLATE_NAMES:
            path = Path((overrides or {}).get(name) or _default_template(environment, name))
            texts[name] = Template(path.read_text(encoding="utf-8").strip())
            sources[name] = str(path)
        templates = cls(texts, sources)
        templates.check()
        return templates

    def check(self) -> None:
        """Whole-message templates may only use their known placeholders: a typo is an error before the run."""
        for name, allowed in MESSAGE_PLACEHOLDERS.items():
            template = self.texts[name]
            if not template.is_valid():
                raise UserError(f"prompt template {self.sources[name]}: a '$' that is not a placeholder (write $$)")
            unknown = set(template.get_identifiers()) - allowed
            if unknown:
                raise UserError(
                    f"prompt template {self.sources[name]}: unknown placeholder(s) "
                    f"{', '.join('$' + u for u in sorted(unknown))}; {name} may use "
                    f"{', '.join('$' + a for a in sorted(allowed))}"
                )

    def render(self, name: str, values: Mapping[str, Any]) -> str:
        try:
            return self.texts[name].substitute(values).strip()
        except KeyError as missing:
            raise UserError(
                f"prompt template {self.sources[name]}: placeholder ${missing.args[0]} has no value here; "
                f"available: {', '.join('$' + k for k in sorted(values))}"
            ) from None
        except ValueError as err:
            raise UserError(f"prompt template {self.sources[name]}: {err} (write $$ for a literal $)") from None


def _default_template(environment: str, name: str) -> Path:
    refined = TEMPLATES_DIR / environment / f"{name}.txt"
    return refined if refined.is_file() else TEMPLATES_DIR / f"{name}.txt"


@dataclass(frozen=True)
class ContextBudget:
    """How many prompt tokens fit: the model's context less the reply's ``max_tokens`` and the reserves."""

    max_model_len: int
    max_tokens: int

    @property
    def prompt_tokens(self) -> int:
        return self.max_model_len - self.max_tokens - CHAT_TEMPLATE_RESERVE - REASK_RESERVE


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


def schema_json(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class ChatParts:
    """The pieces of one decision chat before they are fitted into the context window.

    ``memory`` is oldest first; ``messages`` in the order they arrived.
    """

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

    def user(self, templates: PromptTemplates) -> str:
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
        return templates.render(self.template, values)


def fit_to_context(parts: ChatParts, templates: PromptTemplates, budget: ContextBudget) -> tuple[str, str]:
    """(system, user) texts whose estimated tokens fit the budget.

    The trimming rule, applied only as far as needed: drop the oldest memory entries, one at a time; then the
    oldest messages received; then cut the memory summary from its start. The rules, persona, observation,
    instruction and schema are never cut: if they alone do not fit, the context is too small for the scenario,
    and that is a `UserError` naming the numbers.
    """
    limit = budget.prompt_tokens
    fixed = estimate_tokens(parts.system)

    def fits(candidate: ChatParts) -> bool:
        return fixed + estimate_tokens(candidate.user(templates)) <= limit

    if fits(parts):
        return parts.system, parts.user(templates)
    bare = replace(parts, memory=(), messages=(), summary="")
    if not fits(bare):
        need = fixed + estimate_tokens(bare.user(templates))
        raise UserError(
            f"the LLM prompt of agent {parts.agent_id} needs about {need} tokens before any memory or message, "
            f"but llm.max_model_len {budget.max_model_len} leaves {limit} for the prompt after max_tokens "
            f"{budget.max_tokens} and {CHAT_TEMPLATE_RESERVE + REASK_RESERVE} reserved: raise llm.max_model_len"
        )
    trimmed = parts
    while trimmed.memory and not fits(trimmed):
        trimmed = replace(trimmed, memory=trimmed.memory[1:])
    while trimmed.messages and not fits(trimmed):
        trimmed = replace(trimmed, messages=trimmed.messages[1:])
    if not fits(trimmed):
        trimmed = _cut_summary(trimmed, fits)
    return trimmed.system, trimmed.user(templates)


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
