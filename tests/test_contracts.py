"""The principal_agent market and its gap-filling institutions, against the numbers the model implies.

Defaults: price 10, value 15, cost_honour 4, cost_exploit 1 (a saving of 3 for exploiting), harm 8.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sim.errors import UserError
from sim.llm.types import ChatRequest, derive_seed
from sim.runner import simulate
from sim.scenario import load_scenario, scenario_from_dict
from sim.theory.contracts import relational_bonus_ceiling
from tests.fake_llm import FakeLLMClient


def market(
    contractors: list[tuple[str, int]], principals: int = 4, steps: int = 20, seed: int = 5,
    institutions: list[dict[str, Any]] | None = None, client: dict[str, Any] | None = None, **environment: Any,
) -> dict[str, Any]:
    return {
        "name": "test_market",
        "seed": seed,
        "steps": steps,
        "population": [
            {"name": "principals", "count": principals, "policy": {"kind": "client", **(client or {})}},
            *({"name": f"c{i}", "count": n, "policy": p} for i, (p, n) in enumerate(contractors)),
        ],
        "environment": {"kind": "principal_agent", **environment},
        "institutions": institutions or [],
    }


def run(data: dict[str, Any], llm: FakeLLMClient | None = None):
    return simulate(scenario_from_dict(data), llm=llm, progress=False)


def tasks_of(result) -> pd.DataFrame:
    """Per contractor-step rows with the tasks done, from the agents table."""
    return result.agents[result.agents["role"] == "contractor"]


# -- the environment ------------------------------------------------------------------------------
def test_literal_exploits_every_gap_and_the_gap_is_the_harm():
    result = run(market([("literal", 2)]))
    model = result.model
    assert result.summary["gap_exploitation_rate"] == 1.0
    # alignment gap = -harm per exploited gap, step by step
    assert np.allclose(model["alignment_gap"], -8.0 * model["exploited_gaps"])
    assert model["exploited_gaps"].sum() == model["uncovered_tasks"].sum() > 0
    # principal surplus: 5 per covered task, 5 - 8 = -3 per exploited one
    expected = 5.0 * (model["tasks"] - model["uncovered_tasks"]) - 3.0 * model["uncovered_tasks"]
    assert np.allclose(model["principal_surplus"], expected)


def test_spirit_contractors_close_the_gap():
    result = run(market([("spirit", 2)]))
    assert result.summary["gap_exploitation_rate"] == 0.0
    assert result.summary["alignment_gap"] == 0.0
    assert result.summary["principal_surplus"] == pytest.approx(4 * 20 * 5.0)  # 4 principals, 20 steps, 15 - 10
    assert result.summary["contractor_surplus"] == pytest.approx(4 * 20 * 6.0)  # 10 - 4 per task


@pytest.mark.parametrize(("completeness", "uncovered"), [(0.0, 1.0), (1.0, 0.0)])
def test_completeness_sets_the_share_of_uncovered_states(completeness, uncovered):
    result = run(market([("literal", 2)], completeness=completeness))
    assert result.summary["uncovered_share"] == uncovered


def test_uncovered_share_follows_completeness_statistically():
    result = run(market([("spirit", 1)], principals=10, steps=50, completeness=0.3))
    assert result.summary["uncovered_share"] == pytest.approx(0.7, abs=0.05)  # 500 draws: sd 0.02


def test_principals_leave_a_market_that_loses_them_money():
    # completeness 0: every task is exploited, worth 15 - 10 - 8 = -3 < outside option 0.
    left = run(market([("literal", 2)], completeness=0.0))
    assert left.summary["principals_left_share"] == 1.0
    assert left.model["principals_out"].iloc[-1] == 4
    assert left.model["tasks"].iloc[3:].sum() == 0  # patience 3: gone from period 4 on
    stayed = run(market([("literal", 2)], completeness=1.0))
    assert stayed.summary["principals_left_share"] == 0.0


def test_same_scenario_and_seed_give_identical_tables():
    data = market([("literal", 1), ("spirit", 1)], institutions=[
        {"kind": "court", "error_rate": 0.3, "damages_multiplier": 0.5}, {"kind": "ratings", "visibility": 0.5}])
    first, second = run(data), run(data)
    pd.testing.assert_frame_equal(first.model, second.model)
    pd.testing.assert_frame_equal(first.agents, second.agents)
    pd.testing.assert_frame_equal(first.events, second.events)
    data["seed"] = 6
    assert not run(data).events.equals(first.events)


@pytest.mark.parametrize("path", ["scenarios/contracts_rules.yaml"])
def test_rule_scenario_runs_and_repeats(path):
    scenario = load_scenario(path)
    first, second = simulate(scenario, progress=False), simulate(scenario, progress=False)
    pd.testing.assert_frame_equal(first.agents, second.agents)
    assert {"gap_exploitation_rate", "litigation_rate", "principals_left_share"} <= set(first.summary)


# -- user errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"completeness": 1.5}, "completeness"),
        ({"cost_exploit": 5.0}, "cost_exploit must not exceed cost_honour"),
        ({"states": 0}, "states"),
    ],
)
def test_bad_environment_values_are_validation_errors(override, message):
    with pytest.raises(UserError, match=message):
        scenario_from_dict(market([("literal", 1)], **override))


def test_unknown_principal_group_is_a_user_error():
    with pytest.raises(UserError, match=r"environment\.principals: no population group named bosses"):
        scenario_from_dict(market([("literal", 1)], principals=1) | {
            "environment": {"kind": "principal_agent", "principals": ["bosses"]}})


def test_contract_institution_needs_the_market():
    with pytest.raises(UserError, match="'court' works with environment 'principal_agent', not 'commons'"):
        scenario_from_dict({
            "name": "x", "steps": 1, "population": [{"count": 2, "policy": "greedy"}],
            "environment": {"kind": "commons"}, "institutions": [{"kind": "court"}]})


# -- the court ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("error_rate", "conduct"),
    # damages 8, saving 3: the literal contractor honours iff (1 - e)·8 >= 3, i.e. e <= 0.625
    [(0.0, "honour"), (0.6, "honour"), (0.65, "exploit"), (0.9, "exploit")],
)
def test_court_deters_exactly_when_expected_damages_cover_the_saving(error_rate, conduct):
    result = run(market([("literal", 2)], institutions=[{"kind": "court", "error_rate": error_rate}]))
    assert result.summary["gap_exploitation_rate"] == (1.0 if conduct == "exploit" else 0.0)


def test_suits_pay_the_fee_and_win_expectation_damages():
    # damages 0.3·8 = 2.4 < saving 3, so the contractor still exploits; 2.4 > fee 1, so principals sue.
    court = {"kind": "court", "error_rate": 0.0, "damages_multiplier": 0.3, "filing_cost": 1.0}
    result = run(market([("literal", 2)], institutions=[court]))
    model = result.model
    assert result.summary["litigation_rate"] == 1.0
    assert result.summary["court_accuracy"] == 1.0
    assert np.allclose(model["damages_awarded"], 2.4 * model["exploited_gaps"])
    covered = model["tasks"] - model["uncovered_tasks"]
    # per exploited task: 15 - 10 - 8 - 1 + 2.4 = -1.6
    assert np.allclose(model["principal_surplus"], 5.0 * covered - 1.6 * model["uncovered_tasks"])
    assert set(result.events["kind"]) == {"lawsuit", "verdict"}


def test_court_errs_at_its_error_rate():
    court = {"kind": "court", "error_rate": 0.3, "damages_multiplier": 0.5}  # award 2.8: sue, but not deterred
    stay = {"outside_option": -100.0}  # keep principals in the market, so that there are many suits
    result = run(market([("literal", 2)], principals=6, steps=40, institutions=[court], **stay))
    verdicts = result.events[result.events["kind"] == "verdict"]
    assert len(verdicts) > 90  # 240 tasks, half uncovered
    assert result.summary["court_accuracy"] == pytest.approx(0.7, abs=0.12)


def test_no_suit_when_the_fee_exceeds_the_expected_award():
    court = {"kind": "court", "error_rate": 0.0, "damages_multiplier": 0.1, "filing_cost": 1.0}  # award 0.8
    result = run(market([("literal", 2)], institutions=[court]))
    assert result.summary["litigation_rate"] == 0.0


def judge(request: ChatRequest) -> str:
    """A fake LLM judge: finds liability when the value received fell short of what was expected."""
    evidence = json.loads(request.messages[-1]["content"])
    short = evidence["value_received"] < evidence["value_reasonably_expected"]
    return json.dumps({"liable": short, "reason": "shortfall" if short else "none"})


def test_llm_judge_gets_one_batch_per_step_with_derived_seeds():
    court = {"kind": "court", "judge": "llm", "error_rate": 0.0, "damages_multiplier": 0.3}
    data = market([("literal", 2)], institutions=[court])
    client = FakeLLMClient(judge)
    result = run(data, llm=client)
    reference = run(market([("literal", 2)], institutions=[court | {"judge": "reasonable_expectations"}]))
    pd.testing.assert_frame_equal(result.model, reference.model)
    suits = result.events[result.events["kind"] == "lawsuit"]
    assert len(client.sent) == suits["step"].nunique()
    assert sum(len(b) for b in client.sent) == len(suits)
    first = client.sent[0][0]
    principal = first.tag["about"][0]
    assert first.tag["agent"] is None and first.tag["purpose"] == "verdict"
    assert first.seed == derive_seed(5, first.tag["step"], "verdict", "verdict", principal)
    assert first.seed != derive_seed(5, first.tag["step"], "sue", "decision", principal)  # not the suit's own seed
    assert first.schema["required"] == ["liable"]


def test_unreadable_llm_verdict_finds_for_the_defendant_and_is_counted():
    court = {"kind": "court", "judge": "llm", "error_rate": 0.0, "damages_multiplier": 0.3}
    result = run(market([("literal", 2)], institutions=[court]), llm=FakeLLMClient(lambda r: "guilty!"))
    assert result.summary["judge_invalid"] == result.summary["litigation_rate"] * result.model["uncovered_tasks"].sum()
    assert result.summary["damages_awarded"] == 0.0


# -- ratings --------------------------------------------------------------------------------------
def test_public_ratings_starve_the_literal_contractor_of_work():
    contractors = [("literal", 1), ("spirit", 1)]
    rated = run(market(contractors, steps=30, institutions=[{"kind": "ratings", "visibility": 1.0}]))
    unrated = run(market(contractors, steps=30, institutions=[{"kind": "ratings", "visibility": 0.0}]))
    late = lambda r: tasks_of(r).query("step > 15 and group == 'c0'")["tasks_done"].sum()  # noqa: E731
    assert late(rated) == 0
    assert rated.summary["gap_exploitation_rate"] < unrated.summary["gap_exploitation_rate"]


# -- relational contracts -------------------------------------------------------------------------
def relational(bonus: float, rule: str, steps: int = 120):
    """One principal, one literal contractor, every state uncovered, harm 5, δ = 0.8."""
    data = market([("literal", 1)], principals=1, steps=steps, completeness=0.0, harm=5.0,
                  institutions=[{"kind": "relational", "bonus": bonus, "delta": 0.8}], client={"bonus_rule": rule})
    return run(data)


def discounted_principal_payoff(result, delta: float = 0.8) -> float:
    rows = result.agents[result.agents["role"] == "principal"].sort_values("step")
    return float(np.sum(delta ** (rows["step"].to_numpy() - 1) * rows["specified_reward"].to_numpy()))


def test_theory_bound_for_this_market():
    # b <= δ/(1−δ)·(S_rel − S_fallback) = 4·(5 − b)  <=>  b <= 4
    assert relational_bonus_ceiling(0.8, 1.0, 5.0) == pytest.approx(4.0)


@pytest.mark.parametrize(("bonus", "keeping_pays"), [(3.9, True), (4.1, False)])
def test_keeping_the_promise_pays_exactly_within_the_relational_bound(bonus, keeping_pays):
    """Simulated discounted payoffs, not the formula: paying every time beats reneging iff b <= 4."""
    keep, renege = relational(bonus, "always"), relational(bonus, "never")
    assert (discounted_principal_payoff(keep) > discounted_principal_payoff(renege)) == keeping_pays
    # and the contractor honours while paid, exploits once betrayed
    assert keep.summary["gap_exploitation_rate"] == 0.0
    assert renege.model["exploited_gaps"].iloc[1:].eq(1).all()
    expected_gap = (-bonus + 0.8 * 5.0) / (1 - 0.8)  # −b/(1−δ) + δh/(1−δ)
    assert discounted_principal_payoff(keep) - discounted_principal_payoff(renege) == pytest.approx(expected_gap)


@pytest.mark.parametrize(("bonus", "paid"), [(3.9, True), (4.1, False)])
def test_rational_principal_honours_the_bonus_only_within_the_bound(bonus, paid):
    result = relational(bonus, "bound", steps=30)
    assert result.summary["bonus_within_limit"] == float(paid)
    assert (result.summary["renegings"] == 0) == paid
    assert result.summary["bonuses_paid"] == (30 if paid else 0)


def test_no_relational_incentive_below_the_contractors_saving():
    result = relational(2.0, "always", steps=10)  # bonus 2 < saving 3: the literal contractor exploits anyway
    assert result.summary["gap_exploitation_rate"] == 1.0
    assert result.summary["bonuses_paid"] == 0


@pytest.mark.parametrize("bonus", [6.5, 6.6])
def test_relational_scenario_limit_is_the_solved_bound(bonus):
    """contracts_relational.yaml: completeness 0.5, harm 8, δ 0.9 -> b <= 0.9·0.5·8 / (0.1 + 0.45) ≈ 6.545."""
    result = simulate(load_scenario("scenarios/contracts_relational.yaml", [f"institutions.0.bonus={bonus}"]),
                      progress=False)
    ceiling = relational_bonus_ceiling(0.9, 0.5, 8.0)
    assert ceiling == pytest.approx(36 / 5.5)
    assert result.summary["bonus_within_limit"] == float(bonus <= ceiling)
    assert (result.summary["renegings"] > 0) == (bonus > ceiling)


def schema_answer(request: ChatRequest) -> str:
    """A fake LLM that fills any schema: the first allowed choice, false, zeros, or the minimum list."""
    if request.schema is None:
        return "ok"
    definitions = request.schema.get("$defs", {})

    def value(spec: dict[str, Any]) -> Any:
        if "$ref" in spec:
            return value(definitions[spec["$ref"].split("/")[-1]])
        if "anyOf" in spec:
            return value(spec["anyOf"][0])
        if "enum" in spec:
            return spec["enum"][0]
        if "const" in spec:
            return spec["const"]
        kind = spec.get("type")
        if kind == "array":
            return [1.0] * spec.get("minItems", 1)
        return {"boolean": False, "integer": 0, "number": 0.0, "string": "", "null": None}.get(kind, "")

    return json.dumps({name: value(spec) for name, spec in request.schema.get("properties", {}).items()})


@pytest.mark.parametrize("path", ["scenarios/contracts.yaml", "scenarios/proxy_task.yaml"])
def test_llm_scenarios_run_end_to_end_on_a_fake_engine(path):
    first = simulate(load_scenario(path, ["steps=3"]), llm=FakeLLMClient(schema_answer), progress=False)
    second = simulate(load_scenario(path, ["steps=3"]), llm=FakeLLMClient(schema_answer), progress=False)
    pd.testing.assert_frame_equal(first.agents, second.agents)
    assert first.summary.get("llm_invalid_rate", 0.0) == 0.0
    assert len(first.model) == 3
