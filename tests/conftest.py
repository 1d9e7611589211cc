"""Shared test fixtures.

LLM fixtures: one real vLLM engine and one vLLM server per test session (each takes ~2 minutes to start on
2 CPU cores), on the packaged SmolLM2-135M model. Tests using them are marked ``llm`` and skip where vLLM
is not installed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def vllm_backend() -> Iterator[object]:
    """An in-process ``VLLMBackend`` shared by the whole session."""
    pytest.importorskip("vllm", reason="vLLM is not installed (pip install -e '.[cpu]')")
    from sim.llm.vllm_backend import VLLMBackend

    backend = VLLMBackend("smollm2-135m", max_num_batched_tokens=32768, kv_cache_gib=2, max_model_len=2048)
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a vLLM OpenAI-compatible server shared by the whole session."""
    pytest.importorskip("vllm", reason="vLLM is not installed (pip install -e '.[cpu]')")
    from sim.llm.server import VLLMServer

    log = tmp_path_factory.mktemp("vllm-server") / "server.log"
    with VLLMServer("smollm2-135m", log_path=log, startup_timeout_s=900) as server:
        yield server.url
