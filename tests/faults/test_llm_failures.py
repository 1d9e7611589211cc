"""An LLM that fails mid-run: one message, exit status 3, no traceback, no litter, and a rerun that continues.

The servers here are fakes (`FakeChatServer`, on free ports); the real vLLM server is killed in
test_real_server_faults.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sim.cli import main
from sim.llm import client as client_module
from sim.llm.errors import EXIT_LLM
from sim.llm.server import free_port
from sim.sweeps.api import sweep
from tests.faults.fakes import COMMONS, ROOT, assert_same_tables, commons_args, fisher_server, manifest

RERUN = "run the same command again to continue from the cache"


def test_a_server_that_dies_mid_run_exits_3_and_the_rerun_continues_from_the_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = commons_args(tmp_path)  # 2 months x 5 fishers = 10 requests
    with fisher_server(["ok"] * 7, default="drop").running() as dying:
        assert main(["run", *args, "--server", dying.url, "--out", str(tmp_path / "run"), "-q"]) == EXIT_LLM
    err = capsys.readouterr().err
    assert f"alignsim: LLM failure: LLM server {dying.url} failed 1 time(s)" in err
    assert f"cached in {tmp_path / 'cache.sqlite'}: {RERUN}" in err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists() and not list(tmp_path.glob(".run.partial-*"))

    with fisher_server().running() as healthy:
        assert main(["run", *args, "--server", healthy.url, "--out", str(tmp_path / "run"), "-q"]) == 0
        assert len(healthy.bodies) == 3
        fresh = commons_args(tmp_path / "fresh")
        assert main(["run", *fresh, "--server", healthy.url, "--out", str(tmp_path / "uninterrupted"), "-q"]) == 0
    stats = manifest(tmp_path / "run")["llm"]
    assert (stats["requests"], stats["cache_hits"]) == (10, 7)
    assert_same_tables(tmp_path / "run", tmp_path / "uninterrupted")


def test_a_dead_server_leaves_no_empty_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["run", *commons_args(tmp_path), "--server", url, "-q"]) == EXIT_LLM
    assert not (tmp_path / "runs").exists()  # not even runs/commons/
    assert f"LLM server {url} failed" in capsys.readouterr().err


def test_a_replay_miss_exits_2_and_leaves_no_empty_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "runs").mkdir()
    assert main(["run", *commons_args(tmp_path, 1, "llm.backend=replay"), "-q"]) == 2
    assert list((tmp_path / "runs").iterdir()) == []  # the existing folder stays, runs/commons/ is gone
    assert "replay: 5 request(s) are not in the cache" in capsys.readouterr().err


def test_an_engine_that_fails_to_start_is_an_llm_failure_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_engine(config: object, settings: object, adapters: object) -> object:
        raise RuntimeError("Engine core initialization failed (fake)")

    monkeypatch.setattr(client_module, "_vllm_backend", broken_engine)
    assert main(["run", *commons_args(tmp_path, 1), "-q"]) == EXIT_LLM
    err = capsys.readouterr().err
    assert "alignsim: LLM failure: the vllm backend failed: RuntimeError: Engine core initialization failed" in err
    assert RERUN not in err  # running again would fail the same way
    assert not (tmp_path / "runs").exists()


def test_a_refusing_server_is_an_llm_failure_without_the_rerun_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with fisher_server(default="400").running() as server:
        assert main(["run", *commons_args(tmp_path, 1), "--server", server.url, "-q"]) == EXIT_LLM
    err = capsys.readouterr().err
    assert "refused request" in err and "HTTP 400" in err and RERUN not in err


@pytest.mark.slow
def test_the_console_script_prints_one_message_and_exits_3(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "sim.cli", "run", *commons_args(tmp_path, 1), "--server", url, "-q"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == EXIT_LLM, done.stderr
    failure, hint = done.stderr.splitlines()
    assert failure.startswith(f"alignsim: LLM failure: LLM server {url} failed 1 time(s) in a row for request agent=")
    assert failure.endswith("ConnectError: All connection attempts failed. Is the server running (alignsim serve)?")
    assert hint == f"alignsim: the replies received so far are cached in {tmp_path / 'cache.sqlite'}: {RERUN}"


@pytest.mark.slow
def test_a_sweep_whose_server_dies_stops_exits_3_and_the_rerun_finishes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Cells stopped by a dead server are not recorded as failed: running the same sweep again runs them."""
    sets = ["steps=1", "talk.rounds=0", "llm.retries=0", "llm.timeout_s=5", f"llm.cache={tmp_path / 'c.sqlite'}"]
    args = ["sweep", str(COMMONS), *(a for s in sets for a in ("--set", s)),
            "--grid", "llm.temperature=0,0.5,1", "--workers", "1", "-q", "--out", str(tmp_path / "sweep")]
    with fisher_server(["ok"] * 7, default="drop").running() as dying:
        assert main([*args, "--server", dying.url]) == EXIT_LLM
    err = capsys.readouterr().err
    assert "alignsim: LLM failure: sweep stopped by cell" in err and RERUN in err
    assert not (tmp_path / "sweep" / "errors").exists()
    assert len(list((tmp_path / "sweep" / "runs").iterdir())) == 1  # the first cell finished; the rest did not

    with fisher_server().running() as healthy:
        assert main([*args, "--server", healthy.url]) == 0
        assert len(healthy.bodies) == 15 - 7
        uninterrupted = sweep(COMMONS, overrides=[*sets[:-1], f"llm.cache={tmp_path / 'c2.sqlite'}"],
                              grid={"llm.temperature": [0, 0.5, 1]}, server=healthy.url, out=tmp_path / "other",
                              progress=False)
    resumed = sweep(COMMONS, overrides=sets, grid={"llm.temperature": [0, 0.5, 1]}, out=tmp_path / "sweep",
                    progress=False)
    metrics = [c for c in resumed.columns if c not in ("cell_id", "elapsed_s", "run_dir")]
    assert (resumed["status"] == "ok").all()
    assert resumed[metrics].equals(uninterrupted[metrics])


def test_a_run_on_two_servers_survives_one_dying_with_the_tables_of_a_one_server_run(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """``llm.base_url`` as a list; the dying server's requests fail over to the other."""
    with fisher_server(["ok"] * 3, default="drop").running() as dying, fisher_server().running() as healthy:
        two = commons_args(tmp_path / "two", 3, f"llm.base_url=[{dying.url}, {healthy.url}]")
        assert main(["run", *two, "--out", str(tmp_path / "two-servers"), "-q"]) == 0, capsys.readouterr().err
        assert len(dying.bodies) >= 4 and len(healthy.bodies) == 15 - 3
        one = commons_args(tmp_path / "one", 3)
        assert main(["run", *one, "--server", healthy.url, "--out", str(tmp_path / "one-server"), "-q"]) == 0
    assert_same_tables(tmp_path / "two-servers", tmp_path / "one-server")


@pytest.mark.parametrize(("fault", "said"), [
    ("500", "HTTP 500"),
    ("garbage", "not a chat completion: '<html>surprise</html>'"),
    ("drop", "RemoteProtocolError"),
    ("hang", "ReadTimeout"),
])
def test_a_server_that_keeps_failing_stops_the_run_with_exit_3_and_says_how(
    fault: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with fisher_server(default=fault, hang_s=3).running() as server:
        code = main(["run", *commons_args(tmp_path, 1, "llm.timeout_s=0.5"), "--server", server.url, "-q"])
    err = capsys.readouterr().err
    assert code == EXIT_LLM and said in err and RERUN in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_transient_faults_are_retried_and_change_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A 500, a garbage body and a dropped connection, each retried: the tables of a run on a sound server."""
    with fisher_server(["500", "garbage", "drop"]).running() as flaky, fisher_server().running() as sound:
        args = commons_args(tmp_path / "flaky", 2, "llm.retries=2")
        assert main(["run", *args, "--server", flaky.url, "--out", str(tmp_path / "a"), "-q"]) == 0
        assert len(flaky.bodies) == 10 + 3
        args = commons_args(tmp_path / "sound", 2)
        assert main(["run", *args, "--server", sound.url, "--out", str(tmp_path / "b"), "-q"]) == 0
    assert_same_tables(tmp_path / "a", tmp_path / "b")


def test_a_run_removes_the_partial_folders_of_runs_killed_with_sigkill(tmp_path: Path) -> None:
    """A SIGKILLed run cannot clean up after itself; the next run in the same folder does, sparing live ones."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    folder = tmp_path / "runs" / "commons_rules"
    stale, live = folder / f".a-seed1.partial-{gone.pid}", folder / f".b-seed1.partial-{os.getpid()}"
    stale.mkdir(parents=True)
    live.mkdir()
    rules = ROOT / "scenarios" / "commons_rules.yaml"
    assert main(["run", str(rules), "--set", "steps=1", "--set", "output.plots=false", "--set",
                 f"output.dir={tmp_path / 'runs'}", "-q"]) == 0
    assert not stale.exists() and live.exists()
