"""A reply cache alignsim cannot use: one message naming the file and what to do, exit 2, the file untouched.

It was an `sqlite3.DatabaseError` traceback (damaged file) or an `OperationalError` after a minute (locked).
"""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sim.cli import main
from sim.llm import cache as cache_module
from tests.faults.fakes import ROOT, commons_args, fisher_server


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_on(tmp_path: Path, server_url: str) -> int:
    return main(["run", *commons_args(tmp_path, 1), "--server", server_url, "--out", str(tmp_path / "run"), "-q"])


def assert_refused_and_untouched(tmp_path: Path, err: str, before: str, what: str) -> None:
    cache = tmp_path / "cache.sqlite"
    assert f"alignsim: error: LLM reply cache {cache} is {what}" in err, err
    assert "alignsim never deletes or changes a cache: move it aside" in err and f"mv {cache}" in err
    assert "Traceback" not in err
    assert digest(cache) == before
    assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()


def test_a_file_that_is_not_a_database_is_refused_by_name_and_left_as_it_was(tmp_path: Path, capsys) -> None:
    cache = tmp_path / "cache.sqlite"
    cache.write_bytes(bytes(range(256)) * 20)
    before = digest(cache)
    with fisher_server().running() as server:
        assert run_on(tmp_path, server.url) == 2
    assert_refused_and_untouched(tmp_path, capsys.readouterr().err, before, "damaged: file is not a database")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.sqlite"]  # no -wal, no -shm beside it


def test_a_cache_with_damaged_pages_is_refused_by_name_and_left_as_it_was(tmp_path: Path, capsys) -> None:
    with fisher_server().running() as server:
        assert run_on(tmp_path / "first", server.url) == 0
        cache = tmp_path / "cache.sqlite"
        (tmp_path / "first" / "cache.sqlite").rename(cache)
        data = bytearray(cache.read_bytes())
        page = int.from_bytes(data[16:18], "big")
        data[page:] = b"\xff" * (len(data) - page)  # the header stays, every page after the first is garbage
        cache.write_bytes(bytes(data))
        before = digest(cache)
        assert run_on(tmp_path, server.url) == 2
    assert_refused_and_untouched(tmp_path, capsys.readouterr().err, before, "damaged: ")


def test_another_programs_database_is_refused_before_anything_in_it_changes(tmp_path: Path, capsys) -> None:
    cache = tmp_path / "cache.sqlite"
    with sqlite3.connect(cache) as db:
        db.execute("CREATE TABLE notes (text)")
        db.execute("INSERT INTO notes VALUES ('keep me')")
    db.close()
    before = digest(cache)
    with fisher_server().running() as server:
        assert run_on(tmp_path, server.url) == 2
    err = capsys.readouterr().err
    assert_refused_and_untouched(tmp_path, err, before, "an SQLite database, but not an alignsim reply cache")
    assert "(its tables: notes)" in err


HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from sim.llm.cache import ReplyCache
    cache = ReplyCache(sys.argv[1])  # a cache as alignsim makes it (WAL), then its write lock held
    cache._db.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    time.sleep(120)
    """
)


def test_a_cache_locked_by_another_process_is_waited_for_then_refused_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_module, "LOCK_WAIT_S", 1.0)
    cache = tmp_path / "cache.sqlite"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(cache)], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    try:
        assert holder.stdout.readline().strip() == "locked"
        with fisher_server().running() as server:
            assert run_on(tmp_path, server.url) == 2
            err = capsys.readouterr().err
            assert f"alignsim: error: LLM reply cache {cache}: another process kept it locked for 1 s" in err, err
            assert "Traceback" not in err and not (tmp_path / "run").exists()
            holder.kill()
            holder.wait()
            assert run_on(tmp_path, server.url) == 0  # once the lock is gone, the same command runs
    finally:
        holder.kill()
        holder.wait()


def test_a_sweep_on_a_damaged_cache_stops_before_any_cell(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Each cell failed with the same message, and the sweep recorded them all as failed cells (exit 1)."""
    cache = tmp_path / "cache.sqlite"
    cache.write_bytes(b"not a database" * 400)
    with fisher_server().running() as server:
        assert main(["sweep", *commons_args(tmp_path, 1), "--replications", "2", "--server", server.url,
                     "--out", str(tmp_path / "sweep"), "--workers", "1", "-q"]) == 2
    assert f"LLM reply cache {cache} is damaged" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.sqlite"]


def test_a_folder_given_as_the_cache_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It was exit 4, "cannot write the LLM reply cache: unable to open database file", and a hint to free space."""
    with fisher_server().running() as server:
        assert run_on(tmp_path, server.url) == 0  # makes cache.sqlite beside a folder we then name instead
        assert main(["run", *commons_args(tmp_path, 1, f"llm.cache={tmp_path}"), "--server", server.url, "-q"]) == 2
    assert (f"alignsim: error: LLM reply cache {tmp_path} is a folder: set llm.cache to a file in it, e.g. "
            f"{tmp_path / 'llm_cache.sqlite'}") in capsys.readouterr().err
