"""Errors of the LLM layer.

The CLI prints an `LLMError` as one message with no traceback and exits with status 3 (`EXIT_LLM`); when the
error is `resumable` and replies were cached, it adds that running the same command again continues from
the cache. `ReplayMiss` is a user error instead (exit 2): the scenario changed, not the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.errors import UserError

if TYPE_CHECKING:
    from sim.llm.types import ChatReply

EXIT_LLM = 3


class LLMError(RuntimeError):
    """The LLM backend failed after its retries (engine died, server unreachable, malformed replies).

    ``partial`` maps positions in the failed batch to the replies that did arrive; the client caches them
    before re-raising, and records the cache's file in ``cache`` (None when caching is off).
    ``resumable`` says whether the fault lies with the server or engine rather than the request: then the
    same command, run again, continues where this one stopped.
    """

    resumable = False

    def __init__(self, message: str, partial: dict[int, ChatReply] | None = None) -> None:
        super().__init__(message)
        self.partial: dict[int, ChatReply] = dict(partial or {})
        self.cache: str | None = None


class LLMUnavailable(LLMError):
    """No server or engine could answer (unreachable, died, timing out, 5xx after retries): try again later."""

    resumable = True


class ReplayMiss(LLMError, UserError):
    """Replay mode met a request the cache has never seen (something in the scenario or prompts changed)."""
