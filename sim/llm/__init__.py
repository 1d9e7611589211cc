"""The LLM layer: backends (in-process vLLM, OpenAI-compatible server, replay), reply cache, model registry.

Importing this package never imports vLLM or torch; the in-process engine is built on the first cache miss. Its
names are imported when first asked for, so that a rule-based run, which only reads the configuration, does not
load the client, its cache or its backends.
"""

from __future__ import annotations

from sim.lazy import lazy_exports

_EXPORTS = {
    "ChatReply": "sim.llm.types",
    "ChatRequest": "sim.llm.types",
    "LLMClient": "sim.llm.client",
    "LLMConfig": "sim.llm.config",
    "LLMError": "sim.llm.errors",
    "ReplayMiss": "sim.llm.errors",
    "Sampling": "sim.llm.types",
    "derive_seed": "sim.llm.types",
    "make_client": "sim.llm.client",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
