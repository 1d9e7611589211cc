"""Norms, monitoring, classification, sanctions and reputation in the public goods game, against their rules.

Two rules: ``contribute_half`` (contribute >= 10, important) and ``hat`` (wear_hat == true, silly, cost 0.5).
Selfish players break both every period; conditional cooperators (first 10, slope 1) keep both while they
face only each other.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sim.errors import UserError
from sim.runner import simulate
from sim.scenario import load_scenario, scenario_from_dict

RULES = [
    {"name": "contribute_half", "text": "Contribute at least 10.", "field": "contribute", "op": ">=", "value": 10},
    {"name": "hat", "text": "Wear a hat.", "field": "wear_hat", "value": True, "important": False, "cost": 0.5},
]


def society(groups: list[tuple[str, int]], *institutions: dict[str, Any], steps: int = 5, seed: int = 2,
            rules: list[dict] | None = None) -> dict[str, Any]:
    return {
        "name": "test_norms", "seed": seed, "steps": steps,
        "population": [{"name": f"g{i}", "count": n, "policy": p} for i, (p, n) in enumerate(groups)],
        "environment": {"kind": "public_goods"},
        "institutions": [{"kind": "norms", "rules": rules or RULES}, *institutions],
    }


def run(data: dict[str, Any]):
    return simulate(scenario_from_dict(data), progress=False)


def monitoring(p: float = 1.0, observers: str = "neighbours") -> dict[str, Any]:
    return {"kind": "monitoring", "probability": p, "observers": observers}


def sanctions(**params: Any) -> dict[str, Any]:
    return {"kind": "sanctions", **params}


# -- norms ----------------------------------------------------------------------------------------------
def test_compliance_counts_each_rule_and_silly_rules_cost_their_compliers():
    result = run(society([("selfish", 2), ("conditional_cooperator", 2)], steps=1))
    assert result.summary["compliance"] == 0.5
    assert result.summary["compliance_important"] == result.summary["compliance_silly"] == 0.5
    pay = result.agents.set_index("group")["specified_reward"]
    assert np.allclose(pay["g1"], 20 - 10 + 0.4 * 20 - 0.5)  # the hat costs its wearers 0.5
    assert np.allclose(pay["g0"], 20 + 0.4 * 20)
    assert set(result.events[result.events["kind"] == "violation"]["detail"]) == {"contribute_half", "hat"}


def test_a_rule_adds_its_own_yes_no_field_to_the_action():
    result = run(society([("conditional_cooperator", 4)], steps=1))
    assert result.agents["act_wear_hat"].all()


# -- monitoring --------------------------------------------------------------------------------------------
def test_with_monitoring_probability_zero_nobody_is_sanctioned_or_fined():
    result = run(society([("selfish", 2), ("punisher", 2)], monitoring(0.0), sanctions(fine=2.0),
                         {"kind": "reputation"}))
    assert result.summary["sanction_points"] == 0
    assert result.summary["fines"] == 0
    assert result.summary["recorded_events"] == 0
    assert result.summary["compliance"] < 1  # the violations happened; nobody saw them


def test_full_monitoring_detects_every_violation_and_punishers_punish_per_rule_broken():
    result = run(society([("selfish", 2), ("punisher", 2)], monitoring(1.0), sanctions(), steps=1))
    assert result.summary["detection_rate"] == 1.0
    sanctions_given = result.events[result.events["kind"] == "sanction"]
    # two punishers, each punishing two selfish players for two broken rules at 2 points per rule
    assert len(sanctions_given) == 4 and (sanctions_given["value"] == 4).all()
    assert result.summary["false_sanction_share"] == 0


def test_detection_follows_the_monitoring_probability():
    result = run(society([("selfish", 8)], monitoring(0.3), steps=40, seed=9))
    # 320 violating acts: standard deviation of the share sqrt(0.21/320) = 0.026
    assert result.summary["detection_rate"] == pytest.approx(0.3, abs=0.08)


def test_an_official_observer_allows_fines_but_no_peer_punishment():
    result = run(society([("selfish", 2), ("punisher", 2)], monitoring(1.0, "official"), sanctions(fine=1.0),
                         steps=1))
    assert result.summary["sanction_points"] == 0
    assert result.summary["fines"] == 2 * 2 * 1.0  # two violators, two rules each


# -- fines and accounting ------------------------------------------------------------------------------------
def test_fines_move_payoffs_without_creating_or_destroying_any():
    groups = [("selfish", 2), ("conditional_cooperator", 2)]
    fined = run(society(groups, monitoring(1.0), sanctions(peer=False, fine=3.0), steps=1))
    unfined = run(society(groups, monitoring(1.0), sanctions(peer=False), steps=1))
    assert fined.summary["fines"] == 2 * 2 * 3.0  # 2 violators, 2 rules each
    assert fined.summary["total_specified_reward"] == pytest.approx(unfined.summary["total_specified_reward"])
    change = (fined.agents.set_index("agent_id")["specified_reward"]
              - unfined.agents.set_index("agent_id")["specified_reward"]).groupby(fined.agents["group"].values).sum()
    assert change["g0"] == pytest.approx(2 * (-6 + 6 / 3))  # each pays 6 and gets a third of the other's fine
    assert change["g1"] == pytest.approx(2 * (2 * 6 / 3))


# -- classification -------------------------------------------------------------------------------------------
def test_a_public_classifier_makes_every_observer_agree():
    result = run(society([("selfish", 4), ("conditional_cooperator", 4)], monitoring(1.0),
                         {"kind": "classification", "public": True, "error": 0.2}, steps=10))
    assert result.summary["classification_disagreement"] == 0
    assert result.summary["misclassification_rate"] == pytest.approx(0.2, abs=0.06)


def test_private_classification_scatters_judgements_as_the_ambiguity_implies():
    """Each of 3 witnesses flips each of 2 rules with probability a: they all agree on an act with
    probability ((1 − a)^3 + a^3)^2, 0.137 for a = 0.3."""
    a = 0.3
    result = run(society([("selfish", 4), ("conditional_cooperator", 4)], monitoring(1.0),
                         {"kind": "classification", "public": False, "ambiguity": a}, steps=15, seed=4))
    assert result.summary["classification_disagreement"] == pytest.approx(1 - ((1 - a) ** 3 + a**3) ** 2, abs=0.06)
    assert result.summary["misclassification_rate"] == pytest.approx(a, abs=0.04)


def test_ambiguity_without_a_public_classifier_makes_false_sanctions():
    groups = [("punisher", 4), ("conditional_cooperator", 4)]
    private = run(society(groups, monitoring(1.0), {"kind": "classification", "public": False, "ambiguity": 0.3},
                          sanctions(), steps=4))
    public = run(society(groups, monitoring(1.0), {"kind": "classification", "public": True, "error": 0.0},
                         sanctions(), steps=4))
    assert private.summary["false_sanction_share"] > 0.5  # nobody breaks a rule: what is punished is misjudged
    assert public.summary["sanction_points"] == 0


# -- reputation ------------------------------------------------------------------------------------------------
def test_the_public_record_holds_what_was_detected_and_sanctioned():
    from sim.model import SocietyModel

    model = SocietyModel(scenario_from_dict(society([("selfish", 2), ("punisher", 2)], monitoring(1.0), sanctions(),
                                                    {"kind": "reputation"}, steps=2)))
    model.step()
    model.step()
    selfish = next(a for a in model.active_agents() if a.group == "g0")
    record = model.observation(selfish).public["reputation"][selfish.unique_id]
    assert record == {"violations": 2.0, "sanctions_received": 2 * 2 * 4.0, "sanctions_given": 0.0, "fines": 0.0}


# -- bad input --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("institutions", "message"), [
    ([{"kind": "monitoring"}], "needs a 'norms' institution"),
    ([{"kind": "monitoring"}, {"kind": "norms", "rules": RULES}], "list 'norms' before 'monitoring'"),
    ([{"kind": "sanctions", "fine": 1}], "a fine is charged per broken rule: list a 'norms' institution"),
    ([{"kind": "norms", "rules": [{**RULES[1], "value": 3}]}], "yes/no choice"),
    ([{"kind": "norms", "rules": [RULES[0], RULES[0]]}], "unique"),
    ([{"kind": "norms", "rules": [{**RULES[0], "cost": 1}]}], "cost is only for"),
    ([{"kind": "monitoring", "probability": 1.5}], "less than or equal to 1"),
])
def test_bad_norm_institutions_are_clear_errors(institutions, message):
    data = society([("selfish", 4)])
    data["institutions"] = institutions
    with pytest.raises(UserError, match=message):
        run(data)


def test_the_rule_based_norms_scenario_runs():
    result = simulate(load_scenario("scenarios/norms_rules.yaml"), progress=False)
    assert 0 < result.summary["compliance_important"] < 1
    assert result.summary["sanction_points"] > 0
    unmonitored = simulate(load_scenario("scenarios/norms_rules.yaml", ["institutions.1.probability=0"]),
                           progress=False)
    assert unmonitored.summary["sanction_points"] == unmonitored.summary["fines"] == 0


def test_the_ledger_balances_fines_and_books_every_punishment():
    from sim.model import SocietyModel

    data = society([("selfish", 4), ("punisher", 4)], monitoring(1.0, "everyone"), sanctions(fine=2.0), steps=1)
    model = SocietyModel(scenario_from_dict(data))
    model.step()
    by_reason: dict[str, float] = {}
    for _, reason, specified, true in model.last_outcome.ledger:
        assert specified == true
        by_reason[reason] = by_reason.get(reason, 0.0) + specified
    sanctions_ = model.institutions[-1]
    assert by_reason["fine"] == pytest.approx(-4 * 2 * 2.0)  # four violators, two rules each
    assert by_reason["fine"] + by_reason["fine_share"] == pytest.approx(0.0)
    assert by_reason["punishment_cost"] == pytest.approx(-sanctions_.step["cost"]) and sanctions_.step["cost"] > 0
    assert by_reason["punishment_loss"] == pytest.approx(-sanctions_.step["loss"])
