"""Incentive-responsive baselines against what theory says they must do.

The best response takes the action worth most once expected penalties are priced in, so it must switch from
violating to complying exactly where detection probability × fine crosses the gain from violating. Roth-Erev
must update its propensities by the formula of Erev & Roth (1998).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agents.baselines.reinforcement import RothErevParams, reinforce
from sim.incentives import Penalty, action_key, candidate_actions, expected_penalty
from sim.model import SocietyModel
from sim.runner import simulate
from sim.scenario import load_scenario, scenario_from_dict

QUOTA = {"name": "quota", "text": "Catch at most 10 tons a month.", "field": "fish", "op": "<=", "value": 10}
HALF = {"name": "contribute_half", "text": "Contribute at least 10.", "field": "contribute", "op": ">=", "value": 10}
HAT = {"name": "hat", "text": "Wear a hat.", "field": "wear_hat", "value": True, "important": False, "cost": 0.5}


def scenario(environment: str, groups: list[tuple[str, int]], institutions: list[dict], steps: int = 1,
             **policy: Any) -> Any:
    population = [{"name": f"g{i}", "count": n, "policy": {"kind": p, **(policy if p == "best_response" else {})}}
                  for i, (p, n) in enumerate(groups)]
    return scenario_from_dict({"name": "test_incentives", "seed": 4, "steps": steps, "population": population,
                               "environment": {"kind": environment}, "institutions": institutions})


def enforced(rules: list[dict], probability: float, fine: float, **sanctions: Any) -> list[dict]:
    return [{"kind": "norms", "rules": rules}, {"kind": "monitoring", "probability": probability},
            {"kind": "sanctions", "peer": False, "fine": fine, **sanctions}]


def requests(result: Any, group: str = "g1") -> list[int]:
    return result.agents[result.agents["group"] == group]["act_fish"].tolist()


# -- the best response ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("probability", [1.0, 0.5, 0.25])
def test_best_responder_complies_exactly_when_detection_times_fine_exceeds_the_gain(probability: float):
    # Month 1, no catches seen yet: violating takes the whole lake (100), complying 10, a gain of 90.
    gain = 100 - 10
    below, above = (gain - 1) / probability, (gain + 1) / probability
    low = simulate(scenario("commons", [("sustainable", 4), ("best_response", 1)],
                            enforced([QUOTA], probability, below)), progress=False)
    high = simulate(scenario("commons", [("sustainable", 4), ("best_response", 1)],
                             enforced([QUOTA], probability, above)), progress=False)
    assert requests(low) == [100]
    assert requests(high) == [10]


def test_once_it_has_seen_the_others_the_gain_is_what_they_leave():
    # Month 2: four sustainable fishers took 10 each, so violating can take 100 - 40 = 60, a gain of 50 over 10.
    base = scenario("commons", [("sustainable", 4), ("best_response", 1)], enforced([QUOTA], 1.0, 91.0), steps=2)
    model = SocietyModel(base)
    model.step()  # complies in month 1 (91 > 90), so the lake regrows to 100
    policy, agent = model.policies["g1"], next(a for a in model.active_agents() if a.group == "g1")
    schema = model.act_schema(agent)
    assert policy.value(agent, schema(fish=60)) - policy.value(agent, schema(fish=10)) == pytest.approx(
        50 - 91.0)
    assert policy.value(agent, schema(fish=70)) == policy.value(agent, schema(fish=60))  # nothing left


def test_without_institutions_the_best_responder_takes_every_fish_and_the_lake_collapses():
    result = simulate(scenario("commons", [("sustainable", 4), ("best_response", 1)], [], steps=12),
                      progress=False)
    assert requests(result) == [100]
    assert result.summary["survival_time"] == 1


def test_fine_sweep_moves_survival_where_rule_based_fishers_did_not():
    # The observation: with fixed-rule fishers fines 0, 5, 20 change nothing. With best responders the
    # lake survives once the fine outweighs the gain from violating (90 in month 1, 50 later: 100 - 4 x 10 - 10).
    survival = {}
    for fine in (0.0, 20.0, 60.0, 95.0):
        result = simulate(scenario("commons", [("best_response", 5)], enforced([QUOTA], 1.0, fine), steps=12),
                          progress=False)
        survival[fine] = result.summary["survival_time"]
    assert survival == {0.0: 1, 20.0: 1, 60.0: 1, 95.0: 12}


def test_public_goods_without_punishment_best_response_is_nash_zero():
    result = simulate(scenario("public_goods", [("best_response", 4), ("conditional_cooperator", 4)], [],
                               steps=5), progress=False)
    given = result.agents[result.agents["group"] == "g0"]["contribution"]
    assert given.eq(0).all()


@pytest.mark.parametrize(("fine", "complies"), [(5.9, False), (6.1, True)])
def test_public_goods_complies_with_a_minimum_when_the_fine_beats_what_the_tokens_keep(fine: float, complies: bool):
    # Giving 10 instead of 0 costs 10 x (1 - 0.4) = 6: a fine (detected surely) above 6 makes 10 the best response.
    result = simulate(scenario("public_goods", [("best_response", 4)], enforced([HALF], 1.0, fine)),
                      progress=False)
    assert result.agents["contribution"].eq(10 if complies else 0).all()


def test_silly_rule_is_kept_when_its_cost_is_below_the_expected_fine():
    # Keeping the hat rule costs 0.5; breaking it is detected with probability 0.4 and fined 1 (0.4) or 2 (0.8).
    kept = simulate(scenario("public_goods", [("best_response", 4)], enforced([HAT], 0.4, 2.0)), progress=False)
    broken = simulate(scenario("public_goods", [("best_response", 4)], enforced([HAT], 0.4, 1.0)), progress=False)
    assert kept.agents["act_wear_hat"].all()
    assert not broken.agents["act_wear_hat"].any()


@pytest.mark.parametrize(("price", "complies"), [(89.0, False), (91.0, True)])
def test_reputation_is_priced_by_the_responder_own_price(price: float, complies: bool):
    # No fine: only the public record. Detected surely, one entry per violating act, priced at `price`.
    institutions = [{"kind": "norms", "rules": [QUOTA]}, {"kind": "monitoring", "probability": 1.0},
                    {"kind": "reputation"}]
    result = simulate(scenario("commons", [("sustainable", 4), ("best_response", 1)], institutions,
                               reputation_price=price), progress=False)
    assert requests(result) == [10 if complies else 100]


def test_expected_fine_follows_detection_and_classification_errors():
    # Observed with probability 0.5; a public classifier mislabels each rule with probability 0.1. An act breaking
    # one of two rules is expected to be labelled 0.5 x (1 x 0.9 + 1 x 0.1) = 0.5 rules; keeping both, 0.5 x 0.2.
    institutions = [{"kind": "norms", "rules": [HALF, HAT]}, {"kind": "monitoring", "probability": 0.5},
                    {"kind": "classification", "public": True, "error": 0.1},
                    {"kind": "sanctions", "peer": False, "fine": 4.0}]
    model = SocietyModel(scenario("public_goods", [("best_response", 4)], institutions))
    agent = model.active_agents()[0]
    schema = model.act_schema(agent)
    one_broken = expected_penalty(model, agent, schema(contribute=0, wear_hat=True))
    none_broken = expected_penalty(model, agent, schema(contribute=10, wear_hat=True))
    assert one_broken.payoff == pytest.approx(4.0 * 0.5 + 0.5)  # + the hat's compliance cost
    assert none_broken.payoff == pytest.approx(4.0 * 0.5 * 0.2 + 0.5)


def test_expected_punishment_is_what_peers_inflicted_per_detected_violation():
    # Period 1: the best responders give 0 (no punishment seen yet), the punishers punish each for the broken rule.
    # From period 2 on they price the mean loss per recorded violation, which beats the 6 that giving 10 costs.
    institutions = [{"kind": "norms", "rules": [HALF]}, {"kind": "monitoring", "probability": 1.0},
                    {"kind": "sanctions"}]
    data = scenario("public_goods", [("best_response", 2), ("punisher", 2)], institutions, steps=3)
    model = SocietyModel(data)
    model.step()
    sanctions = model.institutions[2]
    responders = [a for a in model.active_agents() if a.group == "g0"]
    lost = [-sum(v for a, reason, v, _ in model.last_outcome.ledger if a == r.unique_id
                 and reason == "punishment_loss") for r in responders]
    assert sanctions.recorded_labels == 2 and sanctions.loss_of_recorded == pytest.approx(sum(lost))
    schema = model.act_schema(responders[0])
    assert expected_penalty(model, responders[0], schema(contribute=0)).payoff == pytest.approx(sum(lost) / 2)
    assert sum(lost) / 2 > 6
    model.step()
    assert [model.environment.contributions[r.unique_id] for r in responders] == [10, 10]


def test_penalties_add_and_price_the_record():
    assert (Penalty(1.0, 0.5) + Penalty(2.0, 1.0)).cost(reputation_price=4.0) == pytest.approx(3.0 + 6.0)


def test_candidates_enumerate_bounded_fields_and_stay_stable():
    model = SocietyModel(scenario("public_goods", [("best_response", 4)], [{"kind": "norms", "rules": [HAT]}]))
    schema = model.act_schema(model.active_agents()[0])
    actions = candidate_actions(schema)
    assert [action_key(a) for a in actions][:3] == [(0, False), (0, True), (1, False)]
    assert len(actions) == 21 * 2


# -- Roth-Erev ---------------------------------------------------------------------------------------------------
def test_roth_erev_update_follows_the_formula():
    params = RothErevParams(forgetting=0.1, experimentation=0.2, initial=1.0, reference=2.0)
    q = {"a": 1.0, "b": 3.0}
    reinforce(q, ["a", "b", "c"], "b", reward=12.0, params=params)
    strength = 12.0 - 2.0
    assert q["b"] == pytest.approx(0.9 * 3.0 + strength * 0.8)
    assert q["a"] == pytest.approx(0.9 * 1.0 + strength * 0.2 / 2)
    assert q["c"] == pytest.approx(0.9 * 1.0 + strength * 0.2 / 2)  # unseen: starts at the initial propensity
    reinforce(q, ["a", "b", "c"], "a", reward=-100.0, params=params)
    assert q["a"] == params.floor  # a loss cannot push a propensity below the cut-off


def test_roth_erev_propensities_replay_from_the_recorded_choices_and_rewards():
    data = scenario("public_goods", [("roth_erev", 4)], [], steps=6)
    model = SocietyModel(data)
    while model.running:
        model.step()
    table = model.datacollector.get_agent_vars_dataframe().reset_index()
    policy = model.policies["g0"]
    params = policy.params
    menu = [(c,) for c in range(21)]
    for agent_id, rows in table.groupby("AgentID"):
        q: dict = {}
        rows = rows.sort_values("Step")
        for choice, reward in list(zip(rows["act_contribute"], rows["specified_reward"], strict=True))[:-1]:
            reinforce(q, menu, (int(choice),), float(reward), params)
        expected = {k: q.get(k, params.initial) for k in menu}
        assert policy.propensities[agent_id] == pytest.approx(expected)


def test_roth_erev_learns_to_avoid_a_sure_fine():
    # Giving less than 10 is fined 50 for sure: a loss, floored at the cut-off, while giving 10 or more pays. Both
    # arms start uniform over 0..20 (10 of 21 values violate); only the fined one learns to keep the rule.
    def violating_share(institutions: list[dict]) -> tuple[float, float]:
        result = simulate(scenario("public_goods", [("roth_erev", 40)], institutions, steps=30), progress=False)
        given = result.agents.pivot(index="step", columns="agent_id", values="contribution")
        return float((given.iloc[0] < 10).mean()), float((given.iloc[-10:] < 10).to_numpy().mean())

    fined_first, fined_late = violating_share(enforced([HALF], 1.0, 50.0))
    free_first, free_late = violating_share([])
    assert fined_first == free_first == pytest.approx(0.5, abs=0.2)
    assert fined_late < 0.2 < 0.4 < free_late


# -- the contracts market --------------------------------------------------------------------------------------
CONTRACTS = Path(__file__).resolve().parent.parent / "scenarios" / "contracts_rules.yaml"


@pytest.mark.parametrize("court", [["institutions.0.filing_cost=10"], ["institutions.0.filing_cost=1"], []])
def test_best_responding_contractors_do_what_the_literal_optimiser_does(court: list[str]):
    # The literal optimiser honours a gap iff the damages it avoids and the bonus it earns cover the cost saved;
    # the best response prices the court's deterrence (Court.expected_penalty) the same way.
    literal = simulate(load_scenario(CONTRACTS, court), progress=False)
    responder = simulate(load_scenario(CONTRACTS, [*court, "population.1.policy=best_response"]), progress=False)
    conduct = [r[r["group"] == "literal"]["act_in_gap"].tolist() for r in (literal.agents, responder.agents)]
    assert conduct[0] == conduct[1]
    assert set(conduct[0]) == ({"honour"} if court == ["institutions.0.filing_cost=1"] or not court else {"exploit"})
