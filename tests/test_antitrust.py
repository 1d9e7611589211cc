"""Competition law in the oligopoly: the authority's test, fines to the treasury, the leniency programme, and the
scenarios validate refuses (each with the field named).

Firms here are LLM agents answered by a script (tests/fake_llm.py): each prices where the test says, so that what
the institutions do is exact. The price grid is the paper's: 15 prices from 1.428 to 1.970; the test flags prices
at least half-way from the Nash price (1.473) to the monopoly price (1.925), within a quarter of that span.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from sim.cli import main
from sim.errors import UserError
from sim.llm.types import ChatRequest
from sim.runner import simulate
from sim.scenario import load_scenario, scenario_from_dict
from tests.fake_llm import FakeLLMClient

LAW = {"kind": "antitrust", "probability": 1.0}


def firms(institutions: list[dict[str, Any]], count: int = 2, steps: int = 4, **environment: Any) -> dict[str, Any]:
    return {"name": "test_antitrust", "seed": 2, "steps": steps,
            "population": [{"name": "firms", "count": count, "memory": 0, "policy": {"kind": "llm"}}],
            "environment": {"kind": "oligopoly", **environment}, "institutions": institutions}


def pricing(price: str = "top", reporters: tuple[int, ...] = ()) -> FakeLLMClient:
    """Firms that all price at the ``top`` or ``bottom`` of their grid, and report when they are in ``reporters``."""

    def answer(request: ChatRequest) -> str:
        properties = request.schema["properties"]
        if "report" in properties:
            return json.dumps({"report": request.tag["agent"] in reporters})
        choices = properties["price"]["enum"]
        return json.dumps({"price": max(choices) if price == "top" else min(choices)})

    return FakeLLMClient(answer)


def run(data: dict[str, Any], llm: FakeLLMClient):
    return simulate(scenario_from_dict(data), llm=llm, progress=False)


def fined(result) -> list[tuple[int, int]]:
    events = result.events[result.events["kind"] == "fine"]
    return list(zip(events["step"], events["agent_id"], strict=True))


def test_the_authority_flags_parallel_supra_competitive_prices():
    result = run(firms([LAW], steps=1), pricing())
    authority = result.environment.model.institutions[0]
    nash, monopoly = 1.4729266600306228, 1.9249809190177618

    def at(*positions: float) -> np.ndarray:
        return nash + np.array(positions) * (monopoly - nash)

    cases = {(0.6, 0.6): True, (0.55, 0.75): True, (1.2, 1.1): True, (0.6, 0.2): False, (0.9, 0.6): False,
             (0.0, 0.0): False, (0.45, 0.45): False}
    for positions, flagged in cases.items():
        assert bool(authority.flags(at(*positions))) is flagged, positions
    assert authority.flags(np.stack([at(0.6, 0.6), at(0.0, 0.0)])).tolist() == [True, False]


def test_fines_go_to_the_treasury_every_period_the_authority_sees_collusion():
    result = run(firms([LAW, {"kind": "sanctions", "peer": False, "fine": 5, "fine_to": "treasury"}]), pricing())
    rows = result.agents
    assert np.allclose(rows["specified_reward"], rows["profit"] - 5)
    assert np.allclose(rows["true_utility"], rows["market_surplus"] / 2)  # consumers lose nothing to the fine
    assert result.summary["fines"] == 5 * 2 * 4 and len(fined(result)) == 8
    assert result.summary["detected_share"] == 1 and result.summary["flagged_share"] == 1


def test_competitive_prices_are_never_flagged_nor_fined():
    llm = pricing("bottom")
    law = [LAW, {"kind": "leniency"}, {"kind": "sanctions", "peer": False, "fine": 5, "fine_to": "treasury"}]
    result = run(firms(law), llm)
    assert fined(result) == [] and result.summary["flagged_share"] == 0
    assert not any("report" in r.schema["properties"] for batch in llm.sent for r in batch)  # nobody asked


def test_a_report_convicts_the_others_even_where_the_authority_never_inspects():
    law = [{**LAW, "probability": 0.0}, {"kind": "leniency"},
           {"kind": "sanctions", "peer": False, "fine": 5, "fine_to": "treasury"}]
    silent = run(firms(law), pricing())
    assert fined(silent) == []
    reported = run(firms(law), pricing(reporters=(1,)))
    assert fined(reported) == [(step, 2) for step in range(1, 5)]  # agent 1 reports first, goes free; 2 pays
    spared = reported.events[reported.events["kind"] == "leniency"]
    assert spared["agent_id"].tolist() == [1, 1, 1, 1]


def test_when_every_firm_reports_one_of_each_market_goes_free():
    law = [{**LAW, "probability": 0.5}, {"kind": "leniency"},
           {"kind": "sanctions", "peer": False, "fine": 5, "fine_to": "treasury"}]
    result = run(firms(law, count=4, steps=20), pricing(reporters=(1, 2, 3, 4)))
    per_period = [sum(1 for s, _ in fined(result) if s == step) for step in range(1, 21)]
    assert per_period == [2] * 20  # two markets of two: one firm fined in each, every period
    assert {agent for _, agent in fined(result)} == {1, 2, 3, 4}  # who goes first is drawn: each is fined sometimes


def test_learners_expect_the_fine_times_the_odds_of_being_on_the_record():
    sanctions = {"kind": "sanctions", "peer": False, "fine": 2, "fine_to": "treasury"}
    inspected = run(firms([{**LAW, "probability": 0.25}, sanctions], steps=1), pricing()).environment
    lenient = run(firms([{**LAW, "probability": 0.25}, {"kind": "leniency"}, sanctions], steps=1),
                  pricing()).environment
    authority = inspected.model.institutions[0]
    flagged = authority.flags(inspected.game.prices)
    assert 0 < flagged.sum() < len(flagged)
    expected = inspected.game.profits - inspected.payoff_table()
    assert np.allclose(expected[flagged], 2 * 0.25) and np.allclose(expected[~flagged], 0)
    expected = lenient.game.profits - lenient.payoff_table()
    assert np.allclose(expected[flagged], 2 * 0.5) and np.allclose(expected[~flagged], 0)  # (n − 1)/n of the fine


# -- what validate refuses ----------------------------------------------------------------------------------
def q_learners(**environment: Any) -> dict[str, Any]:
    return {"name": "bad", "steps": 2, "population": [{"name": "firms", "count": 2, "policy": "q_learning"}],
            "environment": {"kind": "oligopoly", **environment}}


REFUSED = {
    "a grid without the Nash price": (q_learners(grid=[1.6, 1.7, 1.8, 1.9]), "environment.grid",
                                      "must reach the one-shot Nash price (1.473, 1.473)"),
    "a negative μ": (q_learners(mu=-0.25), "environment.mu", "greater than 0"),
    "a negative ξ": (q_learners(xi=-0.1), "environment.xi", "greater than or equal to 0"),
    "leniency without an authority": ({**q_learners(), "institutions": [{"kind": "leniency"}]},
                                      "institutions[0].kind", "'leniency' needs a 'antitrust' institution"),
    "fines shared among the cartel": ({**q_learners(), "institutions": [LAW, {"kind": "sanctions", "peer": False,
                                                                             "fine": 1}]},
                                      "institutions[0].kind", "set its fine_to: treasury"),
    "a fine without a rule": ({**q_learners(), "institutions": [{"kind": "sanctions", "peer": False, "fine": 1}]},
                              "institutions[0].fine", "list a 'norms' institution before 'sanctions'"),
    "a market split between groups": ({**q_learners(), "population": [
        {"name": "a", "count": 1, "policy": "q_learning"}, {"name": "b", "count": 1, "policy": "q_learning"}]},
        "population[0].policy.pretrain", "training needs whole markets"),
    "frozen learners that never train": ({**q_learners(), "population": [
        {"name": "firms", "count": 2, "policy": {"kind": "q_learning", "pretrain": False}}]},
        "population[0].policy", "frozen learners that never trained"),
    "a population that is not whole markets": ({**q_learners(firms=3)}, "environment.firms", "markets of 3 firms"),
}


@pytest.mark.parametrize("name", REFUSED)
def test_validate_refuses_with_the_field_named(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    data, field, message = REFUSED[name]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert field in err and message in err, err
    with pytest.raises(UserError, match=r"bad\.yaml"):
        load_scenario(path)


def test_describe_prints_the_leniency_programme_which_has_no_parameters(capsys: pytest.CaptureFixture[str]):
    assert main(["describe", "leniency"]) == 0
    out = capsys.readouterr().out
    assert "needs antitrust listed before it; decision phase 'report'" in out and "parameters: none" in out
