"""Browser fixtures: the real `alignsim dashboard` command on a free loopback port, and Debian's headless Chromium
driven by Playwright (never a browser Playwright downloads)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("ALIGNSIM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START_TIMEOUT_S = 180  # the dashboard process: imports, assets check, first view (2 loaded cores in CI)
ROOT = Path(__file__).resolve().parents[2]


def _require_browser() -> None:
    """Skip where no browser is installed, but fail under ALIGNSIM_REQUIRE_BROWSER=1 (`make test`, whose set-up
    installs Chromium)."""
    problem = None
    if not Path(CHROMIUM).is_file():
        problem = f"no Chromium at {CHROMIUM} (the Makefile's set-up installs Debian's chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
            import solara  # noqa: F401
        except ImportError as exc:
            problem = f"{exc.name} is not installed (pip install -e '.[dashboard]')"
    if problem and os.environ.get("ALIGNSIM_REQUIRE_BROWSER"):
        pytest.fail(problem)
    if problem:
        pytest.skip(problem)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One Chromium per test module: Playwright's sync API keeps an event loop set on this thread while it runs,
    which later tests that start their own loop must not find."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1400, "height": 1600})
    context.set_default_timeout(60_000)
    page = context.new_page()
    yield page
    context.close()


class Dashboard:
    """A running `alignsim dashboard` process."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = log
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with log.open("w") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sim.cli", "dashboard", *args, "--port", str(self.port)],
                stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        self._wait_until_serving()

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the dashboard exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.5)  # polling for the port to open, not waiting on the page
        raise AssertionError(f"the dashboard did not serve within {START_TIMEOUT_S} s:\n{self.log.read_text()}")

    def stop(self) -> int:
        self.process.terminate()
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=30)


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[Callable[..., Dashboard]]:
    """Start ``alignsim dashboard ARGS`` (stopped at the end of the test)."""
    started: list[Dashboard] = []

    def start(*args: str) -> Dashboard:
        _require_browser()
        shown = Dashboard(list(args), tmp_path / f"dashboard-{len(started)}.log")
        started.append(shown)
        return shown

    yield start
    for shown in started:
        shown.stop()


@pytest.fixture
def alignsim() -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "sim.cli", *args], capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT, timeout=600, check=False)

    return run

