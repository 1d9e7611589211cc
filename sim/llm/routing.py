"""Which server answers which request, when a run has several: prefix affinity, balance, and servers marked down.

vLLM's prefix cache lives inside each server. A request whose prompt starts like an earlier one is cheap on
the server that computed the earlier one, and costs the whole prefill anywhere else. So:

- **Prefix key.** Requests are grouped by the first `PREFIX_CHARS` characters of their conversation (roles and
  contents, in order). Prompts put what a phase's agents share first, so one phase is usually one group; where
  the shared part is shorter, each agent is its own group, and its prompt at the next step, which extends this
  one, has the same key.
- **Affinity.** Each key ranks the servers by rendezvous hashing (highest `blake2b(key, url)` first): the same
  key prefers the same server in every batch, every run and every sweep cell, and when a server goes down only
  the keys it was first for move (to their second choice).
- **Balance.** A batch is split so that no server gets more than its fair share, ``ceil(n / live servers)``
  requests: each group fills its first-choice server up to that share and spills the rest to its next choices.
  So many small groups stay whole, each on its own server, while one big group sharing a prefix (a whole
  phase) is cut into one contiguous run per server: every server pays for the prefix once and then hits its
  cache, and all of them work. Within a group, batch order decides who goes where, and batches list agents in
  the same order every step, so an agent keeps its server.
- **Down servers.** A server whose request fails with a retryable error is marked down for `DOWN_S` seconds:
  its requests go to the next server of their ranking, and new batches avoid it. Once the time is up, a
  /health probe decides whether it takes requests again. If every server is down, all are tried anyway.

Routing decides only where a request is computed, never what it asks: each request carries its own seed, so
its reply is the same whichever server computes it, and so are a run's tables, with one server or several.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence

from sim.llm.types import ChatRequest

PREFIX_CHARS = 1024
DOWN_S = 30.0


def prefix_key(request: ChatRequest, chars: int = PREFIX_CHARS) -> str:
    """The first ``chars`` characters of the conversation as the server sees it (roles and contents)."""
    parts, length = [], 0
    for message in request.messages:
        part = f"<{message.get('role', '')}>{message.get('content', '')}"
        parts.append(part)
        length += len(part)
        if length >= chars:
            break
    return "".join(parts)[:chars]


def ranking(key: str, servers: Sequence[str]) -> list[str]:
    """``servers`` in the order ``key`` prefers them (rendezvous hashing: stable, and minimal moves on change)."""

    def weight(server: str) -> bytes:
        return hashlib.blake2b(f"{server}\n{key}".encode(), digest_size=8).digest()

    return sorted(servers, key=weight, reverse=True)


class PrefixRouter:
    """Assigns a batch's requests to servers (see the module docstring) and remembers which servers are down."""

    def __init__(
        self, servers: Sequence[str], probe: Callable[[str], bool], down_s: float = DOWN_S
    ) -> None:
        self.servers = list(dict.fromkeys(servers))
        self.probe = probe
        self.down_s = down_s
        self._down_until: dict[str, float] = {}

    def live(self) -> list[str]:
        """Servers not marked down; a server whose down time is over is probed first. All of them if none."""
        now = time.monotonic()
        for server, until in list(self._down_until.items()):
            if until <= now:
                if self.probe(server):
                    del self._down_until[server]
                else:
                    self._down_until[server] = now + self.down_s
        up = [s for s in self.servers if s not in self._down_until]
        return up or list(self.servers)

    def mark_down(self, server: str) -> None:
        self._down_until[server] = time.monotonic() + self.down_s

    def is_down(self, server: str) -> bool:
        return server in self._down_until

    def assign(self, requests: Sequence[ChatRequest]) -> list[list[str]]:
        """For each request, the servers to try in order: its assigned server first, then its key's ranking."""
        if len(self.servers) == 1:
            return [list(self.servers) for _ in requests]
        live = self.live()
        share = math.ceil(len(requests) / len(live)) if requests else 0
        load = dict.fromkeys(live, 0)
        groups: dict[str, list[int]] = {}
        for i, request in enumerate(requests):
            groups.setdefault(prefix_key(request), []).append(i)
        order: list[list[str]] = [[] for _ in requests]
        for key, members in sorted(groups.items(), key=lambda g: (-len(g[1]), g[1][0])):
            fallback = ranking(key, self.servers)
            preference = [s for s in fallback if s in load]
            for i in members:
                first = next(s for s in preference if load[s] < share)
                load[first] += 1
                order[i] = [first, *(s for s in fallback if s != first)]
        return order
