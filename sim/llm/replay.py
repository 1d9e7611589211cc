"""Replay backend: the cache is the only source of replies, so a rerun is exact and needs no engine."""

from __future__ import annotations

from sim.llm.errors import ReplayMiss
from sim.llm.types import ChatReply, ChatRequest


class ReplayBackend:
    """Answers nothing itself: the client serves hits from the cache and sends only misses here."""

    def __init__(self, model: str, cache_path: str) -> None:
        self.model = model
        self.cache_path = cache_path

    def generate(self, requests: list[ChatRequest]) -> list[ChatReply]:
        """Every request that reaches a replay backend is a miss: name the first one and how many there are."""
        if not requests:
            return []
        first = requests[0]
        who = ", ".join(f"{k}={v}" for k, v in first.tag.items()) or "untagged request"
        raise ReplayMiss(
            f"replay: {len(requests)} request(s) are not in the cache {self.cache_path} for model {self.model!r}; "
            f"first: {who}, seed={first.seed}, last message {first.messages[-1]['content'][:80]!r}. "
            "The prompts, schema, sampling or seeds differ from the recorded run; record again with backend vllm "
            "or openai."
        )

    def close(self) -> None:
        """Nothing to release."""
