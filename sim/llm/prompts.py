"""Prompt templates, the token estimate and the context budget: what every LLM question is rendered and fitted with.

Templates are plain text files with ``$name`` placeholders (`string.Template`), so JSON braces in them need no
escaping. A template NAME is looked up, for the scenario's environment ENV, as: the scenario's own file for NAME
(``policy.templates.NAME``), else ``templates/ENV/NAME.txt``, else ``templates/NAME.txt``. A phase's instruction is
the template named after the phase, and where no file of that name exists the generic ``phase`` template, looked
up the same way: so ``public_goods/sanction.txt`` is the punishment prompt, ``market/vote.txt`` the ballot, and an
institution phase with no prompt of its own gets ``phase.txt``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any, Protocol

from sim.errors import UserError
from sim.yaml_loader import read_text

TEMPLATES_DIR = Path(__file__).parent / "templates"
BLANK_RUNS = re.compile(r"\n{3,}")  # what an empty placeholder leaves between paragraphs: one blank line is kept
GENERIC_INSTRUCTION = "phase"

# Placeholders each whole-message template may use; instruction templates (one per phase, universalization) may
# name any scalar of the observation's public state (e.g. $month, $stock in the commons).
MESSAGE_PLACEHOLDERS: dict[str, frozenset[str]] = {
    "system": frozenset({"rules", "persona"}),
    "shared": frozenset({"instruction", "public", "conversation", "local"}),
    "own": frozenset({"agent_id", "memory", "private", "messages", "schema"}),
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
    """The templates one caller renders with: the environment's refinements and the scenario's own files.

    Files are read on first use and kept; the message templates are read and checked when loaded, so a typo in a
    placeholder is an error before the run.
    """

    environment: str
    overrides: Mapping[str, str] = field(default_factory=dict)
    _loaded: dict[str, tuple[Template, str]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, environment: str, overrides: Mapping[str, str] | None = None) -> PromptTemplates:
        templates = cls(environment, dict(overrides or {}))
        templates.check()
        return templates

    def check(self) -> None:
        """Every overriding file is well-formed; whole-message templates use only their known placeholders."""
        for name in {*self.overrides, *MESSAGE_PLACEHOLDERS}:
            template, source = self.template(name)
            if not template.is_valid():
                raise UserError(f"prompt template {source}: a '$' that is not a placeholder (write $$)")
            allowed = MESSAGE_PLACEHOLDERS.get(name)
            unknown = set(template.get_identifiers()) - allowed if allowed is not None else set()
            if unknown:
                raise UserError(
                    f"prompt template {source}: unknown placeholder(s) "
                    f"{', '.join('$' + u for u in sorted(unknown))}; {name} may use "
                    f"{', '.join('$' + a for a in sorted(allowed or ()))}"
                )

    def path(self, name: str) -> Path | None:
        """The file NAME resolves to: the scenario's, the environment's refinement, the default; None if none."""
        if name in self.overrides:
            return Path(self.overrides[name])
        for candidate in (TEMPLATES_DIR / self.environment / f"{name}.txt", TEMPLATES_DIR / f"{name}.txt"):
            if candidate.is_file():
                return candidate
        return None

    def template(self, name: str) -> tuple[Template, str]:
        """(template, the file it came from) for NAME; a name with no file at all is a UserError."""
        if name not in self._loaded:
            path = self.path(name)
            if path is None:
                raise UserError(f"no prompt template named {name!r} for environment {self.environment!r}")
            self._loaded[name] = (Template(read_text(path, "prompt template").strip()), str(path))
        return self._loaded[name]

    def render(self, name: str, values: Mapping[str, Any], tidy: bool = False) -> str:
        """NAME filled with ``values``; ``tidy`` closes the runs of blank lines an empty placeholder leaves."""
        template, source = self.template(name)
        try:
            text = template.substitute(values)
            return (BLANK_RUNS.sub("\n\n", text) if tidy else text).strip()
        except KeyError as missing:
            raise UserError(
                f"prompt template {source}: placeholder ${missing.args[0]} has no value here; "
                f"available: {', '.join('$' + k for k in sorted(values))}"
            ) from None
        except ValueError as err:
            raise UserError(f"prompt template {source}: {err} (write $$ for a literal $)") from None

    def instruction(self, phase: str, values: Mapping[str, Any]) -> str:
        """The instruction of ``phase``: its own template where one exists, else the generic one."""
        return self.render(phase if self.path(phase) is not None else GENERIC_INSTRUCTION, values)


@dataclass(frozen=True)
class ContextBudget:
    """How many prompt tokens fit: the model's context less the reply's ``max_tokens`` and the reserves."""

    max_model_len: int
    max_tokens: int

    @property
    def prompt_tokens(self) -> int:
        return self.max_model_len - self.max_tokens - CHAT_TEMPLATE_RESERVE - REASK_RESERVE


class Prompt(Protocol):
    """A chat that knows how to fit itself into a budget: (system message, user message)."""

    def fit(self, budget: ContextBudget) -> tuple[str, str]: ...


@dataclass(frozen=True)
class FixedPrompt:
    """A chat with nothing to trim (an institution's question): it fits whole, or the context is too small."""

    system: str
    user: str

    def fit(self, budget: ContextBudget) -> tuple[str, str]:
        need = estimate_tokens(self.system) + estimate_tokens(self.user)
        if need > budget.prompt_tokens:
            raise UserError(too_small(need, budget, f"the LLM prompt {self.user[:40]!r}..."))
        return self.system, self.user


def too_small(need: int, budget: ContextBudget, what: str) -> str:
    """The message for a prompt that cannot fit, naming the numbers and the setting to raise."""
    return (
        f"{what} needs about {need} tokens, but llm.max_model_len {budget.max_model_len} leaves "
        f"{budget.prompt_tokens} for the prompt after max_tokens {budget.max_tokens} and "
        f"{CHAT_TEMPLATE_RESERVE + REASK_RESERVE} reserved: raise llm.max_model_len"
    )


def schema_json(schema: Mapping[str, Any]) -> str:
    """A JSON schema as compact, key-sorted text (for a prompt)."""
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))
