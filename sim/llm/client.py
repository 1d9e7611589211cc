"""LLMClient: one entry point for the simulation: cache first, one backend batch for the misses, accounting."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from typing import Any

from sim.errors import UserError
from sim.llm.cache import ReplyCache
from sim.llm.config import LLMConfig
from sim.llm.errors import LLMError
from sim.llm.hardware import EngineSettings, engine_settings
from sim.llm.reply_sources import ReplySource, open_sources
from sim.llm.types import AdapterRef, Backend, ChatReply, ChatRequest

TranscriptSink = Callable[[dict[str, Any]], None]
ProgressHook = Callable[[int, int, str], None]


def batch_label(requests: list[ChatRequest]) -> str:
    """What a batch is, for progress displays: its decision phases (``act``, ``sanction``) or what its requests
    are for (``summary``, ``verdict``), in order of first appearance."""
    labels = (r.tag.get("phase") if r.tag.get("purpose", "decision") == "decision" else r.tag.get("purpose")
              for r in requests)
    return ", ".join(dict.fromkeys(str(label) for label in labels if label))


class LLMClient:
    """Backend + cache + accounting.

    Token counts and ``llm_seconds`` are what the backend computed in this process; cache hits cost none.
    With ``dedup`` (``llm.dedup``), misses that differ only in their seeds, and whose seeds follow each other,
    go to a backend that ``supports_samples`` as one request with ``n`` samples: vLLM seeds its i-th child
    ``seed + i``, so each still gets the reply it would have had alone, and its own cache row.
    ``on_progress(done, total, what)``, when set (a dashboard, a progress bar), is called for every batch: when it
    starts (``done`` = the replies the cache already had), and when all ``total`` replies are in; ``what`` names
    the batch (`batch_label`: its phases, e.g. ``act``, or what it is for, e.g. ``summary``).
    ``sources`` (``llm.cache_from``) answer what the cache does not, before the backend: what they answer is
    copied into ``cache`` and counted as cache hits and as ``imported``.
    """

    def __init__(
        self,
        backend: Backend,
        cache: ReplyCache | None = None,
        transcript: TranscriptSink | None = None,
        backend_name: str = "",
        dedup: bool = True,
        sources: Sequence[ReplySource] = (),
    ) -> None:
        self.backend = backend
        self.dedup = dedup
        self.cache = cache
        self.sources = tuple(sources)
        self.imported = 0
        self.transcript = transcript
        self.backend_name = backend_name or type(backend).__name__
        self.requests = 0
        self.cache_hits = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.llm_seconds = 0.0
        self.batches = 0
        self.backend_requests = 0
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
        if self.sources:
            self._read_through(requests, replies)
        hits = sum(r is not None for r in replies)
        self.requests += len(requests)
        self.cache_hits += hits
        what = batch_label(requests)
        self._progress(hits, len(requests), what)
        pending = self._unique_misses(requests, replies)
        if pending:
            fresh = self._generate([requests[i[0]] for i in pending])
            for positions, reply in zip(pending, fresh, strict=True):
                for i in positions:
                    replies[i] = reply
        done: list[ChatReply] = [r for r in replies if r is not None]
        self._progress(len(done), len(requests), what)
        if self.transcript is not None:
            for request, reply in zip(requests, done, strict=True):
                self.transcript(transcript_record(request, reply))
        return done

    def _read_through(self, requests: list[ChatRequest], replies: list[ChatReply | None]) -> None:
        """Fill the cache's misses from ``sources``, in order, and keep what they gave in the cache."""
        taken: list[tuple[ChatRequest, ChatReply]] = []
        for source in self.sources:
            missing = [i for i, reply in enumerate(replies) if reply is None]
            if not missing:
                break
            for i, reply in zip(missing, source.get_many(self.model, [requests[i] for i in missing]), strict=True):
                if reply is not None:
                    replies[i] = reply
                    taken.append((requests[i], reply))
        self.imported += len(taken)
        if self.cache is not None and taken:
            self.cache.put_many(self.model, taken)

    def _progress(self, done: int, total: int, what: str) -> None:
        if self.on_progress is not None:
            self.on_progress(done, total, what)

    def _unique_misses(self, requests: list[ChatRequest], replies: list[ChatReply | None]) -> list[list[int]]:
        """Positions of the misses, grouped by cache key so that duplicates cost one generation."""
        groups: dict[str, list[int]] = {}
        for i, (request, reply) in enumerate(zip(requests, replies, strict=True)):
            if reply is None:
                groups.setdefault(request.cache_key(self.model), []).append(i)
        return list(groups.values())

    def _generate(self, batch: list[ChatRequest]) -> list[ChatReply]:
        """Replies to distinct requests, in order; with dedup, runs of seeds of one prompt as one request each."""
        if self.dedup and getattr(self.backend, "supports_samples", False):
            runs = self._seed_runs(batch)
        else:
            runs = [[i] for i in range(len(batch))]
        sent = [batch[run[0]] if len(run) == 1 else replace(batch[run[0]], n=len(run)) for run in runs]
        replies: list[ChatReply | None] = [None] * len(batch)

        def unpack(pairs: list[tuple[int, ChatReply]]) -> None:
            """Each run's replies to its requests (a request with n samples answers with n), then stored."""
            answered = []
            for index, reply in pairs:
                run = runs[index]
                samples = (reply,) if len(run) == 1 else reply.samples
                if len(samples) != len(run):
                    raise LLMError(f"backend {self.backend_name} returned {len(samples)} samples for n={len(run)}")
                for position, sample in zip(run, samples, strict=True):
                    replies[position] = sample
                    answered.append((batch[position], sample))
            self._store(answered)

        start = time.perf_counter()
        try:
            fresh = self.backend.generate(sent)
        except LLMError as err:
            unpack(sorted(err.partial.items()))
            err.cache = str(self.cache.path) if self.cache is not None else None
            raise
        except UserError:
            raise
        except Exception as err:  # e.g. the engine failing to start: one kind of error for every LLM failure
            raise LLMError(f"the {self.backend_name} backend failed: {type(err).__name__}: {err}") from err
        finally:
            self.llm_seconds += time.perf_counter() - start
            self.batches += 1
            self.backend_requests += len(sent)
        if len(fresh) != len(sent):
            raise LLMError(f"backend {self.backend_name} returned {len(fresh)} replies for {len(sent)} requests")
        unpack(list(enumerate(fresh)))
        return [r for r in replies if r is not None]

    def _seed_runs(self, batch: list[ChatRequest]) -> list[list[int]]:
        """Positions grouped into runs of one prompt whose seeds follow each other (each run in seed order),
        the runs in the order of their first request."""
        by_prompt: dict[str, list[int]] = {}
        for i, request in enumerate(batch):
            by_prompt.setdefault(request.prompt_key(self.model), []).append(i)
        runs: list[list[int]] = []
        for members in by_prompt.values():
            members.sort(key=lambda i: batch[i].seed)
            run = [members[0]]
            for i in members[1:]:
                if batch[i].seed == batch[run[-1]].seed + 1:
                    run.append(i)
                else:
                    runs.append(run)
                    run = [i]
            runs.append(run)
        return sorted(runs, key=min)

    def _store(self, pairs: list[tuple[ChatRequest, ChatReply]]) -> None:
        for _, reply in pairs:
            self.prompt_tokens += reply.prompt_tokens
            self.completion_tokens += reply.completion_tokens
        if self.cache is not None and pairs:
            self.cache.put_many(self.model, pairs)

    def engine_start_s(self) -> float:
        """Seconds this client's backend spent starting an engine (in ``llm_seconds``; 0 for a server)."""
        info = self.engine_info()
        return float(info.get("start_s", 0.0)) if info else 0.0

    def engine_info(self) -> dict[str, Any] | None:
        """The in-process engine's mode, dtype and start time, once it has started; None otherwise."""
        info = getattr(self.backend, "engine_info", None)
        return info() if callable(info) else None

    def decisions_per_s(self) -> float | None:
        """Requests the backend computed per second of its time, not counting the engine's start; None before
        the backend has computed any."""
        computed = self.requests - self.cache_hits
        seconds = self.llm_seconds - self.engine_start_s()
        return computed / seconds if computed and seconds > 0 else None

    def stats(self) -> dict[str, Any]:
        """Accounting for manifest.json (and the progress bar)."""
        rate = self.decisions_per_s()
        out: dict[str, Any] = {
            "backend": self.backend_name,
            "model": self.model,
            "requests": self.requests,
            "cache_hits": self.cache_hits,
            "batches": self.batches,
            "backend_requests": self.backend_requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "llm_seconds": round(self.llm_seconds, 3),
            "requests_per_s": None if rate is None else round(rate, 3),
        }
        if self.sources:
            out["imported"] = self.imported
            out["cache_from"] = [str(source.path) for source in self.sources]
        engine = self.engine_info()
        if engine is not None:
            out["engine"] = engine
        counters = getattr(self.backend, "prefix_cache_counters", None)
        hits_queries = counters() if callable(counters) else None
        if hits_queries is not None and hits_queries[1] > 0:
            out["prefix_cache_hit_rate"] = round(hits_queries[0] / hits_queries[1], 4)
        return out

    def close(self) -> None:
        """Stop the backend (an in-process engine frees its memory) and close the caches."""
        self.backend.close()
        for source in self.sources:
            source.close()
        if self.cache is not None:
            self.cache.close()

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def transcript_record(request: ChatRequest, reply: ChatReply) -> dict[str, Any]:
    """One JSONL line of the run's LLM transcript; ``adapter`` and ``adapter_digest`` are None for the base model."""
    adapter = request.adapter
    return {
        **request.tag,
        "seed": request.seed,
        "adapter": adapter.name if adapter else None,
        "adapter_digest": adapter.digest if adapter else None,
        "messages": list(request.messages),
        "schema": request.schema,
        "sampling": asdict(request.sampling),
        "reply": reply.text,
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "finish_reason": reply.finish_reason,
        "cached": reply.cached,
    }


class LazyBackend:
    """Builds the real backend on the first batch that needs it, so a fully cached rerun never starts an engine.

    ``on_start``, when set (a progress display), hears a line when the engine starts and one when it is ready.
    """

    def __init__(
        self, model: str, build: Callable[[], Backend], supports_samples: bool = False, label: str = "vLLM engine"
    ) -> None:
        self.model = model
        self.supports_samples = supports_samples
        self.label = label
        self.on_start: Callable[[str], None] | None = None
        self._build = build
        self._backend: Backend | None = None

    @property
    def started(self) -> bool:
        return self._backend is not None

    def generate(self, requests: list[ChatRequest]) -> list[ChatReply]:
        if not requests:
            return []
        if self._backend is None:
            self._announce(f"starting {self.label} for {self.model} ...")
            started = time.perf_counter()
            self._backend = self._build()
            self._announce(f"{self.label} started in {time.perf_counter() - started:.0f} s")
        return self._backend.generate(requests)

    def _announce(self, line: str) -> None:
        if self.on_start is not None:
            self.on_start(line)

    def engine_info(self) -> dict[str, Any] | None:
        inner = getattr(self._backend, "engine_info", None)
        return inner() if callable(inner) else None

    def prefix_cache_counters(self) -> tuple[float, float] | None:
        inner = getattr(self._backend, "prefix_cache_counters", None)
        return inner() if callable(inner) else None

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


def make_client(
    config: LLMConfig,
    server_url: str | list[str] | None = None,
    transcript: TranscriptSink | None = None,
    expected_decisions: int = 0,
    adapters: Sequence[AdapterRef] = (),
) -> LLMClient:
    """The client a scenario's ``llm:`` block asks for; ``server_url`` (``alignsim run --server``) wins over it.
    ``expected_decisions`` (what the run will ask, at least) chooses an in-process engine's mode
    (`sim.llm.hardware.engine_settings`). ``adapters`` (`sim.training.adapters.scenario_adapters`): what an
    in-process engine must serve besides the model; a server must have been started with them
    (``alignsim serve --adapter NAME``)."""
    url = server_url or config.base_url
    backend_name = "openai" if url and config.backend != "replay" else config.backend
    if backend_name == "vllm":
        from sim.llm.models import check_model

        check_model(config.model, "llm.model")  # before anything is written, not when the first batch starts vLLM
    if backend_name == "replay" and not (config.cache or config.cache_from):
        raise UserError("llm.backend replay answers from the cache, but llm.cache is null and llm.cache_from "
                        "empty: set llm.cache")
    sources = open_sources(config.cache_from)
    cache = ReplyCache(config.cache) if config.cache else None
    if backend_name == "replay":
        from sim.llm.replay import ReplayBackend

        where = [*([config.cache] if config.cache else []), *config.cache_from]
        backend: Backend = ReplayBackend(config.model, " or ".join(where))
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
        settings = engine_settings(config.engine_mode, expected_decisions, lora=bool(adapters))
        backend = LazyBackend(config.model, lambda: _vllm_backend(config, settings, adapters), supports_samples=True,
                              label=f"vLLM engine ({settings.describe()})")
    return LLMClient(backend, cache, transcript, backend_name, dedup=config.dedup, sources=sources)


def _vllm_backend(config: LLMConfig, settings: EngineSettings, adapters: Sequence[AdapterRef]) -> Backend:
    from sim.llm.vllm_backend import VLLMBackend

    return VLLMBackend(
        config.model,
        max_num_batched_tokens=config.max_num_batched_tokens,
        kv_cache_gib=config.kv_cache_gib,
        max_model_len=config.max_model_len,
        retries=min(config.retries, 1),
        settings=settings,
        adapters=adapters,
    )
