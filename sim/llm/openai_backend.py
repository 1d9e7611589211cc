"""OpenAI-compatible server backend (vLLM's first): a batch goes out as concurrent requests, bounded in number,
to one server or spread over several (`sim.llm.routing`)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import random
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import httpx

from sim.errors import UserError
from sim.llm.errors import LLMError, LLMUnavailable
from sim.llm.routing import PrefixRouter
from sim.llm.types import ChatReply, ChatRequest

_RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}


class _Retryable(Exception):
    """A failure worth another try: connection trouble, a timeout, a 5xx, or a body that is not a chat reply."""


def describe(request: ChatRequest) -> str:
    """Who asked, for error messages: ``agent=3, step=2, phase=act`` (its tag), or its seed when untagged."""
    return ", ".join(f"{k}={v}" for k, v in request.tag.items()) or f"(untagged, seed {request.seed})"


def server_root(base_url: str) -> str:
    """``http://host:port`` from any of ``http://host:port``, ``.../`` or ``.../v1``."""
    root = base_url.rstrip("/")
    return root.removesuffix("/v1")


def server_urls(value: str | Sequence[str] | None) -> list[str]:
    """The server roots of ``llm.base_url`` or ``--server``: one URL, several separated by commas, or a list."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    urls = [server_root(u.strip()) for u in items if u.strip()]
    for url in urls:
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port  # .port checks the number: 1 to 65535 (0 is refused below)
        except ValueError as exc:
            raise UserError(f"LLM server {url!r}: {exc} (expected a URL such as http://127.0.0.1:8000)") from None
        if parts.scheme not in ("http", "https") or not host or port == 0:
            raise UserError(f"LLM server {url!r}: expected a URL such as http://127.0.0.1:8000")
    return list(dict.fromkeys(urls))


class OpenAIBackend:
    """Chat completions against ``{url}/v1/chat/completions``, on one server or spread over several.

    Each server batches concurrent requests itself (vLLM's continuous batching), so one batch of the simulation
    becomes up to ``max_concurrency`` requests in flight per server. Structured outputs use vLLM's
    ``structured_outputs`` request field; a request with ``n`` > 1 asks for ``n`` choices (vLLM seeds the i-th
    ``seed + i``) and each choice's token ids, to count its tokens. A request with an adapter names the adapter
    as its model, as vLLM's server serves LoRA modules (``alignsim serve --adapter NAME``). With several servers,
    a `PrefixRouter` picks each request's server (prefix affinity, balance) and a request whose server fails goes
    to the next one (`sim.llm.routing`).
    """

    supports_samples = True

    def __init__(
        self,
        base_url: str | Sequence[str],
        model: str,
        *,
        max_concurrency: int = 64,
        timeout_s: float = 300.0,
        retries: int = 3,
        backoff_s: float = 0.5,
    ) -> None:
        self.model = model
        self.servers = server_urls(base_url)
        if not self.servers:
            raise UserError("the openai backend needs a server URL (llm.base_url or --server)")
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.router = PrefixRouter(self.servers, self._healthy)

    def generate(self, requests: list[ChatRequest]) -> list[ChatReply]:
        """Replies in request order; on failure the LLMError carries the replies that did arrive."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._generate(requests))
        # Called from inside an event loop (a Jupyter cell): run ours on a worker thread.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, self._generate(requests)).result()

    async def _generate(self, requests: list[ChatRequest]) -> list[ChatReply]:
        connections = self.max_concurrency * len(self.servers)
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        gates = {server: asyncio.Semaphore(self.max_concurrency) for server in self.servers}
        routes = self.router.assign(requests)  # may probe servers that were down (nothing else runs yet)
        async with httpx.AsyncClient(timeout=self.timeout_s, limits=limits) as http:

            async def one(request: ChatRequest, servers: list[str]) -> ChatReply:
                return await self._with_failover(http, gates, request, servers)

            results = await asyncio.gather(*(one(r, s) for r, s in zip(requests, routes, strict=True)),
                                           return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            first = failures[0]
            err = first if isinstance(first, LLMError) else LLMError(f"{type(first).__name__}: {first}")
            if err is not first:
                err.__cause__ = first
            err.partial = {i: r for i, r in enumerate(results) if isinstance(r, ChatReply)}
            raise err
        return list(results)  # type: ignore[arg-type]

    async def _with_failover(
        self, http: httpx.AsyncClient, gates: dict[str, asyncio.Semaphore], request: ChatRequest,
        servers: list[str],
    ) -> ChatReply:
        """Try the request's servers in order, skipping those marked down; then back off and go round again."""
        failed: dict[str, _Retryable] = {}
        for attempt in range(self.retries + 1):
            candidates = [s for s in servers if not self.router.is_down(s)] or servers
            for server in candidates:
                try:
                    async with gates[server]:
                        return await self._post(http, server, request)
                except _Retryable as err:
                    failed[server] = err
                    self.router.mark_down(server)
            if attempt < self.retries:
                await asyncio.sleep(self.backoff_s * 2**attempt * (1 + random.random() / 4))
        if len(self.servers) == 1:
            [(server, err)] = failed.items()
            raise LLMUnavailable(
                f"LLM server {server} failed {self.retries + 1} time(s) in a row for request "
                f"{describe(request)}: {err}. Is the server running (alignsim serve)?"
            ) from err
        reasons = "; ".join(f"{server}: {err}" for server, err in failed.items())
        raise LLMUnavailable(
            f"none of the {len(self.servers)} LLM servers answered request {describe(request)} in "
            f"{self.retries + 1} round(s): {reasons}. Are the servers running (alignsim serve)?"
        ) from next(reversed(failed.values()))

    async def _post(self, http: httpx.AsyncClient, server: str, request: ChatRequest) -> ChatReply:
        start = time.perf_counter()
        try:
            response = await http.post(f"{server}/v1/chat/completions", json=self.body(request))
        except httpx.TransportError as err:  # connect/read errors, dropped connections, timeouts
            raise _Retryable(f"{type(err).__name__}: {err}") from err
        if response.status_code in _RETRYABLE_STATUS:
            raise _Retryable(f"HTTP {response.status_code}: {response.text[:200]}")
        if response.status_code == 404 and request.adapter is not None:
            raise LLMError(
                f"LLM server {server} does not serve adapter {request.adapter.name!r} (request {describe(request)}): "
                f"start it with `alignsim serve --model {self.model} --adapter {request.adapter.name}`; "
                f"HTTP 404: {response.text[:200]}"
            )
        if response.status_code != 200:
            raise LLMError(
                f"LLM server {server} refused request {describe(request)} with "
                f"HTTP {response.status_code}: {response.text[:500]}"
            )
        return self._parse(response, time.perf_counter() - start)

    def body(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body of one chat completion request."""
        body: dict[str, Any] = {
            "model": request.adapter.name if request.adapter else self.model,
            "messages": list(request.messages),
            "temperature": request.sampling.temperature,
            "top_p": request.sampling.top_p,
            "max_tokens": request.sampling.max_tokens,
            "seed": request.seed,
        }
        if request.schema is not None:
            body["structured_outputs"] = {"json": request.schema}
        if request.n > 1:
            body.update(n=request.n, return_token_ids=True)
        return body

    @staticmethod
    def _parse(response: httpx.Response, latency_s: float) -> ChatReply:
        """One reply; with several choices (``n`` > 1) their replies in ``samples``, in index order."""
        try:
            data = response.json()
            choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
            texts = [c["message"]["content"] for c in choices]
            usage = data.get("usage") or {}
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as err:
            raise _Retryable(f"not a chat completion: {response.text[:200]!r}") from err
        if not texts or not all(isinstance(t, str) for t in texts):
            raise _Retryable(f"reply content is not text: {texts!r}")
        total = int(usage.get("completion_tokens") or 0)  # of all choices together
        samples = tuple(
            ChatReply(
                text=text,
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=len(choice["token_ids"]) if choice.get("token_ids") else total // len(choices),
                latency_s=latency_s,
                finish_reason=choice.get("finish_reason") or "stop",
            )
            for choice, text in zip(choices, texts, strict=True)
        )
        return samples[0] if len(samples) == 1 else replace(samples[0], samples=samples)

    def prefix_cache_counters(self) -> tuple[float, float] | None:
        """(hit tokens, queried tokens) of the servers' prefix caches, summed over their /metrics.

        None if no server answers. Two URLs naming one server count it twice, which leaves the rate unchanged.
        """
        hits, queries = "vllm:prefix_cache_hits_total", "vllm:prefix_cache_queries_total"
        totals = [0.0, 0.0]
        answered = False
        for server in self.servers:
            try:
                response = httpx.get(f"{server}/metrics", timeout=5.0)
            except httpx.HTTPError:
                continue
            counters = parse_prometheus(response.text, (hits, queries)) if response.status_code == 200 else {}
            if hits in counters and queries in counters:
                totals[0] += counters[hits]
                totals[1] += counters[queries]
                answered = True
        return (totals[0], totals[1]) if answered else None

    def _healthy(self, server: str) -> bool:
        """Whether a server marked down answers /health again."""
        try:
            return httpx.get(f"{server}/health", timeout=min(5.0, self.timeout_s)).status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        """Nothing to release: each batch opens and closes its own connection pool."""


def parse_prometheus(text: str, names: tuple[str, ...]) -> dict[str, float]:
    """Sum each named counter over its label sets (one per engine/model) in Prometheus text format."""
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        metric, _, value = line.rpartition(" ")
        name = metric.split("{", 1)[0]
        if name in names:
            try:
                totals[name] = totals.get(name, 0.0) + float(value)
            except ValueError:
                continue
    return totals
