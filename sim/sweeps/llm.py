"""One vLLM server and one reply cache for every cell of a sweep.

Cells of an LLM scenario send their requests to one OpenAI-compatible server, so requests of concurrent
cells meet in the server's continuous batching, and read and write one SQLite cache (WAL, busy timeout:
safe across processes). The server is the one given (``--server`` or ``llm.base_url``; several are shared the
same way, see `sim.llm.routing`) or, when the scenario asks for an in-process engine, one the sweep starts and
stops.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx

from sim.errors import UserError
from sim.llm.openai_backend import server_urls
from sim.scenario import Scenario


def check_server(url: str) -> None:
    """Fail with a message when nothing answers at ``url`` (any HTTP reply counts as an answer)."""
    try:
        httpx.get(f"{url.rstrip('/')}/health", timeout=5.0)
    except httpx.HTTPError as exc:
        raise UserError(f"--server {url}: not reachable ({type(exc).__name__}: {exc})") from None


def check_caches(scenarios: list[Scenario]) -> None:
    """Open each existing reply cache the LLM cells use, so that a damaged, foreign or locked one stops the sweep
    with its message (`sim.llm.cache`) before any cell runs; otherwise every cell would fail the same way."""
    from sim.llm.cache import ReplyCache

    for path in sorted({s.llm.cache for s in scenarios if s.uses_llm() and s.llm.cache}):
        if Path(path).exists():
            ReplyCache(path).close()


def cache_override(scenario: Scenario) -> list[str]:
    """Pin relative cache paths (``llm.cache``, ``llm.cache_from``) to this directory: Ray workers run elsewhere,
    and all cells share one cache file."""
    if not scenario.uses_llm():
        return []
    pinned = []
    cache = scenario.llm.cache
    if cache is not None and not Path(cache).is_absolute():
        pinned.append(f"llm.cache={Path(cache).resolve()}")
    if any(not Path(p).is_absolute() for p in scenario.llm.cache_from):
        pinned.append(f"llm.cache_from={json.dumps([str(Path(p).resolve()) for p in scenario.llm.cache_from])}")
    return pinned


def server_url(scenarios: list[Scenario], given: str | None) -> str | None:
    """The servers the cells share if known now (several separated by commas); checks that each answers."""
    llm = [s for s in scenarios if s.uses_llm()]
    urls = server_urls(given or next((s.llm.base_url for s in llm if s.llm.base_url), None))
    for url in urls:
        check_server(url)
    return ",".join(urls) or None


def own_server_model(scenarios: list[Scenario], url: str | None) -> str | None:
    """The model the sweep must serve itself (cells would each start an in-process engine), or None.

    One server serves one model, so every LLM cell must then use the same ``llm.model``.
    """
    local = [s.llm for s in scenarios if s.uses_llm() and s.llm.backend == "vllm"]
    if url is not None or not local:
        return None
    models = sorted({c.model for c in local})
    if len(models) > 1:
        raise UserError(f"a sweep shares one vLLM server, but llm.model varies: {', '.join(models)} "
                        "(start one server per model and pass --server, or sweep each model separately)")
    from sim.llm.models import check_model

    check_model(models[0], "llm.model")
    return models[0]


@contextlib.contextmanager
def shared_server(scenarios: list[Scenario], model: str, log_path: Path, decisions: int) -> Iterator[str]:
    """Start one vLLM server for ``model``, sized for the largest context any cell asks for, serving every adapter
    a cell's groups name, in the mode that the cells' ``llm.engine_mode`` and the ``decisions`` they will ask
    choose (`sim.llm.hardware`)."""
    from sim.llm import server as launcher
    from sim.llm.hardware import engine_settings
    from sim.training.adapters import scenario_adapters

    llm = [s.llm for s in scenarios if s.uses_llm()]
    modes = {c.engine_mode for c in llm} - {"auto"}
    adapters = tuple(dict.fromkeys(a for s in scenarios for a in scenario_adapters(s)))
    server = launcher.VLLMServer(
        model,
        max_num_batched_tokens=max(c.max_num_batched_tokens for c in llm),
        max_model_len=max(c.max_model_len for c in llm),
        kv_cache_gib=max(c.kv_cache_gib for c in llm),
        log_path=log_path,
        settings=engine_settings(modes.pop() if len(modes) == 1 else "auto", decisions, lora=bool(adapters)),
        adapters=adapters,
    )
    with server:
        yield server.url
