"""SQLite cache of LLM replies, shared safely by several processes (sweep workers).

WAL journaling lets readers proceed while one process writes; the busy timeout makes concurrent writers wait
for each other instead of failing. Each put is one short transaction, so a crash loses at most the batch in
flight, never what was already stored.

A cache alignsim cannot use is a `UserError` that names the file and says what to do, never a traceback: a
damaged file (not SQLite, malformed pages, another program's tables) is to be moved aside, since alignsim never
deletes or changes a user's cache; one another process keeps locked past `LOCK_WAIT_S` is to be waited for.
Storage failures (full, read-only) stay `sqlite3` errors, which the runner reports as unwritable outputs.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sim.errors import UserError
from sim.llm.types import ChatReply, ChatRequest

LOCK_WAIT_S = 60.0
"""How long a write waits for another process's lock on the cache before giving up with a message."""

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
_COLUMNS = ["key", "model", "messages", "schema", "sampling", "seed", "text", "prompt_tokens", "completion_tokens",
            "latency_s", "finish_reason", "created"]


class ReplyCache:
    """Replies by ``ChatRequest.cache_key(model)``; first writer wins, so a key never changes its reply.

    `ReplyCache.read_only` opens someone else's cache without changing it (``llm.cache_from``).
    """

    def __init__(self, path: str | Path, busy_timeout_s: float | None = None) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise UserError(f"LLM reply cache {self.path} is a folder: set llm.cache to a file in it, e.g. "
                            f"{self.path / 'llm_cache.sqlite'}")
        self.busy_timeout_s = LOCK_WAIT_S if busy_timeout_s is None else busy_timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.writable = True
        self._db = sqlite3.connect(self.path, timeout=self.busy_timeout_s, check_same_thread=False,
                                   isolation_level=None)
        try:
            self._open()
        except BaseException:
            self._db.close()
            raise

    def _open(self) -> None:
        """Check what the file holds, reading only, then make it a cache: another program's database is refused
        before anything in it changes."""
        with self._usable():
            self._db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            tables = [row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            columns = [row[1] for row in self._db.execute("PRAGMA table_info(replies)")]
            if tables and columns != _COLUMNS:
                raise UserError(self._damaged(
                    "an SQLite database, but not an alignsim reply cache (its tables: " + ", ".join(tables) + ")"))
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute(_SCHEMA)

    @contextmanager
    def _usable(self) -> Iterator[None]:
        """Turn SQLite's errors about the file itself (damaged, locked too long) into a `UserError`."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
            if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
                raise UserError(self._damaged(f"damaged: {exc}")) from None
            if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise UserError(
                    f"LLM reply cache {self.path}: another process kept it locked for {self.busy_timeout_s:g} s "
                    f"({exc}): run again once it is done, or set llm.cache to another file") from None
            raise

    def _damaged(self, what: str) -> str:
        files = " ".join(str(p) for p in (self.path, *self._sidecars()))
        return (f"LLM reply cache {self.path} is {what}. alignsim never deletes or changes a cache: move it aside "
                f"(mkdir -p {self.path}.damaged && mv {files} {self.path}.damaged/) and run again to start a new "
                "one, or set llm.cache to another file")

    def _sidecars(self) -> list[Path]:
        """SQLite's write-ahead log and shared-memory files of this cache, where they exist: they go with it."""
        return [p for p in (Path(f"{self.path}-wal"), Path(f"{self.path}-shm")) if p.exists()]

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
        cache.busy_timeout_s = 0.0
        return cache

    def get_many(self, model: str, requests: list[ChatRequest]) -> list[ChatReply | None]:
        """Cached replies in request order (marked ``cached=True``), None where the cache has none."""
        keys = [r.cache_key(model) for r in requests]
        found: dict[str, ChatReply] = {}
        with self._lock, self._usable():
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
        with self._lock, self._usable():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR IGNORE INTO replies VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def __len__(self) -> int:
        with self._lock, self._usable():
            return self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
