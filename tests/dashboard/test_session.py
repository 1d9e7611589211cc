"""The dashboard's sessions without a browser: the worker thread's commands, text values read as data, saving,
and a run directory stepped through read-only."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from sim.dashboard.session import LiveSession, RunSession, Session
from sim.dashboard.views import MAX_NODES, Progress, View, flatten, sample_network, status
from sim.network import build_network
from sim.scenario import NetworkSpec, load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def until(session: Session, done: Callable[[View], bool], timeout: float = 60) -> View:
    """The first published view for which ``done`` holds (the worker publishes after every command)."""
    seen, deadline = -1, time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done(session.view):
            return session.view
        seen = session.wait(seen, timeout=1)
    raise AssertionError(f"no such view within {timeout} s; last: step {session.view.step}, {session.view.message}")


@pytest.fixture
def live(tmp_path: Path):
    sessions: list[LiveSession] = []

    def start(name: str) -> LiveSession:
        session = LiveSession(load_scenario(SCENARIOS / f"{name}.yaml"), out=tmp_path / "run", play_delay=0)
        sessions.append(session)
        return session

    yield start
    for session in sessions:
        session.close()


@pytest.mark.slow
def test_commands_step_amend_and_save(live, tmp_path: Path) -> None:
    session = live("market_rules")
    for n in (1, 2):
        session.step()
        view = until(session, lambda v, n=n: v.step == n and not v.busy)
        assert view.agents["agent_id"].tolist() == list(range(1, 13)) and set(view.agents["step"]) == {n}
        assert view.agents["specified_reward"].tolist()[:6] == [45.0, 35.0, 25.0, 15.0, 5.0, 0.0]  # buyers
    session.amend("tax", set={"rate": "25", "rebate": "everyone"})  # text from the page; rebate unchanged
    view = until(session, lambda v: v.message is not None and v.message.level == "success")
    assert view.message.text == "amended from step 3: tax.rate 0 -> 25"
    assert [c.params for c in view.components if c.target == "tax"] == [{"rate": 25, "rebate": "everyone"}]
    session.amend("tax", set={"rate": "[1, 2"})
    view = until(session, lambda v: v.message is not None and v.message.level == "error")
    assert "rate: '[1, 2' is not a valid value" in view.message.text
    session.play()
    until(session, lambda v: not v.running and v.saved is not None)
    model = pd.read_parquet(tmp_path / "run" / "model.parquet")
    assert model["quantity"].tolist() == [5, 5] + [4] * 8
    session.reset(8)
    view = until(session, lambda v: v.seed == 8)
    assert view.step == 0 and view.amendments == [] and len(view.model_table) == 0


def test_text_parameters_stay_text(live) -> None:
    session = live("norms_rules")
    session.amend("norms", set={"rules.0.text": "10", "rules.1.text": "Wear: a hat"})  # YAML would read 10, a dict
    view = until(session, lambda v: v.message is not None and v.message.level != "info")
    assert view.message.level == "success", view.message.text
    norms = next(c for c in view.components if c.target == "norms")
    assert norms.params["rules.0.text"] == "10" and norms.params["rules.1.text"] == "Wear: a hat"


def test_a_run_directory_read_only(tmp_path: Path) -> None:
    from sim.amendments import Amendment
    from sim.runner import run

    run(load_scenario(SCENARIOS / "norms_rules.yaml"), out=tmp_path / "r", progress=False,
        amendments=[Amendment(step=4, target="monitoring", set={"probability": 0.0})])
    session = RunSession(tmp_path / "r")
    assert session.view.step == 10 and session.view.read_only
    session.goto(3)
    view = session.view
    assert view.model_table["step"].max() == 3 and set(view.agents["step"]) == {3}
    assert "amendment" not in view.event_counts and view.amendments == []
    session.step()
    assert session.view.event_counts["amendment"] == 1 and len(session.view.amendments) == 1
    assert sorted(session.view.network.nodes) == list(range(1, 9))


def test_large_networks_are_sampled() -> None:
    import numpy as np

    ids = list(range(1, 10_001))
    graph = build_network(NetworkSpec(kind="ring", k=4), ids, np.random.default_rng(0))
    view = sample_network(graph)
    assert len(view.nodes) == MAX_NODES and view.total == 10_000
    assert all(a in view.positions and b in view.positions for a, b in view.edges)


def test_flatten_names_nested_parameters_as_amendments_do() -> None:
    assert flatten({"rules": [{"text": "a", "value": 1}], "rate": 2, "options": [1, 2]}) == {
        "rules.0.text": "a", "rules.0.value": 1, "rate": 2, "options": [1, 2]}


def test_llm_plumbing_with_a_fake_backend(tmp_path: Path) -> None:
    """The real LLMClient in front of a scripted (fake) backend: the session shows each agent's exchanges, reports
    the batch's progress, and saves the transcript with the run."""
    from tests.fake_llm import FakeLLMClient, commons_answer

    llm = FakeLLMClient(commons_answer)
    seen: list[tuple[int, int, str]] = []
    scenario = load_scenario(SCENARIOS / "commons.yaml", ["steps=2", "talk.rounds=0"])
    session = LiveSession(scenario, llm=llm, out=tmp_path / "run", play_delay=0)
    progress = llm.on_progress
    llm.on_progress = lambda done, total, what: (seen.append((done, total, what)), progress(done, total, what))
    try:
        session.play()
        view = until(session, lambda v: not v.running and v.saved is not None)
        assert view.step == 2
        exchanges = session.transcript(1)
        assert [r["step"] for r in exchanges] == [1, 2] and all(r["agent"] == 1 for r in exchanges)
        assert (0, 5, "act") in seen and (5, 5, "act") in seen  # five fishers: before and after each batch
        busy = replace(view, running=True, playing=False, busy=True, progress=Progress(2, 5, "act"))
        assert status(busy).endswith("running a step · LLM batch (act): 2/5 requests answered")
        lines = (tmp_path / "run" / "transcript.jsonl").read_text().splitlines()
        assert len(lines) == 10
    finally:
        session.close()
