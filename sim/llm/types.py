"""The data that crosses the LLM boundary: one batch of chat requests in, one list of replies out."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Sampling:
    """Sampling parameters of one request; part of the cache key. The defaults live in `LLMConfig`, whose
    `LLMConfig.sampling` is the one place they are merged with a caller's overrides."""

    temperature: float
    top_p: float
    max_tokens: int


def default_sampling() -> Sampling:
    """The ``llm:`` block's default sampling (for requests built by hand, e.g. in tests)."""
    from sim.llm.config import LLMConfig

    return LLMConfig().sampling()


@dataclass(frozen=True)
class AdapterRef:
    """A LoRA adapter to answer a request with (`sim.training.adapters`): its registry name, the digest of its
    files (the cache key's part: an adapter trained again recomputes its replies), its folder (where an engine
    loads it from; machine-specific, so not in the key) and its LoRA rank (what an engine must make room for)."""

    name: str
    digest: str
    path: str = field(compare=False)
    rank: int = field(default=16, compare=False)


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion to make.

    ``schema`` is a JSON schema the reply must satisfy (sent to vLLM as a structured output).
    ``tag`` says who asked and when (agent id, step, phase); it is recorded in the transcript but is
    not part of the cache key, so two agents asking the same thing with the same seed share a reply.
    ``n`` > 1 asks for that many samples, seeded ``seed``, ``seed + 1``, ... (what vLLM gives the children of
    one request): `LLMClient` sends identical requests whose seeds follow each other that way, never the cache.
    ``adapter`` answers with a LoRA adapter on the model instead of the model alone; it is part of the key.
    """

    messages: tuple[dict[str, str], ...]
    seed: int
    schema: dict[str, Any] | None = None
    sampling: Sampling = field(default_factory=default_sampling)
    tag: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    n: int = 1
    adapter: AdapterRef | None = None

    def cache_key(self, model: str) -> str:
        """Stable hash of (model, adapter, messages, schema, sampling params, seed); without an adapter, the
        key it had before adapters existed, so recorded caches replay."""
        return self._hash(model, self.seed)

    def prompt_key(self, model: str) -> str:
        """Stable hash of (model, adapter, messages, schema, sampling params): what requests differing only in seed
        share."""
        return self._hash(model, None)

    def _hash(self, model: str, seed: int | None) -> str:
        sampling = (self.sampling.temperature, self.sampling.top_p, self.sampling.max_tokens)
        adapter = None if self.adapter is None else (self.adapter.name, self.adapter.digest)
        return request_hash(model, self.messages, self.schema, sampling, seed, adapter)


def request_hash(
    model: str,
    messages: Sequence[dict[str, str]],
    schema: dict[str, Any] | None,
    sampling: tuple[float, float, int],
    seed: int | None,
    adapter: tuple[str, str] | None = None,
) -> str:
    """`ChatRequest.cache_key` (``seed`` None: `ChatRequest.prompt_key`) from a request's parts, e.g. as a run's
    transcript records them; ``sampling`` is (temperature, top_p, max_tokens), ``adapter`` (name, digest). A
    request without an adapter hashes as before adapters existed, so older caches still replay."""
    payload: dict[str, Any] = {"model": model, "messages": list(messages), "schema": schema, "sampling": list(sampling)}
    if seed is not None:
        payload["seed"] = seed
    if adapter is not None:
        payload["adapter"] = list(adapter)
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class ChatReply:
    """What came back for one request, and what it cost."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    finish_reason: str = "stop"
    cached: bool = False
    samples: tuple[ChatReply, ...] = field(default=(), compare=False, repr=False)


class Backend(Protocol):
    """Anything that turns a batch of requests into replies, in order.

    A backend whose ``supports_samples`` is true answers a request with ``n`` > 1 by one reply whose ``samples``
    holds the ``n`` replies, in seed order; the client sends such requests to no other backend.
    """

    model: str

    def generate(self, requests: list[ChatRequest]) -> list[ChatReply]: ...

    def close(self) -> None: ...


# Seeds are derived below 2**31 - 1 - SEED_SPAN, so that a derived seed plus an offset under SEED_SPAN (the i-th of
# k samples, the i-th of identical questions: what vLLM gives the children of one request with n samples) is
# still a valid seed for every backend.
SEED_SPAN = 2**16


def derive_seed(
    run_seed: int,
    step: int,
    phase: str,
    purpose: str,
    agent: int | None = None,
    attempt: int = 0,
    round_: int = 0,
) -> int:
    """Seed of one LLM question, from (run seed, step, phase, round, purpose, agent, re-ask attempt).

    A hash, not a sum: neighbouring agents and steps get unrelated streams. ``purpose`` (decision, summary,
    verdict, plan, ...) keeps apart two questions of the same phase about the same agent, e.g. a principal's
    decision to sue and the court's verdict on that suit.
    """
    blob = f"{run_seed}:{step}:{phase}:{round_}:{purpose}:{agent}:{attempt}".encode()
    return int.from_bytes(hashlib.blake2b(blob, digest_size=8).digest(), "big") % (2**31 - 1 - SEED_SPAN)
