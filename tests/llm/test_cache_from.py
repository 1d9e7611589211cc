"""Replies made elsewhere (``llm.cache_from``, ``--cache-from``): read through, copied into the run's own cache,
never written; a run or sweep directory carries its replies in its transcripts, so a run on another machine
gives the same tables with no engine at all."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from sim.cli import main
from sim.llm.cache import ReplyCache
from sim.llm.client import LLMClient
from sim.llm.reply_sources import open_source
from sim.llm.types import ChatReply, ChatRequest
from tests.faults.fakes import assert_same_tables, commons_args, fisher_server, manifest
from tests.llm.fakes import FakeBackend


def request(i: int) -> ChatRequest:
    return ChatRequest(messages=({"role": "user", "content": f"question {i}"},), seed=i)


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``folder`` (sidecar journals included) with its content hash and modification time."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def foreign_cache(folder: Path, count: int) -> Path:
    """A reply cache written elsewhere and closed, as a colleague would send it."""
    folder.mkdir()
    cache = ReplyCache(folder / "llm_cache.sqlite")
    cache.put_many("fake-model", [(request(i), ChatReply(f"theirs {i}", 5, 2)) for i in range(count)])
    cache.close()
    return folder / "llm_cache.sqlite"


def test_a_foreign_cache_answers_first_fills_the_own_cache_and_is_never_written(tmp_path: Path) -> None:
    theirs = foreign_cache(tmp_path / "elsewhere", 3)
    before = snapshot(theirs.parent)
    backend = FakeBackend()
    client = LLMClient(backend, ReplyCache(tmp_path / "own.sqlite"), sources=[open_source(theirs)])
    replies = client.chat([request(i) for i in range(5)])
    assert [r.text for r in replies[:3]] == ["theirs 0", "theirs 1", "theirs 2"]
    assert all(r.cached for r in replies[:3]) and not replies[3].cached
    assert backend.batches == [[request(3), request(4)]]  # only what nobody had answered
    stats = client.stats()
    assert stats["imported"] == 3 and stats["cache_hits"] == 3 and stats["cache_from"] == [str(theirs)]
    client.chat([request(i) for i in range(5)])
    assert client.imported == 3 and len(backend.batches) == 1  # the own cache has them all now
    client.close()
    assert len(ReplyCache(tmp_path / "own.sqlite")) == 5
    assert snapshot(theirs.parent) == before  # not the file, not a journal beside it


def test_a_foreign_cache_being_written_is_read_with_its_log_and_left_as_it_was(tmp_path: Path) -> None:
    writing = ReplyCache(tmp_path / "live.sqlite")  # open: its write-ahead log holds the rows
    writing.put_many("fake-model", [(request(0), ChatReply("live"))])
    assert (tmp_path / "live.sqlite-wal").exists()
    source = ReplyCache.read_only(tmp_path / "live.sqlite")
    assert source.get_many("fake-model", [request(0)])[0].text == "live"
    with pytest.raises(PermissionError, match="opened read-only"):
        source.put_many("fake-model", [(request(1), ChatReply("no"))])
    source.close()
    writing.put_many("fake-model", [(request(1), ChatReply("still writable"))])
    writing.close()


def test_paths_that_hold_no_replies_are_refused_by_name(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "notes.sqlite").write_text("not a database")
    (tmp_path / "empty").mkdir()
    args = commons_args(tmp_path, 1)
    for path, says in [(tmp_path / "notes.sqlite", "is not a reply cache"), (tmp_path / "empty", "holds no "
                       "transcript.jsonl"), (tmp_path / "missing", "no reply cache, run or sweep directory at")]:
        assert main(["run", *args, "--cache-from", str(path), "-q"]) == 2
        err = capsys.readouterr().err
        assert str(path.name) in err and says in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_a_run_directory_carries_its_replies_so_another_machine_replays_it_exactly(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Here: a run on a server. Elsewhere (another cache, no engine: replay): the same tables, every reply taken
    from the first run's directory, which is left as it was."""
    here = commons_args(tmp_path / "here", 3)
    with fisher_server().running() as server:
        assert main(["run", *here, "--server", server.url, "--out", str(tmp_path / "original"), "-q"]) == 0
    original = tmp_path / "original"
    before = snapshot(original)
    elsewhere = commons_args(tmp_path / "elsewhere", 3, "llm.backend=replay")
    assert main(["run", *elsewhere, "--cache-from", str(original), "--out", str(tmp_path / "again"), "-q"]) == 0
    assert_same_tables(original, tmp_path / "again")
    stats = manifest(tmp_path / "again")["llm"]
    assert stats["imported"] == stats["requests"] == manifest(original)["llm"]["requests"] > 0
    assert manifest(tmp_path / "again")["scenario"]["llm"]["cache_from"] == [str(original.resolve())]
    assert len(ReplyCache(tmp_path / "elsewhere" / "cache.sqlite")) == stats["requests"]
    assert snapshot(original) == before
    capsys.readouterr()


def test_a_sweep_takes_another_sweeps_replies_from_its_directory(tmp_path: Path) -> None:
    overrides = ["steps=2", "talk.rounds=0", "output.plots=false", "llm.retries=0"]
    grid = ["--grid", "llm.temperature=0.0,0.7"]
    scenario = str(Path(commons_args(tmp_path, 1)[0]))
    sets = [a for s in overrides for a in ("--set", s)]
    with fisher_server().running() as server:
        assert main(["sweep", scenario, *sets, *grid, "--set", f"llm.cache={tmp_path / 'first.sqlite'}", "--server",
                     server.url, "--workers", "1", "--out", str(tmp_path / "first"), "-q"]) == 0
    before = snapshot(tmp_path / "first" / "runs")
    assert main(["sweep", scenario, *sets, *grid, "--set", "llm.backend=replay", "--set", "llm.cache=null",
                 "--cache-from", str(tmp_path / "first"), "--workers", "1", "--out", str(tmp_path / "second"),
                 "-q"]) == 0
    first, second = (pd.read_parquet(tmp_path / name / "results.parquet") for name in ("first", "second"))
    assert (second["status"] == "ok").all() and list(first["llm.temperature"]) == list(second["llm.temperature"])
    for mine, theirs in zip(first["cell_id"], second["cell_id"], strict=True):
        assert_same_tables(tmp_path / "first" / "runs" / mine, tmp_path / "second" / "runs" / theirs)
        assert manifest(tmp_path / "second" / "runs" / theirs)["llm"]["imported"] > 0
    assert snapshot(tmp_path / "first" / "runs") == before


def test_transcripts_without_sampling_are_skipped_not_misread(tmp_path: Path) -> None:
    run = tmp_path / "old-run"
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps({"llm": {"model": "fake-model"}}))
    record = {"seed": 0, "messages": [{"role": "user", "content": "question 0"}], "schema": None, "reply": "old",
              "prompt_tokens": 1, "completion_tokens": 1, "finish_reason": "stop", "cached": False}
    (run / "transcript.jsonl").write_text(json.dumps(record) + "\n" + json.dumps(
        {**record, "reply": "new", "sampling": {"temperature": 0.7, "top_p": 1.0, "max_tokens": 128}}) + "\n")
    source = open_source(run)
    assert len(source) == 1 and source.get_many("fake-model", [request(0)])[0].text == "new"
