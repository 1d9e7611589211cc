"""Voting, the planner and the welfare functions, in the welfare society whose outcomes are derived by hand.

The society (as in scenarios/market_vote*.yaml and welfare*.yaml): 6 consumers, 6 producers and 3 residents who
bear the harm; see `society` for the forecast each tax rate gives every agent.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from sim.errors import UserError
from sim.institutions.voting import borda, plurality
from sim.llm.types import ChatRequest, derive_seed
from sim.metrics import egalitarian, nash_welfare, pareto_dominates, pareto_efficient, utilitarian
from sim.model import SocietyModel
from sim.scenario import scenario_from_dict
from tests.fake_llm import FakeLLMClient
from tests.test_market import run


# -- welfare functions and the Pareto check -------------------------------------------------------
def test_utilitarian_and_max_min_disagree_on_a_constructed_case():
    unequal, equal = [10, 10, 1], [6, 6, 5]
    assert utilitarian(unequal) > utilitarian(equal)
    assert egalitarian(equal) > egalitarian(unequal)
    assert nash_welfare(equal) > nash_welfare(unequal)  # log 180 > log 100
    assert nash_welfare([3, 0]) == float("-inf")


def test_pareto_check():
    assert pareto_dominates([2, 3], [2, 2])
    assert not pareto_dominates([2, 2], [2, 2])
    assert not pareto_dominates([3, 1], [2, 2])
    assert pareto_efficient([[2, 2], [3, 1], [1, 1], [2, 1]]) == [True, True, False, False]


# -- voting ---------------------------------------------------------------------------------------
def test_plurality_and_borda_on_the_textbook_profile():
    """3 voters A>B>C, 2 B>C>A, 2 C>B>A: plurality elects A (3 first places), Borda the compromise B (9 points)."""
    rankings = [["A", "B", "C"]] * 3 + [["B", "C", "A"]] * 2 + [["C", "B", "A"]] * 2
    assert plurality([r[0] for r in rankings], "ABC") == ("A", {"A": 3, "B": 2, "C": 2})
    assert borda(rankings, "ABC") == ("B", {"A": 6, "B": 9, "C": 6})


def test_ties_go_to_the_option_listed_first_and_unranked_options_score_nothing():
    assert plurality(["B", "A"], "ABC")[0] == "A"
    assert borda([["C"], ["B"]], "ABC") == ("B", {"A": 0, "B": 2, "C": 2})


SOCIETY_OPTIONS = [0, 25, 50, 75]


def society(institution: dict[str, Any], steps: int = 3, policy: str = "truthful", rebate: str = "everyone"):
    """The welfare scenarios' society: 6 consumers (values 100, 90, …, 50), 6 producers (costs 10, 20, …, 60),
    3 residents who bear the harm (25 a unit); income 50 each; tax revenue shared by all 15.

    Forecasts per option (truthful traders; by hand from the call market's rule):
      tax 0:  5 units at 55; residents 50 − 125/3 = 8.33; traders 50 + 45, 35, 25, 15, 5; one of each side 50
      tax 25: 4 units at 67.5; rebate 100/15; residents 23.33; traders 89.17, 79.17, 69.17, 59.17; others 56.67
      tax 50: 3 units at 80; rebate 10; residents 35; traders 80, 70, 60; others 60
      tax 75: 1 unit at 92.5; rebate 5; residents 46.67; the trader 62.5; others 55
    Welfare (15·50 + gains − harm): 875, 890, 885, 815 -> the utilitarian picks 25 (= the damage, Pigou).
    The worst-off are always the residents -> max-min picks 75.
    """
    return {
        "name": "society", "seed": 2, "steps": steps,
        "population": [{"name": "consumers", "count": 6, "policy": policy},
                       {"name": "producers", "count": 6, "policy": policy},
                       {"name": "residents", "count": 3, "policy": policy}],
        "environment": {"kind": "market", "buyers": ["consumers"], "sellers": ["producers"],
                        "harm_bearers": ["residents"], "demand_intercept": 100, "demand_slope": 10,
                        "supply_intercept": 10, "supply_slope": 10, "damage": 25, "endowment": 50},
        "institutions": [{"kind": "tax", "rate": 0, "rebate": rebate},
                         {"target": "tax", "setting": "rate", "options": SOCIETY_OPTIONS, **institution}],
    }


FORECAST = {
    "0": [95, 85, 75, 65, 55, 50] * 2 + [50 - 125 / 3] * 3,
    "25": [50 + 100 / 15 + g for g in (32.5, 22.5, 12.5, 2.5, 0, 0)] * 2 + [50 + 100 / 15 - 100 / 3] * 3,
    "50": [80, 70, 60, 60, 60, 60] * 2 + [35] * 3,
    "75": [62.5, 55, 55, 55, 55, 55] * 2 + [50 + 5 - 25 / 3] * 3,
}


def test_forecasts_are_the_hand_derived_profiles():
    model = SocietyModel(scenario_from_dict(society({"kind": "planner"})))
    profiles = model.institutions[1].profiles()
    assert list(profiles) == ["0", "25", "50", "75"]
    for option, expected in FORECAST.items():
        assert np.allclose(profiles[option], expected), option


@pytest.mark.parametrize(
    ("method", "winner", "scores"),
    [
        # first choices: 4 traders per side gain most at 0, the marginal and idle ones at 50 (rebate 10), residents 75
        ("plurality", "0", {"0": 8, "25": 0, "50": 4, "75": 3}),
        # 0: 2·(3+3+3+3+1+0) = 26; 25: 2·(2+2+2+1+2+2) + 3 = 25; 50: 2·(1+1+1+2+3+3) + 6 = 28; 75: 2·1 + 9 = 11
        ("borda", "50", {"0": 26, "25": 25, "50": 28, "75": 11}),
    ],
)
def test_sincere_voters_elect_the_textbook_winner(method, winner, scores):
    result = run(society({"kind": "voting", "method": method}))
    first = result.events[result.events["kind"] == "vote_result"].iloc[0]
    tally = ", ".join(f"{k}: {v:g}" for k, v in scores.items())
    assert first["detail"] == f"{method}: {winner} wins ({tally})"
    assert list(result.model["tax_rate"]) == [0, float(winner), float(winner)]
    assert result.summary["chosen_option"] == float(winner)
    assert result.summary["votes_held"] == 3


def test_civic_voters_elect_the_utilitarian_option():
    data = society({"kind": "voting", "method": "plurality"})
    for group in data["population"]:
        group["policy"] = {"kind": "truthful", "vote_by": "society"}
    assert run(data).summary["chosen_option"] == 25


def test_a_dominated_status_quo_is_flagged():
    """Without the rebate a tax of 5 changes no trade (5 units still clear) and burns 5 a unit: 0 dominates it."""
    data = society({"kind": "voting", "every": 10, "options": [0, 5]}, rebate="none")
    data["institutions"][0]["rate"] = 5
    result = run(data)
    assert result.summary["votes_held"] == 0
    assert result.summary["chosen_pareto_efficient"] == 0.0


# -- the planner ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("welfare_function", "choice"), [("utilitarian", 25), ("nash", 50), ("egalitarian", 75)])
def test_the_planner_picks_by_its_welfare_function(welfare_function, choice):
    result = run(society({"kind": "planner", "welfare": welfare_function}))
    assert (result.model["unit_tax"] == choice).all()  # in force from the first period
    assert result.summary["chosen_option"] == choice
    expected = {w: max(FORECAST, key=lambda o, f=f: f(FORECAST[o])) for w, f in
                [("utilitarian", utilitarian), ("nash", nash_welfare), ("egalitarian", egalitarian)]}
    assert expected == {"utilitarian": "25", "nash": "50", "egalitarian": "75"}
    assert {w: result.summary[f"choice_{w}"] for w in expected} == {w: float(o) for w, o in expected.items()}
    assert result.summary["worst_group_utility"] == pytest.approx(3 * min(FORECAST[str(choice)]))
    assert result.summary["chosen_pareto_efficient"] == 1.0


def test_the_max_min_planner_narrows_inequality():
    utilitarian_run = run(society({"kind": "planner", "welfare": "utilitarian"}))
    egalitarian_run = run(society({"kind": "planner", "welfare": "egalitarian"}))
    assert egalitarian_run.summary["gini_true"] < utilitarian_run.summary["gini_true"]
    assert egalitarian_run.model["gini"].iloc[-1] == pytest.approx(egalitarian_run.summary["gini_true"])
    assert egalitarian_run.summary["worst_group_utility"] > utilitarian_run.summary["worst_group_utility"]
    assert egalitarian_run.summary["total_welfare"] < utilitarian_run.summary["total_welfare"]


def test_voting_must_come_after_the_rule_it_changes():
    data = society({"kind": "voting"})
    data["institutions"].reverse()
    with pytest.raises(UserError, match="list 'tax' before 'voting'"):
        SocietyModel(scenario_from_dict(data))


def test_voting_on_a_quota_cap():
    """Caps 5 (not binding), 4 and 1; auctioned permits. A binding cap's rent is 80 either way (4 × (65 − 45) or
    1 × (95 − 15)), 5.33 each. The 4 inframarginal traders per side do best uncapped, the marginal and idle ones
    get 55.33 under 4 or 1 (a tie: 4 is listed first), the residents 47 under 1: plurality 5 (8, 4, 3)."""
    data = society({"kind": "voting", "target": "quota", "setting": "cap", "options": [5, 4, 1]})
    data["institutions"][0] = {"kind": "quota", "cap": 1}
    result = run(data)
    tally = result.events[result.events["kind"] == "vote_result"].iloc[0]["detail"]
    assert tally == "plurality: 5 wins (5: 8, 4: 4, 1: 3)"
    assert list(result.model["quota_cap"]) == [1, 5, 5]
    assert list(result.model["quantity"]) == [1, 5, 5]


# -- LLM agents and the LLM planner (plumbing, on a scripted engine) -----------------------------
def llm_answer(request: ChatRequest) -> str:
    """Buyers bid 70, sellers ask 40, voters pick 25, the planner 50."""
    props = request.schema["properties"]
    reply: dict[str, Any] = {}
    for name in props:
        reply[name] = {"bid": 70.0, "ask": 40.0, "choice": "50" if request.tag.get("phase") == "plan" else "25",
                       "ranking": ["25", "0"]}.get(name, "")
    return json.dumps(reply)


def test_llm_voters_answer_each_phase_in_one_batch():
    client = FakeLLMClient(llm_answer)
    result = run(society({"kind": "voting"}, steps=2, policy="llm"), llm=client)
    assert [len(batch) for batch in client.sent] == [15, 15, 15, 15]  # act, vote, act, vote
    vote = client.sent[1][0]
    assert vote.schema["properties"]["choice"]["enum"] == ["0", "25", "50", "75"]
    assert vote.tag["phase"] == "vote"
    assert "A buyer answers with a bid" in client.sent[0][0].messages[1]["content"]  # the market's own templates
    assert "'forecast' shows what each option" in vote.messages[1]["content"]
    assert list(result.model["tax_rate"]) == [0, 25]
    # 6 bids of 70 meet 6 asks of 40: all six units trade at 55
    assert list(result.model["quantity"]) == [6, 6] and list(result.model["price"]) == [55, 55]
    assert result.summary["llm_invalid_rate"] == 0


def test_llm_borda_ballots_rank_the_options():
    client = FakeLLMClient(llm_answer)
    result = run(society({"kind": "voting", "method": "borda"}, steps=1, policy="llm"), llm=client)
    assert client.sent[1][0].schema["properties"]["ranking"]["items"]["enum"] == ["0", "25", "50", "75"]
    assert result.events[result.events["kind"] == "vote_result"].iloc[0]["detail"] == \
        "borda: 25 wins (0: 30, 25: 45, 50: 0, 75: 0)"


def test_the_llm_planner_is_asked_once_and_its_pick_is_in_force():
    client = FakeLLMClient(llm_answer)
    result = run(society({"kind": "planner", "decider": "llm", "welfare": "egalitarian"}), llm=client)
    plan = client.sent[0][0]
    assert len(client.sent) == 1 and plan.seed == derive_seed(2, 0, "plan", "plan")
    assert "worst-off agent" in plan.messages[0]["content"]
    evidence = json.loads(plan.messages[1]["content"])
    assert evidence["group_sizes"] == {"consumers": 6, "producers": 6, "residents": 3}
    assert evidence["options"]["0"]["per_agent_by_group"]["residents"] == pytest.approx(50 - 125 / 3, abs=0.01)
    assert (result.model["unit_tax"] == 50).all() and result.summary["planner_invalid"] == 0
    assert list(result.events.loc[result.events["kind"] == "plan", "detail"]) == ["egalitarian (llm): 50"]


def test_an_unreadable_llm_plan_keeps_the_rule_in_force_and_is_counted():
    result = run(society({"kind": "planner", "decider": "llm"}), llm=FakeLLMClient(lambda r: "raise the tax!"))
    assert (result.model["unit_tax"] == 0).all() and result.summary["planner_invalid"] == 1
