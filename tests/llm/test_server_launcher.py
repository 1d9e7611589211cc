"""VLLMServer's process handling, with fake server commands standing in for vLLM (fast, no model)."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from sim.llm.errors import LLMError
from sim.llm.server import VLLMServer, serve_forever

HEALTHY = textwrap.dedent(
    """
    import sys, time
    from http.server import BaseHTTPRequestHandler, HTTPServer
    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()
        def log_message(self, *a):
            pass
    print("fake server up", flush=True)
    server = HTTPServer(("127.0.0.1", int(sys.argv[1])), H)
    server.timeout = 0.2
    deadline = time.time() + float(sys.argv[2])
    while time.time() < deadline:
        server.handle_request()
    """
)


class FakeVLLMServer(VLLMServer):
    """Runs a small Python script instead of vLLM, so start/health/stop can be tested in a second."""

    def __init__(self, script: str, *args: str, **kwargs: object) -> None:
        super().__init__("fake-model", **kwargs)  # type: ignore[arg-type]
        self.script = script
        self.args = args

    def command(self) -> list[str]:
        return [sys.executable, "-c", self.script, str(self.port), *self.args]


def test_start_waits_for_health_and_stop_ends_the_process(tmp_path: Path) -> None:
    server = FakeVLLMServer(HEALTHY, "60", log_path=tmp_path / "log")
    with server:
        assert httpx.get(f"{server.url}/health").status_code == 200
        pid = server._process.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert "fake server up" in (tmp_path / "log").read_text()


def test_a_server_that_exits_while_starting_reports_status_and_log(tmp_path: Path) -> None:
    crash = "import sys; print('CUDA? no: fake startup failure'); sys.exit(3)"
    with pytest.raises(LLMError, match=r"(?s)exited with status 3.*fake startup failure"):
        FakeVLLMServer(crash, log_path=tmp_path / "log").start()


def test_a_server_that_never_gets_healthy_times_out(tmp_path: Path) -> None:
    server = FakeVLLMServer("import time; time.sleep(60)", log_path=tmp_path / "log", startup_timeout_s=1.5)
    with pytest.raises(LLMError, match=r"not healthy after 2 s"):
        server.start()
    assert server._process is None


def test_serve_forever_announces_the_url_and_returns_when_the_server_exits(tmp_path: Path) -> None:
    server = FakeVLLMServer(HEALTHY, "3", log_path=tmp_path / "log")
    announced: list[str] = []
    assert serve_forever(server, announced.append) == 0
    assert announced == [server.url]
