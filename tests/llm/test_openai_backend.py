"""The server backend against a deliberately broken fake server: retries, then clear errors."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from sim.llm.errors import LLMError
from sim.llm.openai_backend import OpenAIBackend, parse_prometheus, server_root
from sim.llm.server import free_port
from sim.llm.types import ChatRequest, Sampling
from tests.llm.fakes import FakeChatServer

SCHEMA = {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}


def ask(seed: int) -> ChatRequest:
    return ChatRequest(
        messages=({"role": "user", "content": "hi"},),
        seed=seed,
        schema=SCHEMA,
        sampling=Sampling(0.5, 0.9, 32),
        tag={"agent": seed, "step": 2, "phase": "decide"},
    )


def backend(url: str, retries: int = 3) -> OpenAIBackend:
    return OpenAIBackend(url, "fake-model", retries=retries, backoff_s=0.01, timeout_s=5, max_concurrency=4)


def test_sends_sampling_seed_and_schema_as_vllm_expects() -> None:
    with FakeChatServer().running() as server:
        [reply] = backend(server.url + "/v1/").generate([ask(5)])
    assert server.bodies == [
        {
            "model": "fake-model",
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": 0.5,
            "top_p": 0.9,
            "max_tokens": 32,
            "seed": 5,
            "structured_outputs": {"json": SCHEMA},
        }
    ]
    assert (reply.text, reply.prompt_tokens, reply.completion_tokens, reply.finish_reason) == ("seed=5", 7, 2, "stop")


def test_a_request_with_n_samples_asks_for_n_choices_and_their_token_ids() -> None:
    with FakeChatServer().running() as server:
        [reply] = backend(server.url).generate([replace(ask(5), n=3)])
    assert server.bodies[0]["n"] == 3 and server.bodies[0]["return_token_ids"] is True
    assert [(s.text, s.completion_tokens, s.prompt_tokens) for s in reply.samples] == [
        ("seed=5", 2, 7), ("seed=6", 3, 7), ("seed=7", 4, 7)
    ]
    assert reply.text == "seed=5" and "n" not in OpenAIBackend(server.url, "m").body(ask(5))


def test_replies_come_back_in_request_order_under_bounded_concurrency() -> None:
    with FakeChatServer().running() as server:
        replies = backend(server.url).generate([ask(s) for s in range(20)])
    assert [r.text for r in replies] == [f"seed={s}" for s in range(20)]


@pytest.mark.parametrize("fault", ["500", "garbage", "drop"])
def test_transient_faults_are_retried(fault: str) -> None:
    with FakeChatServer(script=[fault, fault]).running() as server:
        [reply] = backend(server.url).generate([ask(3)])
    assert reply.text == "seed=3"
    assert len(server.bodies) == 3


def test_persistent_failure_is_a_clear_error_naming_server_and_request() -> None:
    with FakeChatServer(default="500").running() as server, pytest.raises(LLMError) as caught:
        backend(server.url, retries=2).generate([ask(9)])
    message = str(caught.value)
    assert server.url in message and "3 time(s)" in message and "HTTP 500" in message
    assert "agent=9, step=2, phase=decide" in message
    assert len(server.bodies) == 3


def test_client_errors_are_not_retried() -> None:
    with FakeChatServer(default="400").running() as server, pytest.raises(LLMError, match="HTTP 400"):
        backend(server.url).generate([ask(1)])
    assert len(server.bodies) == 1


def test_unreachable_server_names_its_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(LLMError, match=f"LLM server {url} failed 2 time"):
        backend(url, retries=1).generate([ask(1)])


def test_failure_keeps_the_replies_that_did_arrive() -> None:
    with FakeChatServer(script=["ok", "400"]).running() as server:
        b = OpenAIBackend(server.url, "fake-model", retries=0, max_concurrency=1)
        with pytest.raises(LLMError) as caught:
            b.generate([ask(1), ask(2), ask(3)])
    assert {i: r.text for i, r in caught.value.partial.items()} == {0: "seed=1", 2: "seed=3"}


def test_works_from_inside_a_running_event_loop() -> None:
    async def notebook_cell() -> list[str]:
        return [r.text for r in backend(server.url).generate([ask(4)])]

    with FakeChatServer().running() as server:
        assert asyncio.run(notebook_cell()) == ["seed=4"]


def test_prefix_cache_counters_come_from_the_servers_metrics() -> None:
    with FakeChatServer().running() as server:
        assert backend(server.url).prefix_cache_counters() == (150.0, 200.0)
    assert backend(f"http://127.0.0.1:{free_port()}").prefix_cache_counters() is None


def test_parse_prometheus_sums_label_sets_and_skips_comments() -> None:
    text = "# HELP x\nvllm:a_total{e=\"0\"} 1.5\nvllm:a_total{e=\"1\"} 2\nvllm:b 3\nbad line nan-ish x\n"
    assert parse_prometheus(text, ("vllm:a_total",)) == {"vllm:a_total": 3.5}


def test_server_root_accepts_common_spellings() -> None:
    assert {server_root(u) for u in ["http://h:1", "http://h:1/", "http://h:1/v1", "http://h:1/v1/"]} == {"http://h:1"}
