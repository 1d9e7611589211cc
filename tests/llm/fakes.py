"""Fakes for the LLM layer's unit tests: a scripted backend and a deliberately broken chat server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sim.llm.types import ChatReply, ChatRequest


class FakeBackend:
    """Answers ``echo:<last message>:<seed>`` and remembers every batch it was sent.

    With ``samples=True`` it answers a request with ``n`` > 1 as vLLM does: ``n`` replies, seeded seed + i.
    """

    def __init__(self, model: str = "fake-model", samples: bool = False) -> None:
        self.model = model
        self.supports_samples = samples
        self.batches: list[list[ChatRequest]] = []
        self.closed = False

    def generate(self, requests: list[ChatRequest]) -> list[ChatReply]:
        self.batches.append(list(requests))
        replies = []
        for r in requests:
            samples = tuple(
                ChatReply(f"echo:{r.messages[-1]['content']}:{r.seed + i}", prompt_tokens=10, completion_tokens=3)
                for i in range(r.n)
            )
            replies.append(samples[0] if r.n == 1 else replace(samples[0], samples=samples))
        return replies

    def close(self) -> None:
        self.closed = True


def chat_completion(text: str, *more: str) -> dict[str, Any]:
    """A well-formed OpenAI chat completion body; with ``more`` texts, one choice each (choice i has i + 2 token
    ids, listed in reverse order to check the client sorts them by index)."""
    choices = [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]
    if more:
        choices = [
            {"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop",
             "token_ids": list(range(i + 2))}
            for i, t in enumerate((text, *more))
        ][::-1]
    completion = sum(len(c.get("token_ids", [0, 0])) for c in choices)
    return {
        "id": "fake",
        "object": "chat.completion",
        "choices": choices,
        "usage": {"prompt_tokens": 7, "completion_tokens": completion, "total_tokens": 7 + completion},
    }


class FakeChatServer:
    """A broken OpenAI-compatible server on 127.0.0.1, for exercising retries and error messages.

    ``script`` is consumed one entry per request: "ok" (a valid reply: ``answer(body)``, by default the
    request's seed; with ``n`` in the body, ``n`` choices answering seed + i, as vLLM seeds them), "500", "400",
    "garbage" (200 with a body that is not JSON), "drop" (close the connection without answering), "hang"
    (answer nothing for ``hang_s`` seconds, then drop). When the script runs out, ``default`` applies.
    ``/metrics`` serves fixed prefix-cache counters.
    """

    def __init__(
        self,
        script: list[str] | None = None,
        default: str = "ok",
        answer: Callable[[dict[str, Any]], str] | None = None,
        hang_s: float = 30.0,
    ) -> None:
        self.script = list(script or [])
        self.default = default
        self.answer = answer or (lambda body: f"seed={body['seed']}")
        self.hang_s = hang_s
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def next_action(self, body: dict[str, Any]) -> str:
        with self._lock:
            self.bodies.append(body)
            return self.script.pop(0) if self.script else self.default

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                text = (
                    'vllm:prefix_cache_queries_total{model_name="m"} 200.0\n'
                    'vllm:prefix_cache_hits_total{model_name="m"} 150.0\n'
                )
                self._send(200, text.encode(), "text/plain")

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                action = fake.next_action(body)
                if action == "hang":
                    time.sleep(fake.hang_s)
                if action in ("drop", "hang"):
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if action in ("500", "400", "404"):
                    self._send(int(action), b'{"error": "fake failure"}', "application/json")
                elif action == "garbage":
                    self._send(200, b"<html>surprise</html>", "text/html")
                else:
                    texts = [fake.answer({**body, "seed": body["seed"] + i}) for i in range(body.get("n", 1))]
                    reply = json.dumps(chat_completion(*texts)).encode()
                    self._send(200, reply, "application/json")

            def _send(self, status: int, payload: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler

    @contextmanager
    def running(self) -> Iterator[FakeChatServer]:
        thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._httpd.shutdown()
            self._httpd.server_close()
            thread.join()
