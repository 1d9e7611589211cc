"""Errors of the LLM layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.errors import UserError

if TYPE_CHECKING:
    from sim.llm.types import ChatReply


class LLMError(RuntimeError):
    """The LLM backend failed after its retries (engine died, server unreachable, malformed replies).

    ``partial`` maps positions in the failed batch to the replies that did arrive; the client caches them
    before re-raising, so re-running the same command continues where it stopped.
    """

    def __init__(self, message: str, partial: dict[int, ChatReply] | None = None) -> None:
        super().__init__(message)
        self.partial: dict[int, ChatReply] = dict(partial or {})


class ReplayMiss(LLMError, UserError):
    """Replay mode met a request the cache has never seen (something in the scenario or prompts changed)."""
