"""A fake vLLM server process tree, for orphan tests that need no model: ``python -m tests.faults.fake_vllm``.

Like vLLM's api_server it answers /health and forks an "engine core", which forks a "worker"; like them, both
ignore SIGTERM. Every pid is written to ``PIDFILE`` once the tree is up.

    python -m tests.faults.fake_vllm PORT PIDFILE
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from sim.processes import descendants

STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); {spawn}time.sleep(3600)"


def stubborn(spawn: str = "") -> list[str]:
    """A process that ignores SIGTERM and sleeps (after running ``spawn``)."""
    return [sys.executable, "-c", STUBBORN.format(spawn=spawn)]


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def main(port: int, pidfile: Path) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    worker = f"import subprocess; subprocess.Popen({stubborn()!r}); "
    engine = subprocess.Popen(stubborn(worker))
    deadline = time.monotonic() + 30
    while not descendants(engine.pid) and time.monotonic() < deadline:  # every pid known before we answer
        time.sleep(0.05)
    pidfile.write_text(" ".join(str(p) for p in (os.getpid(), engine.pid, *descendants(engine.pid))))
    HTTPServer(("127.0.0.1", port), Health).serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
