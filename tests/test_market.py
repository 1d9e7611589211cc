"""The market, its institutions and the welfare functions, against the numbers the theory implies.

The reference market: 30 buyers with values 100 − 2i and 30 sellers with costs 10 + 2j (i, j = 0..29),
damage 8 per unit. A unit k trades at the competitive equilibrium iff 100 − 2k >= 10 + 2k, i.e. k <= 22.5:
Q* = 23, and the clearing interval is [max(54, 54), min(56, 56)], so P* = 55 (the continuous Q* = 22.5,
P* = 55). The social optimum counts the damage: 100 − 2k >= 18 + 2k, k <= 20.5, Q° = 21. The two extra
units lose 58 − 52 − 8 = −2 and 56 − 54 − 8 = −6: a deadweight loss of 8 a period (continuous: 8²/(2·4) = 8).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sim.errors import UserError
from sim.llm.client import LLMClient
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
    assert np.allclose(result.model["efficiency"], 1 - 8 / welfare(VALUES, COSTS, 8, 21))
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
         r"institutions\[1\]\.setting: 'level' is not a parameter of 'tax'"),
        ({"institutions": [{"kind": "tax"}, {"kind": "planner", "options": [0, -8]}]},
         r"institutions\[1\]\.options\[1\]: -8 is not a valid tax.rate"),
        ({"environment": {"kind": "commons"}, "population": [{"count": 2, "policy": "greedy"}],
          "institutions": [{"kind": "tax"}]}, "'tax' works with environment 'market'"),
    ],
)
def test_inconsistent_scenarios_are_user_errors(change, message):
    with pytest.raises(UserError, match=message):
        SocietyModel(scenario_from_dict(market() | change))


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
