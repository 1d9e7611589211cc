"""LLMClient: one entry point for the simulation: cache first, one backend batch for the misses, accounting."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sim.errors import UserError
from sim.llm.cache import ReplyCache
from sim.llm.config import LLMConfig
from sim.llm.errors import LLMError
from sim.llm.types import Backend, ChatReply, ChatRequest

TranscriptSink = Callable[[dict[str, Any]], None]
ProgressHook = Callable[[int, int], None]


class LLMClient:
    """Backend + cache + accounting.

    Token counts and ``llm_seconds`` are what the backend computed in this process; cache hits cost none.
    ``on_progress(done, total)``, when set (a dashboard, a progress bar), is called for every batch: when it
    starts (``done`` = the replies the cache already had), and when all ``total`` replies are in.
    """

    def __init__(
        self,
        backend: Backend,
        cache: ReplyCache | None = None,
        transcript: TranscriptSink | None = None,
        backend_name: str = "",
    ) -> None:
        self.backend = backend
        self.cache = cache
        self.transcript = transcript
        self.backend_name = backend_name or type(backend).__name__
        self.requests = 0
        self.cache_hits = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.llm_seconds = 0.0
        self.batches = 0
        self.on_progress: ProgressHook | None = None

    @property
    def model(self) -> str:
        return self.backend.model

    def chat(self, requests: list[ChatRequest]) -> list[ChatReply]:
        """Replies in request order. Misses go to the backend as one batch (identical requests sent once)."""
        if not requests:
            return []
        replies: list[ChatReply | None] = (
            self.cache.get_many(self.model, requests) if self.cache else [None] * len(requests)
        )
        hits = sum(r is not None for r in replies)
        self.requests += len(requests)
        self.cache_hits += hits
        self._progress(hits, len(requests))
        pending = self._unique_misses(requests, replies)
        if pending:
            fresh = self._ask_backend([requests[i[0]] for i in pending])
            for positions, reply in zip(pending, fresh, strict=True):
                for i in positions:
                    replies[i] = reply
        done: list[ChatReply] = [r for r in replies if r is not None]
        self._progress(len(done), len(requests))
        if self.transcript is not None:
            for request, reply in zip(requests, done, strict=True):
                self.transcript(transcript_record(request, reply))
        return done

    def _progress(self, done: int, total: int) -> None:
        if self.on_progress is not None:
            self.on_progress(done, total)

    def _unique_misses(self, requests: list[ChatRequest], replies: list[ChatReply | None]) -> list[list[int]]:
        """Positions of the misses, grouped by cache key so that duplicates cost one generation."""
        groups: dict[str, list[int]] = {}
        for i, (request, reply) in enumerate(zip(requests, replies, strict=True)):
            if reply is None:
                groups.setdefault(request.cache_key(self.model), []).append(i)
        return list(groups.values())

    def _ask_backend(self, batch: list[ChatRequest]) -> list[ChatReply]:
        start = time.perf_counter()
        try:
            fresh = self.backend.generate(batch)
        except LLMError as err:
            self._store([(batch[i], reply) for i, reply in sorted(err.partial.items())])
            err.cache = str(self.cache.path) if self.cache is not None else None
            raise
        except UserError:
            raise
        except Exception as err:  # e.g. the engine failing to start: one kind of error for every LLM failure
            raise LLMError(f"the {self.backend_name} backend failed: {type(err).__name__}: {err}") from err
        finally:
            self.llm_seconds += time.perf_counter() - start
            self.batches += 1
        if len(fresh) != len(batch):
            raise LLMError(f"backend {self.backend_name} returned {len(fresh)} replies for {len(batch)} requests")
        self._store(list(zip(batch, fresh, strict=True)))
        return fresh

    def _store(self, pairs: list[tuple[ChatRequest, ChatReply]]) -> None:
        for _, reply in pairs:
            self.prompt_tokens += reply.prompt_tokens
            self.completion_tokens += reply.completion_tokens
        if self.cache is not None and pairs:
            self.cache.put_many(self.model, pairs)

    def stats(self) -> dict[str, Any]:
        """Accounting for manifest.json (and the progress bar)."""
        computed = self.requests - self.cache_hits
        out: dict[str, Any] = {
            "backend": self.backend_name,
            "model": self.model,
            "requests": self.requests,
            "cache_hits": self.cache_hits,
            "batches": self.batches,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "llm_seconds": round(self.llm_seconds, 3),
            "requests_per_s": round(computed / self.llm_seconds, 3) if self.llm_seconds > 0 else None,
        }
        counters = getattr(self.backend, "prefix_cache_counters", None)
        hits_queries = counters() if callable(counters) else None
        if hits_queries is not None and hits_queries[1] > 0:
            out["prefix_cache_hit_rate"] = round(hits_queries[0] / hits_queries[1], 4)
        return out

    def close(self) -> None:
        """Stop the backend (an in-process engine frees its memory) and close the cache."""
        self.backend.close()
        if self.cache is not None:
            self.cache.close()

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def transcript_record(request: ChatRequest, reply: ChatReply) -> dict[str, Any]:
    """One JSONL line of the run's LLM transcript."""
    return {
        **request.tag,
        "seed": request.seed,
        "messages": list(request.messages),
        "schema": request.schema,
        "reply": reply.text,
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "finish_reason": reply.finish_reason,
        "cached": reply.cached,
    }


class LazyBackend:
    """Builds the real backend on the first batch that needs it, so a fully cached rerun never starts an engine."""

    def __init__(self, model: str, build: Callable[[], Backend]) -> None:
        self.model = model
        self._build = build
        self._backend: Backend | None = None

    @property
    def started(self) -> bool:
        return self._backend is not None

    def generate(self, requests: list[ChatRequest]) -> list[ChatReply]:
        if not requests:
            return []
        if self._backend is None:
            self._backend = self._build()
        return self._backend.generate(requests)

    def prefix_cache_counters(self) -> tuple[float, float] | None:
        inner = getattr(self._backend, "prefix_cache_counters", None)
        return inner() if callable(inner) else None

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


def make_client(
    config: LLMConfig, server_url: str | list[str] | None = None, transcript: TranscriptSink | None = None
) -> LLMClient:
    """The client a scenario's ``llm:`` block asks for; ``server_url`` (``alignsim run --server``) wins over it."""
    cache = ReplyCache(config.cache) if config.cache else None
    url = server_url or config.base_url
    backend_name = "openai" if url and config.backend != "replay" else config.backend
    if backend_name == "replay":
        if cache is None:
            raise UserError("llm.backend replay answers from the cache, but llm.cache is null: set llm.cache")
        from sim.llm.replay import ReplayBackend

        backend: Backend = ReplayBackend(config.model, config.cache or "")
    elif backend_name == "openai":
        if not url:
            raise UserError("llm.backend openai needs a server: set llm.base_url or pass --server URL")
        from sim.llm.openai_backend import OpenAIBackend

        backend = OpenAIBackend(
            url,
            config.model,
            max_concurrency=config.max_concurrency,
            timeout_s=config.timeout_s,
            retries=config.retries,
        )
    else:
        backend = LazyBackend(config.model, lambda: _vllm_backend(config))
    return LLMClient(backend, cache, transcript, backend_name)


def _vllm_backend(config: LLMConfig) -> Backend:
    from sim.llm.vllm_backend import VLLMBackend

    return VLLMBackend(
        config.model,
        max_num_batched_tokens=config.max_num_batched_tokens,
        kv_cache_gib=config.kv_cache_gib,
        max_model_len=config.max_model_len,
        retries=min(config.retries, 1),
    )
