"""FakeLLMClient: the real `LLMClient` (accounting, transcript) in front of a scripted backend, no engine."""

from __future__ import annotations

import json
from collections.abc import Callable

from sim.llm.client import LLMClient
from sim.llm.types import ChatReply, ChatRequest

Answer = Callable[[ChatRequest], str]


def commons_answer(request: ChatRequest) -> str:
    """A well-behaved fisher: catches 5 tons, says so, summarises briefly; fills any other field with 0."""
    props = request.schema["properties"] if request.schema else {}
    reply: dict[str, object] = {}
    for name, spec in props.items():
        if name == "fish":
            reply[name] = min(5, spec.get("maximum", 5))
        elif name == "message":
            reply[name] = f"agent {request.tag.get('agent')}: I will catch 5"
        elif name == "summary":
            reply[name] = "We each caught 5 tons."
        else:
            reply[name] = 0 if spec.get("type") == "integer" else ""
    return json.dumps(reply)


class ScriptedBackend:
    """Answers each request with ``answer(request)`` and remembers every batch it was sent."""

    def __init__(self, answer: Answer, model: str = "fake-model") -> None:
        self.model = model
        self.answer = answer
        self.batches: list[list[ChatRequest]] = []

    def generate(self, requests: list[ChatRequest]) -> list[ChatReply]:
        self.batches.append(list(requests))
        return [ChatReply(self.answer(r), prompt_tokens=100, completion_tokens=5) for r in requests]

    def close(self) -> None:
        pass


class FakeLLMClient(LLMClient):
    """An `LLMClient` whose engine is a script: what the simulation sends is in ``sent``."""

    backend: ScriptedBackend

    def __init__(self, answer: Answer = commons_answer) -> None:
        super().__init__(ScriptedBackend(answer), cache=None, backend_name="fake")

    @property
    def sent(self) -> list[list[ChatRequest]]:
        """Every batch that reached the engine, in order."""
        return self.backend.batches
