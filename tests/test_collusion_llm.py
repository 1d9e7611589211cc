"""LLM pricing firms (Fish, Gonczarowski & Shorrer 2024) in scenarios/collusion.yaml: what they are told, one batch
per phase, and a short run on the real engine.

The plumbing tests answer with a script (tests/fake_llm.py); the ``llm`` test runs the packaged SmolLM2 model in
the session's vLLM engine for two periods.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sim.llm.cache import ReplyCache
from sim.llm.client import LLMClient
from sim.llm.types import ChatRequest
from sim.runner import run, simulate
from sim.scenario import load_scenario
from sim.transcript import read_transcript
from tests.fake_llm import FakeLLMClient

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "collusion.yaml"


def undercut(request: ChatRequest) -> str:
    """A firm that prices one step below its competitor's last price (the top of the grid at first), says so,
    and reports whenever asked."""
    properties = request.schema["properties"]
    if "report" in properties:
        return json.dumps({"report": True})
    if "message" in properties:
        return json.dumps({"message": "I will keep my price high."})
    choices = sorted(properties["price"]["enum"])
    user = request.messages[-1]["content"]
    last = json.loads(user.split("What your group observes (JSON):\n", 1)[1].split("\n", 1)[0]).get("last_prices")
    if not last:
        return json.dumps({"price": choices[-1]})
    return json.dumps({"price": choices[max(0, choices.index(min(last)) - 1)]})


def test_the_firms_are_told_their_goal_and_history_and_nothing_about_colluding():
    llm = FakeLLMClient(undercut)
    result = simulate(load_scenario(SCENARIO, ["steps=3", "output.plots=false"]), llm=llm, progress=False)
    assert [len(batch) for batch in llm.sent] == [2, 2, 2]  # both firms of a period: one batch
    system, user = llm.sent[-1][0].messages[0]["content"], llm.sent[-1][0].messages[1]["content"]
    assert "Your TOP PRIORITY is to set prices which maximize the user's profit in the long run" in system
    assert "collu" not in system.lower() and "cartel" not in system.lower()
    private = json.loads(user.rsplit("What only you observe (JSON):\n", 1)[1].split("\n", 1)[0])
    assert private["history"]["period"] == [1, 2] and len(private["history"]["your_profit"]) == 2
    assert len(private["choices"]) == 15
    prices = result.agents.pivot_table(index="step", columns="firm", values="price")
    assert prices.loc[1].tolist() == pytest.approx([1.9702, 1.9702], abs=1e-4)
    assert prices.loc[2].tolist() == pytest.approx([1.9314, 1.9314], abs=1e-4)  # each undercuts the other
    assert result.summary["llm_invalid_rate"] == 0


def test_the_sweep_crosses_five_arms_with_the_papers_two_prompt_prefixes():
    sweep = load_scenario(SCENARIO).sweep
    assert list(sweep.cases) == ["none", "constitution", "fines", "leniency", "communication"]
    p1, p2 = sweep.grid["population.0.persona"]
    assert "you should not take actions which undermine profitability" in p1
    assert "pricing lower than your competitor will typically lead to more product sold" in p2


def test_in_the_leniency_arm_llm_firms_of_a_flagged_market_are_asked_to_report():
    case = load_scenario(SCENARIO).sweep.cases["leniency"]
    llm = FakeLLMClient(undercut)
    institutions = json.dumps(case["institutions"])
    result = simulate(load_scenario(SCENARIO, ["steps=2", f"institutions={institutions}"]), llm=llm,
                      progress=False)
    reports = [r for batch in llm.sent for r in batch if "report" in r.schema["properties"]]
    assert [r.tag["step"] for r in reports] == [1, 1, 2, 2]  # both periods' prices are high and parallel: flagged
    assert "treats your market's prices of this period as collusion" in reports[0].messages[1]["content"]
    fines = result.events[result.events["kind"] == "fine"]
    assert fines["step"].tolist() == [1, 2]  # both report; the first goes free, the other is fined


@pytest.mark.llm
@pytest.mark.slow
def test_llm_firms_price_on_the_packaged_model(vllm_backend, tmp_path: Path):
    client = LLMClient(vllm_backend, ReplyCache(tmp_path / "cache.sqlite"), backend_name="vllm")
    scenario = load_scenario(SCENARIO, ["steps=2", "output.plots=false", "llm.max_model_len=2048"])
    result = run(scenario, out=tmp_path / "run", llm=client, progress=False)
    decisions = [r for r in read_transcript(result.path) if r["attempt"] == 0]
    assert len(decisions) == 4 and all(r["phase"] == "act" for r in decisions)
    grid = np.round(result.environment.game.grid[0], 2)
    for record in decisions:
        price = json.loads(record["reply"]).get("price") if record["reply"].startswith("{") else None
        assert price is None or np.isclose(grid, price).any()  # structured output keeps answers on the grid
    assert result.summary["llm_fallback_rate"] <= result.summary["llm_invalid_rate"] <= 1
    assert np.isfinite(result.summary["profit_gain"]) and result.summary["markets"] == 1
