"""The reply cache: round trips, first-writer-wins, and several processes writing at once."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

from sim.llm.cache import ReplyCache
from sim.llm.types import ChatReply, ChatRequest, Sampling


def request(i: int, seed: int = 0) -> ChatRequest:
    return ChatRequest(messages=({"role": "user", "content": f"question {i}"},), seed=seed, tag={"agent": i})


def test_round_trip_keeps_text_tokens_and_marks_cached(tmp_path: Path) -> None:
    cache = ReplyCache(tmp_path / "c.sqlite")
    cache.put_many("m", [(request(1), ChatReply("answer", 11, 4, 0.5, "length"))])
    [hit, miss] = cache.get_many("m", [request(1), request(2)])
    assert hit == ChatReply("answer", 11, 4, 0.5, "length", cached=True)
    assert miss is None


def test_key_covers_model_seed_schema_and_sampling(tmp_path: Path) -> None:
    cache = ReplyCache(tmp_path / "c.sqlite")
    base = request(1)
    cache.put_many("m", [(base, ChatReply("x"))])
    variants = [
        request(1, seed=1),
        ChatRequest(base.messages, 0, schema={"type": "object"}),
        ChatRequest(base.messages, 0, sampling=Sampling(0.0, 1.0, 128)),
    ]
    assert cache.get_many("other-model", [base]) == [None]
    assert cache.get_many("m", variants) == [None, None, None]
    assert cache.get_many("m", [ChatRequest(base.messages, 0, tag={"agent": 99})])[0] is not None


def test_first_writer_wins(tmp_path: Path) -> None:
    cache = ReplyCache(tmp_path / "c.sqlite")
    cache.put_many("m", [(request(1), ChatReply("first"))])
    cache.put_many("m", [(request(1), ChatReply("second"))])
    assert cache.get_many("m", [request(1)])[0].text == "first"
    assert len(cache) == 1


def test_stores_prompt_and_schema_for_inspection(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    ReplyCache(path).put_many("m", [(ChatRequest(request(1).messages, 5, schema={"type": "object"}), ChatReply("r"))])
    row = sqlite3.connect(path).execute("SELECT model, messages, schema, seed, text FROM replies").fetchone()
    assert row == ("m", '[{"role": "user", "content": "question 1"}]', '{"type": "object"}', 5, "r")


def _writer(path: str, worker: int, rounds: int) -> None:
    cache = ReplyCache(path, busy_timeout_s=30)
    for r in range(rounds):
        # Half the keys are shared by all workers, half are this worker's own.
        pairs = [(request(1000 * worker + 10 * r + k), ChatReply(f"w{worker}")) for k in range(5)]
        pairs += [(request(10 * r + k, seed=7), ChatReply(f"w{worker}")) for k in range(5)]
        cache.put_many("m", pairs)
    cache.close()


def test_several_processes_write_at_once_without_losing_rows(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite")
    ReplyCache(path).close()
    workers, rounds = 4, 40
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_writer, args=(path, w, rounds)) for w in range(workers)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
    assert [p.exitcode for p in processes] == [0] * workers
    cache = ReplyCache(path)
    assert len(cache) == workers * rounds * 5 + rounds * 5
    keys = [request(1000 * w + 10 * r + k) for w in range(workers) for r in range(rounds) for k in range(5)]
    own = cache.get_many("m", keys)
    assert all(reply is not None and reply.text == f"w{i // (rounds * 5)}" for i, reply in enumerate(own))
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)
