"""Real vLLM servers: two give the tables of one, and a server killed with SIGKILL mid-run loses nothing.

Besides the session's server (the ``vllm_server`` fixture) this module starts one more, the way a user does
(``alignsim serve``), and kills that process with SIGKILL in the middle of a run on it: its engine core and
worker must die too, the run must stop with exit status 3, and running the same command again (on the
session's server) must take what was answered from the cache and give the tables of an uninterrupted run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sim.cli import main
from sim.llm.errors import EXIT_LLM
from sim.llm.openai_backend import parse_prometheus
from sim.llm.server import free_port
from sim.processes import descendants
from tests.faults.fakes import ROOT, assert_same_tables, commons_args, manifest
from tests.faults.helpers import alive, cached_replies, command_line

pytestmark = [
    pytest.mark.llm,
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process checks read Linux /proc"),
]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
RUN = ["llm.retries=1", "llm.timeout_s=120"]
# the lake never collapses (a stock below 0 cannot happen), so a run makes all its steps whatever the model catches:
# a model that empties the lake in month 1 would otherwise end the run before the server is killed
WHOLE_RUN = [*RUN, "environment.collapse_below=0"]


@pytest.fixture(scope="module")
def second_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``alignsim serve`` on a free port: its URL and its process (which the test kills)."""
    from tests.conftest import require_vllm

    require_vllm()
    log = tmp_path_factory.mktemp("second-server") / "server.log"
    port = free_port()
    serve = subprocess.Popen([sys.executable, "-m", "sim.cli", "serve", "--port", str(port), "--log", str(log),
                              "--engine-mode", "eager"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV, cwd=ROOT)
    try:
        for line in serve.stdout:
            if line.startswith("serving"):
                break
        else:
            pytest.fail(f"alignsim serve exited with {serve.wait()}: {log.read_text()[-2000:]}")
        yield f"http://127.0.0.1:{port}", serve
    finally:
        serve.terminate()
        serve.wait(timeout=60)


def requests_served(url: str) -> float:
    counters = parse_prometheus(httpx.get(f"{url}/metrics", timeout=10).text, ("vllm:request_success_total",))
    return counters.get("vllm:request_success_total", 0.0)


def test_two_real_servers_give_the_tables_of_one(vllm_server: str, second_server, tmp_path: Path) -> None:
    url, _ = second_server
    one = commons_args(tmp_path / "one", 2, *RUN)
    assert main(["run", *one, "--server", vllm_server, "--out", str(tmp_path / "one-server"), "-q"]) == 0
    before = requests_served(vllm_server), requests_served(url)
    two = commons_args(tmp_path / "two", 2, *RUN)
    assert main(["run", *two, "--server", f"{vllm_server},{url}", "--out", str(tmp_path / "two-servers"), "-q"]) == 0
    after = requests_served(vllm_server), requests_served(url)
    assert after[0] > before[0] and after[1] > before[1], "both servers should have answered"
    assert_same_tables(tmp_path / "one-server", tmp_path / "two-servers")


def test_a_server_killed_mid_run_leaves_no_orphans_and_the_rerun_continues_from_the_cache(
    vllm_server: str, second_server, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    url, serve = second_server
    tree = descendants(serve.pid)
    assert len(tree) >= 4, tree  # guard, api_server, engine core, worker
    args = commons_args(tmp_path, 3, *WHOLE_RUN)
    cache = tmp_path / "cache.sqlite"
    doomed = subprocess.Popen([sys.executable, "-m", "sim.cli", "run", *args, "--server", url, "-q", "--out",
                               str(tmp_path / "run")], stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)
    deadline = time.monotonic() + 600
    while cached_replies(cache) < 5 and doomed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert doomed.poll() is None, "the run finished before the server could be killed"
    # SIGKILL of `alignsim serve` (its guard then stops the tree, gracefully first), and of the server itself,
    # so that the requests in flight fail now rather than after the server's graceful shutdown.
    [api_server] = [p for p in tree if command_line(p).split()[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]]
    serve.send_signal(signal.SIGKILL)
    os.kill(api_server, signal.SIGKILL)
    serve.wait()
    assert doomed.wait(timeout=300) == EXIT_LLM
    err = doomed.stderr.read()
    assert f"alignsim: LLM failure: LLM server {url} failed 2 time(s)" in err and "Traceback" not in err
    assert "run the same command again to continue from the cache" in err
    gone = time.monotonic() + 60
    while any(alive(p) for p in tree) and time.monotonic() < gone:
        time.sleep(0.2)
    assert [p for p in tree if alive(p)] == [], "the killed server's engine processes outlived it"
    answered = cached_replies(cache)
    assert answered >= 5 and not (tmp_path / "run").exists()

    assert main(["run", *args, "--server", vllm_server, "--out", str(tmp_path / "run"), "-q"]) == 0
    stats = manifest(tmp_path / "run")["llm"]
    assert stats["cache_hits"] == answered < stats["requests"]  # everything answered before, then the rest
    whole = commons_args(tmp_path / "whole", 3, *WHOLE_RUN)
    assert main(["run", *whole, "--server", vllm_server, "--out", str(tmp_path / "uninterrupted"), "-q"]) == 0
    assert_same_tables(tmp_path / "run", tmp_path / "uninterrupted")
    capsys.readouterr()
