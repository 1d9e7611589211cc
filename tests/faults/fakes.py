"""Shared pieces of the fault suite: a fake chat server that answers like a fisher, and a tiny LLM scenario."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from sim.llm.types import ChatRequest
from tests.fake_llm import commons_answer
from tests.llm.fakes import FakeChatServer

ROOT = Path(__file__).resolve().parents[2]
COMMONS = ROOT / "scenarios" / "commons.yaml"


def fisher_answer(body: dict[str, Any]) -> str:
    """A valid fisher action whose catch depends on the request's seed, so tables show which reply was used."""
    schema = (body.get("structured_outputs") or {}).get("json")
    request = ChatRequest(messages=tuple(body["messages"]), seed=body["seed"], schema=schema)
    reply = json.loads(commons_answer(request))
    if "fish" in reply:
        reply["fish"] = min(body["seed"] % 7, reply["fish"] + 2)
    return json.dumps(reply)


def fisher_server(script: list[str] | None = None, default: str = "ok", **kwargs: Any) -> FakeChatServer:
    """A `FakeChatServer` whose good replies are fisher actions."""
    return FakeChatServer(script, default, answer=fisher_answer, **kwargs)


def commons_args(tmp_path: Path, steps: int = 2, *extra: str) -> list[str]:
    """`alignsim run` arguments for a short commons run: 5 LLM fishers, no talk, fast retries, own cache."""
    sets = [f"steps={steps}", "talk.rounds=0", "output.plots=false", "llm.retries=0", "llm.timeout_s=5",
            f"llm.cache={tmp_path / 'cache.sqlite'}", f"output.dir={tmp_path / 'runs'}", *extra]
    return [str(COMMONS), *(a for s in sets for a in ("--set", s))]


def tables(run_dir: Path) -> dict[str, pd.DataFrame]:
    """A run directory's Parquet tables."""
    return {name: pd.read_parquet(run_dir / f"{name}.parquet") for name in ("model", "agents", "events")}


def assert_same_tables(a: Path, b: Path) -> None:
    left, right = tables(a), tables(b)
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], obj=name)


def manifest(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "manifest.json").read_text())
