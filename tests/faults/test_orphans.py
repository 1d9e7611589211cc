"""Processes we start die with their parent, checked by pid, on a fake vLLM tree that ignores SIGTERM.

The fake (`tests/faults/fake_vllm.py`) is a server that forks an engine core that forks a worker, all three
ignoring SIGTERM like vLLM's while it starts; the real server's tree is checked in test_real_server_faults.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from sim.llm.errors import LLMError
from sim.llm.server import VLLMServer, free_port, serve_forever
from sim.processes import descendants
from tests.faults.fakes import ROOT
from tests.faults.helpers import alive, wait_gone

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process checks read Linux /proc")


class FakeVLLMTree(VLLMServer):
    """`VLLMServer` running the fake tree instead of vLLM; a short grace keeps the SIGKILL stage quick."""

    grace_s = 1.0

    def __init__(self, pidfile: Path, **kwargs: object) -> None:
        super().__init__("fake-model", **kwargs)  # type: ignore[arg-type]
        self.pidfile = pidfile

    def command(self) -> list[str]:
        return [sys.executable, "-m", "tests.faults.fake_vllm", str(self.port), str(self.pidfile)]


def tree_pids(pidfile: Path) -> list[int]:
    pids = [int(p) for p in pidfile.read_text().split()]
    assert len(pids) == 3 and all(alive(p) for p in pids)
    return pids


def test_stop_ends_the_server_and_its_engine_processes_though_they_ignore_sigterm(tmp_path: Path) -> None:
    server = FakeVLLMTree(tmp_path / "pids", log_path=tmp_path / "log").start()
    guard = server._process.pid
    pids = tree_pids(tmp_path / "pids")
    assert set(pids) <= set(descendants(guard))
    server.stop()
    assert wait_gone([guard, *pids], timeout_s=0) == []


def test_a_killed_server_takes_its_engine_processes_with_it(tmp_path: Path) -> None:
    server = FakeVLLMTree(tmp_path / "pids", log_path=tmp_path / "log")
    pids: list[int] = []

    def kill_the_server(url: str) -> None:
        pids.extend(tree_pids(tmp_path / "pids"))
        os.kill(pids[0], signal.SIGKILL)

    with pytest.raises(LLMError, match="vLLM server exited with status 137"):
        serve_forever(server, kill_the_server)
    assert len(pids) == 3 and wait_gone(pids, timeout_s=0) == []


PARENT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from tests.faults.test_orphans import FakeVLLMTree
    server = FakeVLLMTree(Path(sys.argv[1]), log_path=Path(sys.argv[2])).start()
    print(server._process.pid, flush=True)
    time.sleep(3600)
    """
)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
@pytest.mark.slow
def test_a_killed_parent_takes_the_whole_server_tree_with_it(tmp_path: Path, sig: signal.Signals) -> None:
    """``kill -9`` of the process that started the server: the guard gets a parent-death signal."""
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "pids"), str(tmp_path / "log")],
        stdout=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        guard = int(parent.stdout.readline())
        pids = tree_pids(tmp_path / "pids")
        parent.send_signal(sig)
        parent.wait(timeout=30)
        assert wait_gone([guard, *pids]) == []
    finally:
        parent.kill()
        parent.wait()


@pytest.mark.slow
def test_the_cli_serve_command_stops_its_tree_on_sigterm(tmp_path: Path) -> None:
    """`alignsim serve` itself (its server command swapped for the fake tree): SIGTERM stops it, no pids left."""
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from sim import cli
        from sim.llm import server
        from tests.faults.test_orphans import FakeVLLMTree
        server.VLLMServer = lambda *a, **k: FakeVLLMTree(Path({str(tmp_path / "pids")!r}), **k)
        sys.exit(cli.main(["serve", "--port", "{free_port()}", "--log", {str(tmp_path / "log")!r}]))
        """
    )
    serve = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert "starting vLLM" in serve.stdout.readline()
        assert "serving smollm2-135m at http://127.0.0.1:" in serve.stdout.readline()
        pids = [*descendants(serve.pid)]
        assert set(tree_pids(tmp_path / "pids")) < set(pids)
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=30) == 0, serve.stderr.read()
        assert wait_gone(pids, timeout_s=0) == []
    finally:
        serve.kill()
        serve.wait()


WATCHED = textwrap.dedent(
    """
    import subprocess, sys, time
    from sim.processes import Watchdog, descendants
    from tests.faults.fake_vllm import stubborn
    # like vllm.LLM: a library starts an engine core (which starts a worker) inside our process
    engine = subprocess.Popen(stubborn(f"import subprocess; subprocess.Popen({stubborn()!r}); "))
    while not descendants(engine.pid):
        time.sleep(0.05)
    pids = [engine.pid, *descendants(engine.pid)]
    watchdog = Watchdog(pids, grace_s=1.0)
    if sys.argv[1] == "disarm":
        watchdog.stop()
    print(watchdog._process.pid, *pids, flush=True)
    time.sleep(3600)
    """
)


@pytest.mark.parametrize("disarm", [False, True])
def test_a_watchdog_stops_what_a_library_started_when_we_are_killed(tmp_path: Path, disarm: bool) -> None:
    """``kill -9`` of a process whose library started stubborn children: its watchdog stops them; a
    watchdog that was stopped (the children were shut down properly) is gone and touches nothing."""
    parent = subprocess.Popen([sys.executable, "-c", WATCHED, "disarm" if disarm else "arm"],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    watchdog, *pids = (int(p) for p in parent.stdout.readline().split())
    try:
        assert len(pids) == 2 and all(alive(p) for p in pids)
        if disarm:
            assert not alive(watchdog)
        else:
            parent.kill()
            parent.wait()
            assert wait_gone([watchdog, *pids]) == []
    finally:
        parent.kill()
        parent.wait()
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_server_started_from_a_thread_that_ends_keeps_running(tmp_path: Path) -> None:
    """The guard follows its parent process, not the thread that started it (as PR_SET_PDEATHSIG would)."""
    started: list[VLLMServer] = []
    thread = threading.Thread(target=lambda: started.append(FakeVLLMTree(tmp_path / "pids").start()))
    thread.start()
    thread.join()
    [server] = started
    try:
        time.sleep(1.0)  # five looks at its parent
        assert server.healthy() and all(alive(p) for p in tree_pids(tmp_path / "pids"))
    finally:
        server.stop()


def test_what_is_below_a_zombie_is_still_below_us(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process table read while a server dies: its engine still listed under it, the server already a zombie.
    The guard must still stop the engine, so it counts as ours; the zombie itself needs no stopping."""
    import sim.processes as processes

    me = os.getpid()
    table = [(10, me, b"S"), (11, me, b"Z"), (12, 11, b"S"), (13, 12, b"R"), (14, 1, b"S")]
    monkeypatch.setattr(processes, "_process_table", lambda: table)
    assert sorted(descendants(me)) == [10, 12, 13]
