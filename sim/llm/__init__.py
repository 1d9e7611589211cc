"""The LLM layer: backends (in-process vLLM, OpenAI-compatible server, replay), reply cache, model registry.

Importing this package never imports vLLM or torch; the in-process engine is built on the first cache miss.
"""

from sim.llm.client import LLMClient, make_client
from sim.llm.config import LLMConfig
from sim.llm.errors import LLMError, ReplayMiss
from sim.llm.types import ChatReply, ChatRequest, Sampling, derive_seed

__all__ = [
    "ChatReply",
    "ChatRequest",
    "LLMClient",
    "LLMConfig",
    "LLMError",
    "ReplayMiss",
    "Sampling",
    "derive_seed",
    "make_client",
]
