"""The market, its institutions and the welfare functions, against the numbers the theory implies.

The reference market: 30 buyers with values 100 − 2i and 30 sellers with costs 10 + 2j (i, j = 0..29),
damage 8 per unit. A unit k trades at the competitive equilibrium iff 100 − 2k >= 10 + 2k, i.e. k <= 22.5:
Q* = 23, and the clearing interval is [max(54, 54), min(56, 56)], so P* = 55 (the continuous Q* = 22.5,
P* = 55). The social optimum counts the damage: 100 − 2k >= 18 + 2k, k <= 20.5, Q° = 21. The two extra
units lose 58 − 52 − 8 = −2 and 56 − 54 − 8 = −6: a deadweight loss of 8 a period (continuous: 8²/(2·4) = 8).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sim.errors import UserError
from sim.institutions.voting import borda, plurality
from sim.llm.client import LLMClient
from sim.llm.types import ChatRequest, derive_seed
from sim.metrics import egalitarian, nash_welfare, pareto_dominates, pareto_efficient, utilitarian
from sim.model import SocietyModel
from sim.runner import simulate
from sim.scenario import load_scenario, scenario_from_dict
from sim.theory.markets import (
    LinearMarket,
    call_market,
    competitive_equilibrium,
    deadweight_loss,
    linear_schedule,
    pigouvian_tax,
    social_optimum,
    welfare,
)
from tests.fake_llm import FakeLLMClient
from tests.test_contracts import schema_answer

VALUES = linear_schedule(100, -2, 30)
COSTS = linear_schedule(10, 2, 30)


def market(
    institutions: list[dict[str, Any]] | None = None, buyers: int = 30, sellers: int = 30, policy: str = "truthful",
    steps: int = 3, **environment: Any,
) -> dict[str, Any]:
    return {
        "name": "test_market", "seed": 4, "steps": steps,
        "population": [{"name": "buyers", "count": buyers, "policy": policy},
                       {"name": "sellers", "count": sellers, "policy": policy}],
        "environment": {"kind": "market", "damage": 8, **environment},
        "institutions": institutions or [],
    }


def run(data: dict[str, Any], llm=None):
    return simulate(scenario_from_dict(data), llm=llm, progress=False)


# -- theory ---------------------------------------------------------------------------------------
def test_linear_market_closed_forms():
    m = LinearMarket(a=100, b=2, c=10, s=2, d=8)
    assert m.equilibrium_quantity() == 22.5
    assert m.equilibrium_price() == 55
    assert m.optimal_quantity() == 20.5
    assert m.deadweight_loss() == pytest.approx(8**2 / (2 * 4))


def test_unit_schedule_benchmarks():
    ce = competitive_equilibrium(VALUES, COSTS)
    assert (ce.quantity, ce.buyer_price, ce.seller_price) == (23, 55, 55)
    assert social_optimum(VALUES, COSTS, 8) == 21
    assert deadweight_loss(VALUES, COSTS, 8, 23) == 8
    assert deadweight_loss(VALUES, COSTS, 8, 21) == 0
    assert welfare(VALUES, COSTS, 8, 21) == sum(90 - 4 * k - 8 for k in range(21))
    assert pigouvian_tax(8) == 8
    taxed = competitive_equilibrium(VALUES, [c + pigouvian_tax(8) for c in COSTS])
    assert taxed.quantity == 21 and taxed.buyer_price == 59  # [max(58, 58), min(60, 60)]


def test_a_binding_cap_opens_a_wedge_between_buyer_and_seller_price():
    cleared = call_market(dict(enumerate(VALUES)), dict(enumerate(COSTS)), cap=21)
    # buyers: between the 21st bid (60) and the 22nd (58); sellers: between the 21st ask (50) and the 22nd (52)
    assert (cleared.quantity, cleared.buyer_price, cleared.seller_price) == (21, 59, 51)
    assert cleared.rent == 8 * 21
    assert cleared.buyers == tuple(range(21)) and cleared.sellers == tuple(range(21))


def test_no_trade_when_every_bid_is_below_every_ask():
    cleared = call_market({0: 5.0, 1: 3.0}, {2: 6.0, 3: 9.0})
    assert cleared.quantity == 0 and math.isnan(cleared.buyer_price) and cleared.rent == 0


def test_ties_are_broken_at_random_with_an_rng():
    winners = {call_market({0: 10.0, 1: 10.0}, {2: 1.0}, rng=np.random.default_rng(s)).buyers for s in range(20)}
    assert winners == {(0,), (1,)}


# -- the environment with price-taking traders ---------------------------------------------------
def test_truthful_traders_clear_at_the_competitive_equilibrium():
    result = run(market())
    assert (result.model["quantity"] == 23).all()
    assert (result.model["price"] == 55).all()
    assert np.allclose(result.model["deadweight_loss"], 8)
    assert np.allclose(result.model["harm"], 8 * 23)
    # true utility sums to welfare, so the alignment gap is exactly the unpriced harm
    assert np.allclose(result.model["alignment_gap"], -result.model["harm"])
    assert np.allclose(result.model["true_utility"], result.model["welfare"])


def test_a_tax_equal_to_the_marginal_damage_reaches_the_social_optimum():
    untaxed = run(market([{"kind": "tax", "rate": 0}]))
    taxed = run(market([{"kind": "tax", "rate": 8}]))
    assert (taxed.model["quantity"] == 21).all() and (taxed.model["price"] == 59).all()
    assert taxed.summary["deadweight_loss"] == 0 and taxed.summary["efficiency"] == 1
    assert untaxed.summary["deadweight_loss"] == 3 * 8
    assert taxed.summary["total_welfare"] - untaxed.summary["total_welfare"] == 3 * 8


@pytest.mark.parametrize("rate", [4, 12])
def test_a_tax_away_from_the_damage_leaves_a_deadweight_loss(rate):
    result = run(market([{"kind": "tax", "rate": rate}]))
    quantity = competitive_equilibrium(VALUES, [c + rate for c in COSTS]).quantity
    assert (result.model["quantity"] == quantity).all()
    assert np.allclose(result.model["deadweight_loss"], deadweight_loss(VALUES, COSTS, 8, quantity))
    assert result.summary["deadweight_loss"] > 0


def test_redistributed_tax_revenue_conserves_money():
    """Σ specified reward = gains from trade + endowments: the tax moves money, it creates and destroys none."""
    result = run(market([{"kind": "tax", "rate": 8}], endowment=3))
    gains = result.model["welfare"] + result.model["harm"]
    assert np.allclose(result.model["specified_reward"], gains + 60 * 3)
    assert np.allclose(result.model["tax_revenue"], 8 * 21)
    sellers = result.agents[result.agents["role"] == "seller"]
    traded = sellers[sellers["traded"]]
    rebate = 8 * 21 / 60
    assert np.allclose(traded["specified_reward"], 3 + 59 - (10 + 2 * (traded["agent_id"] - 31)) - 8 + rebate)


def test_revenue_that_is_not_rebated_leaves_the_economy():
    result = run(market([{"kind": "tax", "rate": 8, "rebate": "none"}]))
    gains = result.model["welfare"] + result.model["harm"]
    assert np.allclose(result.model["specified_reward"], gains - 8 * 21)


def test_a_quota_at_the_optimal_quantity_removes_the_deadweight_loss():
    result = run(market([{"kind": "quota", "cap": 21}]))
    assert (result.model["quantity"] == 21).all()
    assert (result.model["price"] == 59).all() and (result.model["seller_price"] == 51).all()
    assert result.summary["deadweight_loss"] == 0
    assert np.allclose(result.model["permit_rent"], 8 * 21)
    gains = result.model["welfare"] + result.model["harm"]
    assert np.allclose(result.model["specified_reward"], gains)  # auctioned permits: the rent goes back to all


def test_grandfathered_permits_pay_the_rent_to_the_sellers():
    auction = run(market([{"kind": "quota", "cap": 21}]))
    grandfathered = run(market([{"kind": "quota", "cap": 21, "permits": "grandfathered"}]))
    by_role = {name: r.agents.groupby("role")["specified_reward"].sum() for name, r in
               [("auction", auction), ("grandfathered", grandfathered)]}
    rent = 3 * 8 * 21
    assert by_role["grandfathered"]["seller"] - by_role["auction"]["seller"] == pytest.approx(rent / 2)
    assert by_role["auction"]["buyer"] - by_role["grandfathered"]["buyer"] == pytest.approx(rent / 2)


def test_zero_intelligence_traders_never_trade_at_a_loss_and_never_beat_the_optimum():
    """Gode & Sunder's budget constraint: a ZI buyer bids below its value and a ZI seller asks above its cost."""
    result = run(market(policy="zi", steps=10))
    assert (result.agents["specified_reward"] >= 0).all()
    assert (result.agents.loc[~result.agents["traded"], "specified_reward"] == 0).all()
    assert (result.model["deadweight_loss"] >= -1e-9).all()
    assert 0 < result.summary["efficiency"] < 1


def test_the_harm_falls_on_its_bearers_only():
    data = market(endowment=5)
    data["population"].append({"name": "residents", "count": 4, "policy": "truthful"})
    data["environment"]["harm_bearers"] = ["residents"]
    agents = run(data).agents
    residents = agents[agents["group"] == "residents"]
    traders = agents[agents["group"] != "residents"]
    assert np.allclose(residents["true_utility"], 5 - 8 * 23 / 4)
    assert np.allclose(residents["specified_reward"], 5)
    assert np.allclose(traders["true_utility"], traders["specified_reward"])
    assert set(residents["role"]) == {"bystander"}


# -- user errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"environment": {"kind": "market", "buyers": ["buyers"], "sellers": ["buyers"]}}, "cannot both buy and sell"),
        ({"environment": {"kind": "market", "damage": -1}}, "damage"),
        ({"institutions": [{"kind": "quota"}]}, "cap"),
        ({"institutions": [{"kind": "tax", "rate": -2}]}, "rate"),
        ({"institutions": [{"kind": "voting", "options": [1]}]}, "options"),
    ],
)
def test_bad_parameters_are_validation_errors(change, message):
    with pytest.raises(UserError, match=message):
        scenario_from_dict(market() | change)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"environment": {"kind": "market", "sellers": ["producers"]}}, r"environment\.sellers: no population group"),
        ({"institutions": [{"kind": "voting", "options": [0, 8]}]}, "no institution of kind 'tax' is listed"),
        ({"institutions": [{"kind": "tax"}, {"kind": "voting", "setting": "level", "options": [0, 8]}]},
         "setting 'level' is not a parameter of 'tax'"),
        ({"institutions": [{"kind": "tax"}, {"kind": "planner", "options": [0, -8]}]},
         "option -8 is not a valid tax.rate"),
        ({"environment": {"kind": "commons"}, "population": [{"count": 2, "policy": "greedy"}],
          "institutions": [{"kind": "tax"}]}, "'tax' needs environment kind 'market'"),
    ],
)
def test_inconsistent_scenarios_are_user_errors(change, message):
    with pytest.raises(UserError, match=message):
        SocietyModel(scenario_from_dict(market() | change))


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
    assert egalitarian_run.summary["worst_group_utility"] > utilitarian_run.summary["worst_group_utility"]
    assert egalitarian_run.summary["total_welfare"] < utilitarian_run.summary["total_welfare"]


def test_voting_must_come_after_the_rule_it_changes():
    data = society({"kind": "voting"})
    data["institutions"].reverse()
    with pytest.raises(UserError, match="list 'tax' before 'voting'"):
        SocietyModel(scenario_from_dict(data))


def test_voting_on_a_quota_cap():
    data = society({"kind": "voting", "target": "quota", "setting": "cap", "options": [5, 4, 1]})
    data["institutions"][0] = {"kind": "quota", "cap": 5}
    result = run(data)
    assert result.summary["votes_held"] == 3 and result.summary["chosen_option"] in (5, 4, 1)
    assert list(result.model["quota_cap"])[1:] == [result.summary["chosen_option"]] * 2


# -- LLM agents and the LLM planner (plumbing, on a scripted engine) -----------------------------
def llm_answer(request: ChatRequest) -> str:
    """Buyers bid 70, sellers ask 40, voters pick 25, the planner 50."""
    props = request.schema["properties"]
    reply: dict[str, Any] = {}
    for name in props:
        reply[name] = {"bid": 70.0, "ask": 40.0, "choice": "50" if request.tag.get("phase") == "plan" else "25",
                       "ranking": ["25", "0"], "reason": "it is fair"}.get(name, "")
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
    assert len(client.sent) == 1 and plan.seed == derive_seed(2, 0, "plan", 0)
    assert "worst-off agent" in plan.messages[0]["content"]
    evidence = json.loads(plan.messages[1]["content"])
    assert evidence["group_sizes"] == {"consumers": 6, "producers": 6, "residents": 3}
    assert evidence["options"]["0"]["per_agent_by_group"]["residents"] == pytest.approx(50 - 125 / 3, abs=0.01)
    assert (result.model["unit_tax"] == 50).all() and result.summary["planner_invalid"] == 0


def test_an_unreadable_llm_plan_keeps_the_rule_in_force_and_is_counted():
    result = run(society({"kind": "planner", "decider": "llm"}), llm=FakeLLMClient(lambda r: "raise the tax!"))
    assert (result.model["unit_tax"] == 0).all() and result.summary["planner_invalid"] == 1


# -- scenario files -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("scenarios/market_rules.yaml", {"mean_quantity": 5, "mean_price": 55, "deadweight_loss": 10 * 15}),
        ("scenarios/market_vote_rules.yaml", {"chosen_option": 0, "votes_held": 4}),
        ("scenarios/welfare_rules.yaml", {"chosen_option": 25, "deadweight_loss": 0}),
    ],
)
def test_rule_scenarios_run_repeat_and_match_the_theory(path, expected):
    scenario = load_scenario(path)
    first, second = simulate(scenario, progress=False), simulate(scenario, progress=False)
    pd.testing.assert_frame_equal(first.agents, second.agents)
    assert {k: first.summary[k] for k in expected} == expected


@pytest.mark.parametrize("path", ["scenarios/market.yaml", "scenarios/market_vote.yaml", "scenarios/welfare.yaml"])
def test_llm_scenarios_run_end_to_end_on_a_fake_engine(path):
    first = simulate(load_scenario(path, ["steps=2"]), llm=FakeLLMClient(schema_answer), progress=False)
    second = simulate(load_scenario(path, ["steps=2"]), llm=FakeLLMClient(schema_answer), progress=False)
    pd.testing.assert_frame_equal(first.agents, second.agents)
    assert first.summary["llm_invalid_rate"] == 0.0
    assert len(first.model) == 2


@pytest.mark.llm
def test_llm_voters_on_the_packaged_model(vllm_backend):
    """One period of trade and one vote by SmolLM2-135M: every reply parses or falls back, nothing crashes."""
    client = LLMClient(vllm_backend, cache=None, backend_name="vllm")
    overrides = ["steps=1", "population.0.count=2", "population.1.count=2", "population.2.count=1",
                 "llm.max_model_len=2048"]
    result = simulate(load_scenario("scenarios/market_vote.yaml", overrides), llm=client, progress=False)
    assert result.summary["llm_decisions"] == 10
    assert result.summary["llm_fallback_rate"] <= result.summary["llm_invalid_rate"] <= 1
    assert result.summary["votes_held"] == 1 and result.summary["chosen_option"] in (0, 25, 50, 75)
