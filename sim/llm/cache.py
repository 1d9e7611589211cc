"""SQLite cache of LLM replies, shared safely by several processes (sweep workers).

WAL journaling lets readers proceed while one process writes; the busy timeout makes concurrent writers wait
for each other instead of failing. Each put is one short transaction, so a crash loses at most the batch in
flight, never what was already stored.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

from sim.llm.types import ChatReply, ChatRequest

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    messages TEXT NOT NULL,
    schema TEXT,
    sampling TEXT NOT NULL,
    seed INTEGER NOT NULL,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    latency_s REAL NOT NULL,
    finish_reason TEXT NOT NULL,
    created REAL NOT NULL
)
"""


class ReplyCache:
    """Replies by ``ChatRequest.cache_key(model)``; first writer wins, so a key never changes its reply.

    `ReplyCache.read_only` opens someone else's cache without changing it (``llm.cache_from``).
    """

    def __init__(self, path: str | Path, busy_timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.writable = True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=busy_timeout_s, check_same_thread=False, isolation_level=None)
        self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute(_SCHEMA)

    @classmethod
    def read_only(cls, path: str | Path) -> ReplyCache:
        """The cache at ``path``, opened so that nothing is written: not the file, nor a journal beside it
        (immutable, unless a write-ahead log is there: then a writer is at work and its log must be read too).
        ``sqlite3.DatabaseError`` if the file is no SQLite database; `put_many` refuses."""
        path = Path(path)
        wal = path.with_name(path.name + "-wal").exists()
        uri = f"{path.resolve().as_uri()}?mode=ro{'' if wal else '&immutable=1'}"
        db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        try:
            db.execute("SELECT key, text, prompt_tokens, completion_tokens, latency_s, finish_reason "
                       "FROM replies LIMIT 1").fetchall()
        except sqlite3.Error:
            db.close()
            raise
        cache = cls.__new__(cls)
        cache.path, cache._lock, cache._db, cache.writable = path, threading.Lock(), db, False
        return cache

    def get_many(self, model: str, requests: list[ChatRequest]) -> list[ChatReply | None]:
        """Cached replies in request order (marked ``cached=True``), None where the cache has none."""
        keys = [r.cache_key(model) for r in requests]
        found: dict[str, ChatReply] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    "SELECT key, text, prompt_tokens, completion_tokens, latency_s, finish_reason "
                    f"FROM replies WHERE key IN ({marks})",
                    chunk,
                ).fetchall()
                for key, text, pt, ct, lat, fin in rows:
                    found[key] = ChatReply(text, pt, ct, lat, fin, cached=True)
        return [found.get(k) for k in keys]

    def put_many(self, model: str, pairs: list[tuple[ChatRequest, ChatReply]]) -> None:
        """Store replies in one transaction; keys already present keep their first reply."""
        if not self.writable:
            raise PermissionError(f"the reply cache {self.path} was opened read-only")
        now = time.time()
        rows = [
            (
                req.cache_key(model),
                model,
                json.dumps(list(req.messages), ensure_ascii=False),
                None if req.schema is None else json.dumps(req.schema, sort_keys=True),
                json.dumps([req.sampling.temperature, req.sampling.top_p, req.sampling.max_tokens]),
                req.seed,
                rep.text,
                rep.prompt_tokens,
                rep.completion_tokens,
                rep.latency_s,
                rep.finish_reason,
                now,
            )
            for req, rep in pairs
        ]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR IGNORE INTO replies VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
