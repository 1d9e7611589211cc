"""The public goods game with punishment (Fehr & Gächter 2000) against the numbers its rules imply.

Defaults: groups of 4, endowment e = 20, mpcr a = 0.4, so π¹_i = 20 − c_i + 0.4 Σ c_j.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from sim.errors import UserError
from sim.llm.types import ChatRequest
from sim.model import SocietyModel
from sim.runner import simulate
from sim.scenario import load_scenario, scenario_from_dict
from tests.fake_llm import FakeLLMClient

FEHR_GACHTER = {"kind": "sanctions"}
LINEAR = {"kind": "sanctions", "schedule": "linear"}


def game(groups: list[tuple[Any, int]], institutions: list[dict] | None = None, steps: int = 10, seed: int = 1,
         **environment: Any) -> dict[str, Any]:
    return {
        "name": "test_pgg", "seed": seed, "steps": steps,
        "population": [{"name": f"g{i}", "count": n, "policy": p} for i, (p, n) in enumerate(groups)],
        "environment": {"kind": "public_goods", **environment},
        "institutions": institutions or [],
    }


def run(data: dict[str, Any], llm=None):
    return simulate(scenario_from_dict(data), llm=llm, progress=False)


MIXED = [("selfish", 1), ("conditional_cooperator", 2), ("punisher", 1)]


# -- the game ----------------------------------------------------------------------------------------
def test_first_stage_payoffs_follow_the_formula_and_true_utility_sums_to_the_group_payoff():
    result = run(game(MIXED, steps=1))
    agents = result.agents.set_index("group")
    # contributions 0, 10, 10, 10 (the punisher cooperates conditionally without a punishment stage)
    assert agents.loc["g0", "contribution"] == 0
    assert agents.loc["g0", "specified_reward"] == pytest.approx(20 + 0.4 * 30)
    assert agents.loc["g2", "specified_reward"] == pytest.approx(20 - 10 + 0.4 * 30)
    assert agents.loc["g0", "true_utility"] == pytest.approx(20.0)  # e − c + n·a·c with c = 0
    assert agents.loc["g2", "true_utility"] == pytest.approx(20 - 10 + 4 * 0.4 * 10)
    assert result.agents["true_utility"].sum() == pytest.approx(result.agents["specified_reward"].sum())


def test_selfish_players_contribute_nothing_every_period_and_never_punish():
    result = run(game([("selfish", 8)], [FEHR_GACHTER]))
    assert (result.agents["contribution"] == 0).all()
    assert result.summary["sanction_points"] == 0
    assert result.summary["punishment_cost"] == 0
    assert (result.agents["specified_reward"] == 20).all()  # the Nash payoff: the endowment


def test_without_punishment_conditional_cooperation_decays_as_its_rule_implies():
    """Three conditional types facing one free rider: c(t+1) = round(2 c(t) / 3) from c(1) = 10."""
    expected, c = [], 10
    for _ in range(10):
        expected.append(3 * c / 80)
        c = round(2 * c / 3)
    result = run(game(MIXED))
    assert np.allclose(result.model["contribution_rate"], expected)
    assert result.summary["contribution_rate_last"] < result.summary["contribution_rate_first"]


def test_with_punishment_contributions_rise_and_stay_up():
    """Period 1: 0, 10, 10, 20 (the punisher gives all). The punisher gives the free rider ceil(20/5) = 4 points
    and each cooperator ceil(10/5) = 2; punished cooperators give 20 from then on: 0.75 of the endowment."""
    result = run(game(MIXED, [FEHR_GACHTER]))
    assert np.allclose(result.model["contribution_rate"], [0.5] + [0.75] * 9)
    first = result.events[(result.events["step"] == 1) & (result.events["kind"] == "sanction")]
    assert sorted(first["value"]) == [2, 2, 4]
    assert result.summary["false_sanction_share"] == 0


def test_fehr_gachter_schedule_costs_and_losses():
    """Step 1, contributions 0, 10, 10, 20 (project 40): the free rider (π¹ = 36) gets 4 points and loses 40%;
    the cooperators (π¹ = 26) get 2 points each and lose 20%; the punisher (π¹ = 16) pays c(4) + 2 c(2) = 10."""
    result = run(game(MIXED, [FEHR_GACHTER], steps=1))
    pay = result.agents.set_index("group")["specified_reward"]
    assert pay["g0"] == pytest.approx(36 * 0.6)
    assert np.allclose(pay["g1"], 26 * 0.8)
    assert pay["g2"] == pytest.approx(16 - 10)
    assert result.summary["punishment_cost"] == 10
    assert result.summary["punishment_loss"] == pytest.approx(36 * 0.4 + 2 * 26 * 0.2)


def test_linear_schedule_costs_one_and_takes_three_per_point():
    result = run(game(MIXED, [LINEAR], steps=1))
    pay = result.agents.set_index("group")["specified_reward"]
    assert pay["g0"] == pytest.approx(36 - 3 * 4)
    assert pay["g2"] == pytest.approx(16 - 8)  # 8 points at 1 each
    assert result.summary["punishment_loss"] == pytest.approx(3 * 8)


def test_punishment_accounting_adds_up():
    """Payoffs after punishment = first-stage payoffs − costs − losses, agent by agent and in total."""
    result = run(game(MIXED * 2, [FEHR_GACHTER], steps=6, matching="stranger", seed=4))
    agents = result.agents
    lost = result.model["punishment_cost"].sum() + result.model["punishment_loss"].sum()
    assert agents["first_stage_payoff"].sum() - agents["specified_reward"].sum() == pytest.approx(lost)
    assert lost > 0


def test_partner_groups_stay_and_stranger_groups_change():
    for matching, changes in (("partner", False), ("stranger", True)):
        model = SocietyModel(scenario_from_dict(game([("selfish", 16)], steps=4, matching=matching)))
        seen = []
        for _ in range(4):
            model.step()
            seen.append(sorted(map(tuple, model.environment.groups)))
        assert any(s != seen[0] for s in seen) == changes


def everyone_gives_all_and_punishes_everyone(request: ChatRequest) -> str:
    """A scripted LLM player: contributes the endowment, then gives every member it may punish one point."""
    props = request.schema["properties"]
    if "contribute" in props:
        return json.dumps({"contribute": props["contribute"]["maximum"]})
    return json.dumps(dict.fromkeys(props, 1))


def test_llm_players_punish_in_one_batch_and_antisocial_punishment_counts_as_false():
    llm = FakeLLMClient(everyone_gives_all_and_punishes_everyone)
    result = run(game([("llm", 4)], [FEHR_GACHTER], steps=2), llm=llm)
    phases = [{r.tag["phase"] for r in batch} for batch in llm.sent]
    assert phases == [{"act"}, {"sanction"}] * 2
    punish = llm.sent[1]
    assert len(punish) == 4
    assert all(len(r.schema["properties"]) == 3 and "punishment" in r.messages[0]["content"] for r in punish)
    assert result.summary["sanction_points"] == 2 * 4 * 3
    assert result.summary["false_sanction_share"] == 1.0  # every target gave as much as its punisher


# -- bad input ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("change", "message"), [
    ({"environment": {"kind": "public_goods", "mpcr": 1.2}}, "no social dilemma"),
    ({"institutions": [{"kind": "sanctions", "max_points": 12}]}, "max_points <= 10"),
    ({"institutions": [{"kind": "sanctions", "cost": 2}]}, "cost"),
])
def test_bad_parameters_are_clear_errors(change, message):
    with pytest.raises(UserError, match=message):
        scenario_from_dict({**game(MIXED), **change})


def test_a_population_that_does_not_split_into_groups_is_an_error():
    with pytest.raises(UserError, match="groups of 4"):
        run(game([("selfish", 5)]))


def test_the_rule_based_scenario_runs_and_shows_the_pattern():
    scenario = load_scenario("scenarios/public_goods_rules.yaml")
    with_punishment = simulate(scenario, progress=False).summary
    without = simulate(load_scenario("scenarios/public_goods_rules.yaml", ["institutions=[]"]), progress=False).summary
    assert with_punishment["contribution_rate_last"] > with_punishment["contribution_rate_first"]
    assert without["contribution_rate_last"] < without["contribution_rate_first"]


@pytest.mark.llm
@pytest.mark.slow
def test_llm_players_on_the_packaged_model_contribute_and_punish(vllm_backend):
    """One period of public_goods.yaml with one group of four SmolLM2 players: the answers validate (or fall
    back), contributions respect the endowment, and the punishment accounting adds up."""
    from sim.llm.client import LLMClient

    overrides = ["steps=1", "population.0.count=4", "llm.max_tokens=64", "llm.max_model_len=2048"]
    scenario = load_scenario("scenarios/public_goods.yaml", overrides)
    result = simulate(scenario, llm=LLMClient(vllm_backend, None, backend_name="vllm"), progress=False)
    assert 4 <= result.summary["llm_decisions"] <= 8
    assert result.agents["contribution"].between(0, 20).all()
    lost = result.summary["punishment_cost"] + result.summary["punishment_loss"]
    assert result.agents["first_stage_payoff"].sum() - result.agents["specified_reward"].sum() == pytest.approx(lost)


@pytest.mark.parametrize("mpcr", [0.3, 0.4, 0.7, 0.35])
def test_payoffs_of_all_groups_at_once_are_those_of_one_agent_at_a_time_bit_for_bit(mpcr: float):
    model = SocietyModel(scenario_from_dict(game([("selfish", 40)], group_size=4, endowment=23, mpcr=mpcr)))
    env = model.environment
    rng = np.random.default_rng(5)
    given = {a.unique_id: int(rng.integers(0, 24)) for a in model.active_agents()}
    members = [j for group in env.groups for j in group]
    specified, true = env.payoffs(members, given)
    for group in env.groups:
        project, worth = mpcr * sum(given[j] for j in group), len(group) * mpcr
        for j in group:
            assert specified[j].hex() == (23 - given[j] + project).hex()
            assert true[j].hex() == (23 - given[j] + worth * given[j]).hex()
    assert list(specified) == members
