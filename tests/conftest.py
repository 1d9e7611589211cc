"""Shared test fixtures, and how tests are spread over parallel workers.

LLM fixtures: real vLLM engines and servers on the packaged SmolLM2-135M model, shared by the whole session,
one per distinct setting: ``vllm_engines.get(**settings)`` and ``vllm_servers.get(**settings)`` start one on
first use and hand the same one to every later test that asks for the same settings (``vllm_backend`` and
``vllm_server`` are the default ones). A test that needs other settings (LoRA, a longer context) asks the pool,
and pays for a start only if no earlier test asked for the same. Tests using them are marked ``llm`` and skip
where vLLM is not installed, unless ``ALIGNSIM_REQUIRE_VLLM=1`` (set by ``make test``): then a missing vLLM
fails them, so CI cannot pass by skipping the real engine.

Parallel workers (``pytest -n 2 --dist loadgroup``, what ``make test`` runs): session fixtures exist once per
worker, so every test that uses the engine pool runs on one worker, every test that uses the server pool on
one worker (`xdist_group` marks added at collection), and the tests of any other module together (their
module-scoped fixtures are built once), unless a test names its own group.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

ENGINE_FIXTURES = {"vllm_backend": "vllm-engine", "vllm_engines": "vllm-engine",
                   "vllm_server": "vllm-server", "vllm_servers": "vllm-server"}
SLOW_FIXTURES = {*ENGINE_FIXTURES, "browser", "page", "dashboard"}  # a real engine, server, browser or dashboard


def require_vllm() -> None:
    """Skip without vLLM, or fail where the test command demands the real engine."""
    if os.environ.get("ALIGNSIM_REQUIRE_VLLM") == "1":
        import vllm  # noqa: F401  (an ImportError here fails the test, as it should)
    else:
        pytest.importorskip("vllm", reason="vLLM is not installed (pip install -e '.[cpu]')")


class SharedPool:
    """Things slow to start (engines, servers), one per distinct settings, kept for the session.

    At most ``keep`` stay alive (each engine holds its model and KV cache in memory); asking for one more stops
    the one used longest ago, to be started again if a later test asks for it.
    """

    def __init__(self, start: Callable[..., Any], stop: Callable[[Any], None], keep: int = 2) -> None:
        self._start, self._stop, self.keep = start, stop, keep
        self._alive: dict[tuple[tuple[str, str], ...], Any] = {}
        self.started = 0

    def get(self, **settings: Any) -> Any:
        key = tuple(sorted((name, repr(value)) for name, value in settings.items()))
        if key in self._alive:
            self._alive[key] = self._alive.pop(key)  # most recently used last
            return self._alive[key]
        while len(self._alive) >= self.keep:
            self._stop(self._alive.pop(next(iter(self._alive))))
        require_vllm()
        self._alive[key] = self._start(**settings)
        self.started += 1
        return self._alive[key]

    def close(self) -> None:
        while self._alive:
            self._stop(self._alive.popitem()[1])


ENGINE_DEFAULTS: dict[str, Any] = {"max_num_batched_tokens": 32768, "kv_cache_gib": 2, "max_model_len": 2048}


@pytest.fixture(scope="session")
def vllm_engines() -> Iterator[SharedPool]:
    """In-process ``VLLMBackend``s by settings (`ENGINE_DEFAULTS`, eager, then what the test gives): tests check
    what an engine answers, not how fast it decodes."""

    def start(**settings: Any) -> Any:
        from sim.llm.hardware import engine_settings
        from sim.llm.vllm_backend import VLLMBackend

        return VLLMBackend("smollm2-135m", **{"settings": engine_settings("eager"), **ENGINE_DEFAULTS, **settings})

    pool = SharedPool(start, lambda engine: engine.close())
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def vllm_backend(vllm_engines: SharedPool) -> object:
    """The session's default in-process ``VLLMBackend``."""
    return vllm_engines.get()


@pytest.fixture(scope="session")
def vllm_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedPool]:
    """Started ``VLLMServer``s by settings (keyword arguments of `sim.llm.server.VLLMServer`); eager unless the
    settings say otherwise: tests check what a server answers, not how fast it decodes."""

    def start(**settings: Any) -> Any:
        from sim.llm.hardware import engine_settings
        from sim.llm.server import VLLMServer

        log = tmp_path_factory.mktemp("vllm-server") / "server.log"
        settings = {"settings": engine_settings("eager"), **settings}
        return VLLMServer("smollm2-135m", log_path=log, startup_timeout_s=900, **settings).start()

    pool = SharedPool(start, lambda server: server.stop())
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def vllm_server(vllm_servers: SharedPool) -> str:
    """The URL of the session's default vLLM OpenAI-compatible server."""
    return vllm_servers.get().url


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``slow`` every test that uses a real engine, server, browser or dashboard; under pytest-xdist, group
    the users of each pool, and the other tests by module (see the docstring)."""
    grouped = config.pluginmanager.hasplugin("xdist")
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if SLOW_FIXTURES.intersection(fixtures):
            item.add_marker(pytest.mark.slow)
        if grouped and not any(item.iter_markers("xdist_group")):  # a test's own group wins
            group = next((ENGINE_FIXTURES[f] for f in ENGINE_FIXTURES if f in fixtures), item.nodeid.split("::")[0])
            item.add_marker(pytest.mark.xdist_group(group))
