"""The commons with LLM fishers end to end: run directory, transcript, GovSim metrics, replay from the cache.

The unit tests use a FakeLLMClient or a scripted backend; the ``llm`` tests run the packaged SmolLM2 model in the
session's vLLM engine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from sim.cli import main
from sim.llm.cache import ReplyCache
from sim.llm.client import LLMClient
from sim.llm.hardware import engine_settings
from sim.llm.types import ChatReply, ChatRequest
from sim.runner import run
from sim.scenario import load_scenario
from sim.transcript import read_transcript, show
from tests.fake_llm import FakeLLMClient, ScriptedBackend, commons_answer

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
GOVSIM_METRICS = {"survival_time", "survived", "gain", "efficiency", "equality", "over_usage"}


def short_commons(steps: int = 3, *extra: str):
    return load_scenario(SCENARIOS / "commons.yaml", [f"steps={steps}", "output.plots=false", *extra])


class EngineGone:
    """A backend that must not be reached: every request of a replayed run has to come from the cache."""

    def __init__(self, model: str = "fake-model") -> None:
        self.model = model  # part of the cache key

    def generate(self, requests: list[ChatRequest]) -> list[ChatReply]:
        raise AssertionError(f"{len(requests)} requests missed the cache")

    def close(self) -> None:
        pass


def test_a_run_writes_a_transcript_linking_every_prompt_to_agent_step_and_phase(tmp_path: Path):
    result = run(short_commons(), out=tmp_path / "run", llm=FakeLLMClient(), progress=False)
    records = read_transcript(result.path)
    assert len(records) == 5 * 2 * 3  # five fishers, talk + act, three months
    assert {(r["agent"], r["step"], r["phase"]) for r in records} == {
        (a, s, p) for a in range(1, 6) for s in (1, 2, 3) for p in ("talk", "act")
    }
    assert all(json.loads(r["reply"]) for r in records)
    assert set(result.summary) >= GOVSIM_METRICS
    assert result.summary["llm_decisions"] == 30 and result.summary["llm_invalid_rate"] == 0


def test_the_transcript_command_shows_what_an_agent_saw_and_said(tmp_path: Path, capsys: pytest.CaptureFixture):
    result = run(short_commons(), out=tmp_path / "run", llm=FakeLLMClient(), progress=False)
    assert main(["transcript", str(result.path), "--agent", "3", "--step", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("=== step 2 · agent 3 (fishers)") == 2
    assert "It is month 2. The lake holds" in out and '{"fish": 5}' in out
    assert "agent 3: I will catch 5" in out
    assert "shared prefix" in out and "You are one of 5 fishers" not in out
    assert "You are one of 5 fishers" in show(result.path, agent=3, step=2, phase="act", system=True)


def test_the_transcript_command_says_what_exists_when_nothing_matches(tmp_path: Path, capsys: pytest.CaptureFixture):
    result = run(short_commons(), out=tmp_path / "run", llm=FakeLLMClient(), progress=False)
    assert main(["transcript", str(result.path), "--agent", "9"]) == 2
    assert "it has agents 1-5 and steps 1-3" in capsys.readouterr().err
    assert main(["transcript", str(tmp_path)]) == 2


def test_a_greedy_newcomer_runs_end_to_end_beside_llm_fishers(tmp_path: Path):
    scenario = load_scenario(
        SCENARIOS / "commons_newcomer.yaml", ["steps=5", "output.plots=false", "population.1.join_step=3"]
    )
    result = run(scenario, out=tmp_path / "run", llm=FakeLLMClient(), progress=False)
    joined = result.events[result.events["kind"] == "joined"]
    assert joined[["step", "agent_id"]].values.tolist() == [[3, 6]]
    assert result.summary["survived"] == 0  # the newcomer asks for the whole lake
    assert 6 not in {r["agent"] for r in read_transcript(result.path)}


def test_same_scenario_seed_and_cache_replay_identical_tables(tmp_path: Path):
    cache = tmp_path / "cache.sqlite"
    first_client = LLMClient(ScriptedBackend(commons_answer), ReplyCache(cache))
    first = run(short_commons(4), out=tmp_path / "a", llm=first_client, progress=False)
    replay_client = LLMClient(EngineGone(), ReplyCache(cache))
    second = run(short_commons(4), out=tmp_path / "b", llm=replay_client, progress=False)
    pd.testing.assert_frame_equal(first.model, second.model)
    pd.testing.assert_frame_equal(first.agents, second.agents)
    assert replay_client.cache_hits == replay_client.requests == first_client.requests


@pytest.mark.llm
@pytest.mark.slow
def test_llm_fishers_on_the_packaged_model_end_to_end_and_replayed_from_the_cache(vllm_backend, tmp_path: Path):
    cache = tmp_path / "cache.sqlite"
    client = LLMClient(vllm_backend, ReplyCache(cache), backend_name="vllm")
    scenario = short_commons(2, "output.plots=true")
    result = run(scenario, out=tmp_path / "run", llm=client, progress=False)
    records = read_transcript(result.path)
    decisions = [r for r in records if r["attempt"] == 0]
    assert len(decisions) == result.summary["llm_decisions"] > 0
    assert all(r["prompt_tokens"] > 0 and r["completion_tokens"] > 0 for r in records)
    assert set(result.summary) >= GOVSIM_METRICS
    assert result.summary["llm_fallback_rate"] <= result.summary["llm_invalid_rate"] <= 1
    assert (result.path / "plots" / "metrics.png").is_file()
    acts = result.agents.dropna(subset=["act_fish"])
    assert len(acts) == 5 * len(result.model)
    engine = result.manifest["llm"]["engine"]  # what ran, as the manifest says: the session's engine is eager
    assert engine["mode"] == vllm_backend.settings.mode == engine_settings("eager").mode
    assert engine["dtype"] in {"float32", "bfloat16", "float16"} and engine["start_s"] > 0
    replay = LLMClient(EngineGone(vllm_backend.model), ReplyCache(cache))
    again = run(scenario, out=tmp_path / "again", llm=replay, progress=False)
    pd.testing.assert_frame_equal(result.agents, again.agents)
    assert replay.cache_hits == replay.requests
