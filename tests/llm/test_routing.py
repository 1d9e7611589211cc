"""Several servers: prefix affinity, balance, servers marked down, failover; the servers are fakes."""

from __future__ import annotations

from collections import Counter

import pytest

from sim.errors import UserError
from sim.llm.errors import LLMUnavailable
from sim.llm.openai_backend import OpenAIBackend, server_urls
from sim.llm.routing import PREFIX_CHARS, PrefixRouter, prefix_key, ranking
from sim.llm.server import free_port
from sim.llm.types import ChatRequest
from tests.llm.fakes import FakeChatServer

SERVERS = ["http://a:1", "http://b:1", "http://c:1"]


def ask(shared: str, own: str, seed: int = 0) -> ChatRequest:
    return ChatRequest(messages=({"role": "system", "content": shared}, {"role": "user", "content": own}), seed=seed)


def router(servers: list[str] = SERVERS, probe=lambda server: True, down_s: float = 30.0) -> PrefixRouter:
    return PrefixRouter(servers, probe, down_s)


def test_the_prefix_key_is_the_start_of_the_conversation() -> None:
    rules = "r" * PREFIX_CHARS
    assert prefix_key(ask(rules, "agent 1")) == prefix_key(ask(rules, "agent 2"))
    assert prefix_key(ask("short rules", "agent 1")) != prefix_key(ask("short rules", "agent 2"))
    assert prefix_key(ask("rules A", "x")) != prefix_key(ask("rules B", "x"))


def test_one_big_group_is_cut_into_one_contiguous_run_per_server() -> None:
    batch = [ask("r" * PREFIX_CHARS, f"agent {i}", seed=i) for i in range(64)]
    first = [servers[0] for servers in router(SERVERS[:2]).assign(batch)]
    preferred = ranking(prefix_key(batch[0]), SERVERS[:2])
    assert first == [preferred[0]] * 32 + [preferred[1]] * 32


def test_small_groups_stay_whole_each_on_one_server_and_the_load_is_balanced() -> None:
    batch = [ask(f"persona {g} " + "r" * PREFIX_CHARS, f"agent {i}") for g in range(8) for i in range(4)]
    first = [servers[0] for servers in router(SERVERS[:2]).assign(batch)]
    by_group = [set(first[g * 4 : g * 4 + 4]) for g in range(8)]
    assert all(len(servers) == 1 for servers in by_group)
    assert sorted(Counter(first).values()) == [16, 16]


def test_affinity_is_stable_across_batches_and_moves_only_the_keys_of_a_removed_server() -> None:
    keys = [f"phase {i}" for i in range(200)]
    three = {k: ranking(k, SERVERS)[0] for k in keys}
    assert three == {k: ranking(k, list(reversed(SERVERS)))[0] for k in keys}  # order of the list is irrelevant
    two = {k: ranking(k, SERVERS[:2])[0] for k in keys}
    assert all(two[k] == three[k] for k in keys if three[k] != SERVERS[2])
    assert set(Counter(three.values())) == set(SERVERS)


def test_every_request_may_fall_back_to_every_other_server() -> None:
    routes = router().assign([ask("x", str(i)) for i in range(10)])
    assert all(sorted(servers) == sorted(SERVERS) for servers in routes)


def test_a_server_marked_down_gets_nothing_until_a_probe_finds_it_healthy_again() -> None:
    answers = {"http://a:1": False}
    r = router(SERVERS[:2], probe=lambda server: answers.get(server, True), down_s=0.0)
    r.mark_down("http://a:1")
    batch = [ask("x", str(i)) for i in range(10)]
    assert {servers[0] for servers in r.assign(batch)} == {"http://b:1"}  # the probe failed: still down
    answers["http://a:1"] = True
    assert {servers[0] for servers in r.assign(batch)} == {"http://a:1", "http://b:1"}


def test_when_every_server_is_down_all_are_tried() -> None:
    r = router(SERVERS[:2], probe=lambda server: False)
    r.mark_down("http://a:1")
    r.mark_down("http://b:1")
    assert r.live() == SERVERS[:2]


def test_server_urls_accept_commas_lists_and_v1_and_refuse_what_is_not_a_url() -> None:
    assert server_urls("http://a:1, http://b:1/v1/") == ["http://a:1", "http://b:1"]
    assert server_urls(["http://a:1", "http://a:1/"]) == ["http://a:1"]
    assert server_urls(None) == []
    with pytest.raises(UserError, match=r"'localhost:8000': expected a URL such as http://127\.0\.0\.1:8000"):
        server_urls("localhost:8000")


# --- the backend, against fake servers ---------------------------------------------------------------------


def backend(urls: list[str], retries: int = 1) -> OpenAIBackend:
    return OpenAIBackend(urls, "fake-model", retries=retries, backoff_s=0.01, timeout_s=5, max_concurrency=8)


def phase(n: int) -> list[ChatRequest]:
    return [ask("r" * PREFIX_CHARS, f"agent {i}", seed=i) for i in range(n)]


def test_a_shared_prefix_batch_uses_both_servers_and_replies_equal_one_servers() -> None:
    with FakeChatServer().running() as a, FakeChatServer().running() as b:
        two = backend([a.url, b.url]).generate(phase(20))
        assert (len(a.bodies), len(b.bodies)) == (10, 10)
        one = backend([a.url]).generate(phase(20))
    assert [r.text for r in two] == [r.text for r in one] == [f"seed={i}" for i in range(20)]


def test_a_dead_servers_requests_fail_over_and_it_is_skipped_while_down() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with FakeChatServer().running() as alive:
        b = backend([dead, alive.url])
        assert [r.text for r in b.generate(phase(12))] == [f"seed={i}" for i in range(12)]
        assert b.router.is_down(dead)
        b.generate(phase(12))
        assert len(alive.bodies) == 24


def test_a_server_dying_mid_batch_hands_its_requests_to_the_other() -> None:
    with FakeChatServer(["ok"] * 3, default="drop").running() as dying, FakeChatServer().running() as healthy:
        replies = backend([dying.url, healthy.url], retries=0).generate(phase(16))
    assert [r.text for r in replies] == [f"seed={i}" for i in range(16)]
    assert (len(dying.bodies), len(healthy.bodies)) == (8, 13)


def test_a_server_that_hangs_past_the_timeout_is_failed_over() -> None:
    with FakeChatServer(default="hang", hang_s=10).running() as hung, FakeChatServer().running() as healthy:
        b = OpenAIBackend([hung.url, healthy.url], "fake-model", retries=0, timeout_s=0.5, max_concurrency=8)
        replies = b.generate(phase(6))
    assert [r.text for r in replies] == [f"seed={i}" for i in range(6)]
    assert (len(hung.bodies), len(healthy.bodies)) == (3, 6) and b.router.is_down(hung.url)


def test_a_server_that_comes_back_gets_requests_again() -> None:
    with FakeChatServer().running() as a, FakeChatServer().running() as b:
        backend_ = backend([a.url, b.url])
        backend_.router.down_s = 0.0
        backend_.router.mark_down(a.url)
        backend_.generate(phase(10))
    assert len(a.bodies) == 5 and not backend_.router.is_down(a.url)


def test_when_no_server_answers_the_error_names_each() -> None:
    urls = [f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"]
    with pytest.raises(LLMUnavailable, match=r"none of the 2 LLM servers answered request \(untagged, seed 0\) "
                                             r"in 2 round\(s\)") as caught:
        backend(urls).generate(phase(1))
    assert all(url in str(caught.value) for url in urls)
