"""The silly-rules group (after Hadfield-Menell, Andrus & Hadfield 2019) against its closed-form theory.

Defaults: one important rule, violation rate v = 0.1, θ_H = 0.9, θ_L = 0.6, value 1, harm 30, silly cost
0.01, outside option 0: u_H = 1 − 30·0.1·0.1 = 0.7, u_L = 1 − 30·0.1·0.4 = −0.2, so π* = 0.7 / 0.9 = 7/9.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from sim.environments.silly_rules import SillyRulesParams
from sim.errors import UserError
from sim.model import SocietyModel
from sim.runner import simulate
from sim.scenario import load_scenario, scenario_from_dict
from tests.fake_llm import FakeLLMClient


def group(members: int = 10, steps: int = 10, seed: int = 0, policy: str = "bayesian_member",
          **environment: Any) -> dict[str, Any]:
    return {
        "name": "test_silly", "seed": seed, "steps": steps,
        "population": [{"name": "members", "count": members, "policy": policy}],
        "environment": {"kind": "silly_rules", **environment},
    }


def stepped(data: dict[str, Any], steps: int) -> SocietyModel:
    model = SocietyModel(scenario_from_dict(data))
    for _ in range(steps):
        model.step()
    return model


# -- the theory -------------------------------------------------------------------------------------------
def test_threshold_follows_the_payoffs_and_silly_rules_lower_it_by_their_cost():
    assert SillyRulesParams().theory().threshold() == pytest.approx(7 / 9)
    assert SillyRulesParams(silly_rules=9).theory().threshold() == pytest.approx((0.7 - 0.09) / 0.9)


def test_bayes_update_by_hand():
    theory = SillyRulesParams(hazard=0.0).theory()
    assert theory.update(0.5, punished=0, seen=1) == pytest.approx(0.8)  # odds × 0.4/0.1
    assert theory.update(0.5, punished=1, seen=1) == pytest.approx(0.4)  # odds × 0.6/0.9
    assert SillyRulesParams(hazard=0.5).theory().update(0.0, 0, 0) == pytest.approx(0.5)


def test_learning_speed_grows_in_proportion_to_the_number_of_rules():
    drifts = [SillyRulesParams(silly_rules=s).theory().drift(10) for s in (0, 1, 9)]
    assert drifts[1] == pytest.approx(2 * drifts[0])
    assert drifts[2] == pytest.approx(10 * drifts[0])


# -- robustness to a shock to beliefs ------------------------------------------------------------------------
@pytest.mark.parametrize("silly", [0, 9])
def test_after_a_rumour_of_collapse_members_leave_as_often_as_the_theory_says(silly):
    """A rumour sets every belief to 0.9 at step 1; step 1's evidence decides who leaves at step 2."""
    members, runs = 5, 200
    exact = SillyRulesParams(silly_rules=silly).theory().leave_probability(0.9, members, 0.9)
    left = []
    for seed in range(runs):
        model = stepped(group(members, steps=2, seed=seed, silly_rules=silly, belief_shock_step=1), 2)
        left.append(1 - len(model.environment.members) / members)
    assert np.mean(left) == pytest.approx(exact, abs=0.1)  # standard error at most 0.035


def test_silly_rules_make_a_group_robust_to_a_rumour():
    """Exact probabilities: without silly rules the rumour empties the group; with nine, most evidence refutes it."""
    leave = [SillyRulesParams(silly_rules=s).theory().leave_probability(0.9, 10, 0.9) for s in (0, 3, 9)]
    assert leave[0] > 0.9 > leave[1] > leave[2]
    survived = [stepped(group(silly_rules=s, belief_shock_step=1, seed=seed), 3).environment.members
                for s in (0, 9) for seed in range(20)]
    assert sum(len(m) >= 5 for m in survived[:20]) < sum(len(m) >= 5 for m in survived[20:])


def test_a_group_that_loses_its_quorum_loses_its_enforcement_for_good():
    model = stepped(group(silly_rules=0, belief_shock_step=1, seed=1), 4)
    assert len(model.environment.members) < 5
    assert model.environment.enforcement == 0.6


# -- adaptability to a real collapse -------------------------------------------------------------------------
def test_silly_rules_make_members_leave_a_collapsed_group_sooner():
    """Exit delay ~ (logit π* − logit π_before) / drift; the drift is 10 times larger with nine silly rules."""
    def delay(silly: int) -> float:
        runs = [simulate(scenario_from_dict(group(silly_rules=silly, collapse_step=3, steps=40, seed=s)),
                         progress=False).summary["exit_delay_after_collapse"] for s in range(3)]
        return float(np.mean(runs))

    dense, sparse = delay(9), delay(0)
    theory = SillyRulesParams(silly_rules=9).theory()
    gap = np.log(theory.threshold() / (1 - theory.threshold())) - np.log(0.01 / 0.99)
    assert dense <= 2 * gap / theory.drift(10) + 1
    assert sparse > 4 * dense


def test_learning_pays_once_enforcement_has_collapsed():
    after = {}
    for policy in ("bayesian_member", "loyal_member"):
        result = simulate(scenario_from_dict(group(policy=policy, silly_rules=9, collapse_step=3, steps=15)),
                          progress=False)
        late = result.agents[result.agents["step"] > 6]
        after[policy] = late["specified_reward"].mean()
    assert after["bayesian_member"] > after["loyal_member"]


def test_too_many_costly_silly_rules_empty_the_group_at_once():
    """With silly cost 0.1, nine silly rules make u_H = −0.2 < 0: π* < 0, so everyone leaves at step 1."""
    model = stepped(group(silly_rules=9, silly_cost=0.1), 1)
    assert not model.environment.members


def test_specified_and_true_totals_agree_every_step():
    result = simulate(scenario_from_dict(group(silly_rules=3, collapse_step=2, steps=8)), progress=False)
    assert np.allclose(result.model["specified_reward"], result.model["true_utility"])
    assert result.summary["alignment_gap"] == pytest.approx(0.0, abs=1e-9)


# -- plumbing and input -----------------------------------------------------------------------------------------
def test_llm_members_answer_one_batch_per_step():
    llm = FakeLLMClient(lambda request: json.dumps({"stay": True}))
    simulate(scenario_from_dict(group(members=4, steps=2, policy="llm", silly_rules=2)), llm=llm, progress=False)
    assert [len(batch) for batch in llm.sent] == [4, 4]
    assert "belief_enforcement_collapsed" in llm.sent[0][0].messages[1]["content"]


def test_enforcement_low_must_be_below_high():
    with pytest.raises(UserError, match="enforcement_low must be below"):
        scenario_from_dict(group(enforcement_low=0.95))


def test_the_rule_based_scenario_runs():
    result = simulate(load_scenario("scenarios/silly_rules_rules.yaml"), progress=False)
    assert result.summary["silly_density"] == 0.8
