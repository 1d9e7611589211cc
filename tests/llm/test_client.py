"""LLMClient with a fake backend: cache first, one batch for the misses, accounting, transcript."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sim.errors import UserError
from sim.llm.cache import ReplyCache
from sim.llm.client import LazyBackend, LLMClient, make_client
from sim.llm.config import LLMConfig
from sim.llm.errors import LLMError, ReplayMiss
from sim.llm.types import ChatReply, ChatRequest
from tests.llm.fakes import FakeBackend

ROOT = Path(__file__).resolve().parents[2]
NO_VLLM_IMPORT = """
import sys
from sim.llm.client import make_client
from sim.llm.config import LLMConfig
make_client(LLMConfig(cache=None))
make_client(LLMConfig(cache=None), server_url="http://127.0.0.1:9")
assert "vllm" not in sys.modules, "choosing a backend imported vllm"
"""


def ask(text: str, seed: int = 1, **tag: object) -> ChatRequest:
    return ChatRequest(messages=({"role": "user", "content": text},), seed=seed, tag=dict(tag))


def test_misses_go_to_backend_as_one_batch_and_hits_come_from_cache(tmp_path: Path) -> None:
    backend = FakeBackend()
    client = LLMClient(backend, ReplyCache(tmp_path / "c.sqlite"))
    first = client.chat([ask("a"), ask("b")])
    second = client.chat([ask("b"), ask("c"), ask("a")])
    assert [r.text for r in first] == ["echo:a:1", "echo:b:1"]
    assert [r.text for r in second] == ["echo:b:1", "echo:c:1", "echo:a:1"]
    assert [r.cached for r in second] == [True, False, True]
    assert [[r.messages[-1]["content"] for r in batch] for batch in backend.batches] == [["a", "b"], ["c"]]
    assert (client.requests, client.cache_hits, client.batches) == (5, 2, 2)
    assert (client.prompt_tokens, client.completion_tokens) == (30, 9)


def test_identical_requests_in_a_batch_are_generated_once() -> None:
    backend = FakeBackend()
    replies = LLMClient(backend).chat([ask("same", agent=1), ask("same", agent=2), ask("same", seed=2)])
    assert [r.text for r in replies] == ["echo:same:1", "echo:same:1", "echo:same:2"]
    assert len(backend.batches[0]) == 2


def test_requests_differing_only_in_consecutive_seeds_go_as_one_request_with_n_samples(tmp_path: Path) -> None:
    def batch() -> list[ChatRequest]:
        return [ask("q", 10), ask("other", 13), ask("q", 12), ask("q", 11), ask("q", 20), ask("q", 11)]

    merged, plain = FakeBackend(samples=True), FakeBackend(samples=True)
    on = LLMClient(merged, ReplyCache(tmp_path / "on.sqlite"))
    off = LLMClient(plain, ReplyCache(tmp_path / "off.sqlite"), dedup=False)
    replies = on.chat(batch())
    assert [(r.messages[-1]["content"], r.seed, r.n) for r in merged.batches[0]] == [
        ("q", 10, 3), ("other", 13, 1), ("q", 20, 1)
    ]
    assert [r.text for r in replies] == [r.text for r in off.chat(batch())]
    assert [r.text for r in replies] == ["echo:q:10", "echo:other:13", "echo:q:12", "echo:q:11", "echo:q:20",
                                         "echo:q:11"]
    assert [len(b) for b in plain.batches] == [5] and (on.backend_requests, off.backend_requests) == (3, 5)
    assert (on.prompt_tokens, on.completion_tokens) == (off.prompt_tokens, off.completion_tokens) == (50, 15)
    cached = on.cache.get_many("fake-model", batch())  # every request has its own row
    assert [r.text for r in cached] == [r.text for r in replies]


def test_a_backend_without_samples_gets_one_request_per_seed() -> None:
    backend = FakeBackend()
    LLMClient(backend).chat([ask("q", 1), ask("q", 2)])
    assert [r.n for r in backend.batches[0]] == [1, 1]


def test_the_progress_hook_hears_each_batch_start_with_its_cache_hits_and_its_end(tmp_path: Path) -> None:
    client = LLMClient(FakeBackend(), ReplyCache(tmp_path / "c.sqlite"))
    heard: list[tuple[int, int, str]] = []
    client.chat([ask("a")])
    client.on_progress = lambda done, total, what: heard.append((done, total, what))
    client.chat([ask("a", phase="act"), ask("b", phase="act"), ask("c", phase="act", purpose="summary")])
    assert heard == [(1, 3, "act, summary"), (3, 3, "act, summary")]


def test_transcript_gets_one_record_per_request_with_tag_and_cached_flag(tmp_path: Path) -> None:
    records: list[dict] = []
    client = LLMClient(FakeBackend(), ReplyCache(tmp_path / "c.sqlite"), transcript=records.append)
    client.chat([ask("a", agent=3, step=0, phase="decide")])
    client.chat([ask("a", agent=3, step=1, phase="decide")])
    assert [(r["agent"], r["step"], r["phase"], r["cached"], r["reply"], r["seed"]) for r in records] == [
        (3, 0, "decide", False, "echo:a:1", 1),
        (3, 1, "decide", True, "echo:a:1", 1),
    ]
    assert records[0]["messages"] == [{"role": "user", "content": "a"}]


class HalfFailingBackend(FakeBackend):
    """Answers the first half of a batch, then fails like a server dying mid-batch."""

    def generate(self, requests: list[ChatRequest]) -> list[ChatReply]:
        done = super().generate(requests[: len(requests) // 2])
        raise LLMError("server died", partial=dict(enumerate(done)))


def test_replies_before_a_failure_stay_in_the_cache_so_a_rerun_resumes(tmp_path: Path) -> None:
    cache_path = tmp_path / "c.sqlite"
    batch = [ask(str(i)) for i in range(4)]
    with pytest.raises(LLMError, match="server died"):
        LLMClient(HalfFailingBackend(), ReplyCache(cache_path)).chat(batch)
    resumed = FakeBackend()
    replies = LLMClient(resumed, ReplyCache(cache_path)).chat(batch)
    assert [r.cached for r in replies] == [True, True, False, False]
    assert [r.messages[-1]["content"] for r in resumed.batches[0]] == ["2", "3"]


def test_stats_report_accounting_and_prefix_cache_rate() -> None:
    backend = FakeBackend()
    backend.prefix_cache_counters = lambda: (150.0, 200.0)  # type: ignore[attr-defined]
    client = LLMClient(backend, backend_name="openai")
    client.chat([ask("a")])
    stats = client.stats()
    assert stats["backend"] == "openai" and stats["model"] == "fake-model"
    assert (stats["requests"], stats["cache_hits"], stats["prompt_tokens"]) == (1, 0, 10)
    assert stats["prefix_cache_hit_rate"] == 0.75


def test_record_then_replay_gives_identical_replies_without_an_engine(tmp_path: Path) -> None:
    cache = str(tmp_path / "c.sqlite")
    batch = [ask("a", agent=1), ask("b", agent=2)]
    recorded = LLMClient(FakeBackend(), ReplyCache(cache)).chat(batch)
    with make_client(LLMConfig(backend="replay", model="fake-model", cache=cache)) as replay:
        replayed = replay.chat(batch)
    assert [r.text for r in replayed] == [r.text for r in recorded]
    assert all(r.cached for r in replayed)


def test_replay_miss_names_the_request(tmp_path: Path) -> None:
    client = make_client(LLMConfig(backend="replay", model="fake-model", cache=str(tmp_path / "c.sqlite")))
    with pytest.raises(ReplayMiss, match=r"agent=7, step=3, phase=decide, seed=42") as caught:
        client.chat([ask("new question", seed=42, agent=7, step=3, phase="decide")])
    assert isinstance(caught.value, UserError)
    assert "new question" in str(caught.value)


def test_make_client_picks_the_backend_and_never_imports_vllm() -> None:
    config = LLMConfig(cache=None)
    client = make_client(config)
    assert isinstance(client.backend, LazyBackend) and not client.backend.started
    assert client.backend_name == "vllm"
    assert make_client(config, server_url="http://127.0.0.1:9").backend_name == "openai"
    assert make_client(LLMConfig(base_url="http://h:1/v1", cache=None)).backend_name == "openai"
    # in a fresh interpreter: an earlier test of the session may have imported vllm into this one
    fresh = subprocess.run([sys.executable, "-c", NO_VLLM_IMPORT], capture_output=True, text=True, cwd=ROOT)
    assert fresh.returncode == 0, fresh.stderr


def test_make_client_explains_impossible_configs() -> None:
    with pytest.raises(UserError, match=r"llm\.cache is null"):
        make_client(LLMConfig(backend="replay", cache=None))
    with pytest.raises(UserError, match=r"llm\.base_url"):
        make_client(LLMConfig(backend="openai", cache=None))


def test_lazy_backend_builds_once_on_first_miss() -> None:
    built: list[FakeBackend] = []

    def build() -> FakeBackend:
        built.append(FakeBackend())
        return built[-1]

    lazy = LazyBackend("fake-model", build)
    assert lazy.generate([]) == [] and not built
    lazy.generate([ask("a")])
    lazy.generate([ask("b")])
    assert len(built) == 1 and len(built[0].batches) == 2
    lazy.close()
    assert built[0].closed
