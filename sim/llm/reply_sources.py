"""Replies made elsewhere (``llm.cache_from``): a colleague's reply cache, a run or sweep directory.

They are how a run reproduces on another machine: another CPU, or another engine mode, samples differently from
the same seed, but a reply that is found needs no engine at all. Each source is read and never written (the
client copies what it takes into the run's own ``llm.cache``). A run directory carries its replies in its
``transcript.jsonl`` (each record holds the request's messages, schema, sampling and seed, and the reply); a
sweep directory in those of its runs.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from sim.errors import UserError
from sim.llm.cache import ReplyCache
from sim.llm.types import ChatReply, ChatRequest, request_hash

TRANSCRIPT = "transcript.jsonl"


class ReplySource(Protocol):
    """Replies by request, read-only."""

    path: Path

    def get_many(self, model: str, requests: list[ChatRequest]) -> list[ChatReply | None]: ...

    def close(self) -> None: ...


class TranscriptReplies:
    """The replies recorded in run directories' transcripts, by cache key (each run's model from its manifest).

    Records without ``sampling`` (transcripts written before it was recorded) cannot be keyed and are skipped.
    """

    def __init__(self, path: Path, transcripts: list[Path]) -> None:
        self.path = path
        self._replies: dict[str, ChatReply] = {}
        for transcript in transcripts:
            model = _run_model(transcript.parent)
            with transcript.open(encoding="utf-8") as lines:
                for line in lines:
                    record = json.loads(line)
                    if "sampling" not in record:
                        continue
                    sampling = record["sampling"]
                    key = request_hash(model, record["messages"], record["schema"],
                                       (sampling["temperature"], sampling["top_p"], sampling["max_tokens"]),
                                       record["seed"],
                                       (record["adapter"], record["adapter_digest"]) if record.get("adapter") else None)
                    self._replies.setdefault(key, ChatReply(
                        record["reply"], record["prompt_tokens"], record["completion_tokens"], 0.0,
                        record["finish_reason"], cached=True))

    def __len__(self) -> int:
        return len(self._replies)

    def get_many(self, model: str, requests: list[ChatRequest]) -> list[ChatReply | None]:
        return [self._replies.get(r.cache_key(model)) for r in requests]

    def close(self) -> None:
        """Nothing to release."""


def _run_model(run_dir: Path) -> str:
    """The model a run directory's replies came from (what its client's cache keys used)."""
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
        return (manifest.get("llm") or {}).get("model") or manifest["scenario"]["llm"]["model"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"llm.cache_from: {run_dir} has no readable manifest.json naming its model "
                        f"({type(exc).__name__}: {exc})") from None


def open_source(path: str | Path) -> ReplySource:
    """A reply cache file, a run directory or a sweep directory, opened read-only; a `UserError` names a path
    that is none of these."""
    where = Path(path)
    if where.is_file():
        try:
            return ReplyCache.read_only(where)
        except sqlite3.Error as exc:
            raise UserError(f"llm.cache_from: {where} is not a reply cache ({exc}); give an llm_cache.sqlite, "
                            "a run directory or a sweep directory") from None
    if where.is_dir():
        transcripts = [where / TRANSCRIPT] if (where / TRANSCRIPT).is_file() else sorted(
            where.glob(f"runs/*/{TRANSCRIPT}"))
        if transcripts:
            return TranscriptReplies(where, transcripts)
        raise UserError(f"llm.cache_from: {where} holds no {TRANSCRIPT} (nor runs/*/{TRANSCRIPT}): give a run "
                        "directory written with output.transcript on, a sweep directory, or an llm_cache.sqlite")
    raise UserError(f"llm.cache_from: {where} does not exist")


def open_sources(paths: Sequence[str | Path]) -> list[ReplySource]:
    """Every path of ``llm.cache_from``, opened in order (earlier ones answer first)."""
    opened: list[ReplySource] = []
    try:
        for path in paths:
            opened.append(open_source(path))
    except BaseException:
        for source in opened:
            source.close()
        raise
    return opened
