"""`alignsim validate` warns when an institution can change no one's decision."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sim.cli import main
from sim.reach import institution_warnings
from sim.scenario import load_scenario, scenario_from_dict

SCENARIOS = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.yaml"))
QUOTA = {"name": "quota", "text": "Catch at most 10 tons a month.", "field": "fish", "op": "<=", "value": 10}


def commons(policies: list[str], institutions: list[dict]) -> dict:
    return {"name": "reach", "steps": 3, "environment": {"kind": "commons"}, "institutions": institutions,
            "population": [{"name": f"g{i}", "count": 2, "policy": p} for i, p in enumerate(policies)]}


def test_rules_only_fixed_rule_fishers_live_under_reach_no_one():
    warnings = institution_warnings(scenario_from_dict(commons(
        ["greedy", "sustainable"], [{"kind": "norms", "rules": [QUOTA]}, {"kind": "sanctions", "fine": 5}])))
    assert any(w.startswith("institutions.0 (norms): no group's decisions can depend on it") for w in warnings)
    assert any(w.startswith("institutions.1 (sanctions): no group decides its 'sanction' phase") for w in warnings)
    assert len(warnings) == 3  # norms and sanctions reach no one; nobody punishes


def test_a_best_responder_reads_fines_and_monitoring_but_not_a_text_only_rule():
    institutions = [{"kind": "norms", "rules": [QUOTA]}, {"kind": "monitoring", "probability": 0.5},
                    {"kind": "sanctions", "peer": False, "fine": 5}]
    assert institution_warnings(scenario_from_dict(commons(["best_response", "greedy"], institutions))) == []


def test_monitoring_that_never_observes_and_sanctions_that_do_nothing_are_named():
    institutions = [{"kind": "norms", "rules": [QUOTA]}, {"kind": "monitoring", "probability": 0.0},
                    {"kind": "sanctions", "peer": False, "fine": 0}]
    warnings = institution_warnings(scenario_from_dict(commons(["best_response"], institutions)))
    assert warnings == [
        "institutions.1 (monitoring): probability 0, so no act is ever observed: nothing is detected, fined or "
        "recorded",
        "institutions.2 (sanctions): peer punishment is off and the fine is 0, so it sanctions nothing",
    ]


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_shipped_scenarios_raise_no_warning(path: Path):
    assert institution_warnings(load_scenario(path)) == []


def test_validate_prints_warnings_and_still_succeeds(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "inert.yaml"
    path.write_text(yaml.safe_dump(commons(["greedy"], [{"kind": "norms", "rules": [QUOTA]}])))
    assert main(["validate", str(path)]) == 0
    captured = capsys.readouterr()
    assert "valid" in captured.out
    assert "alignsim: warning: institutions.0 (norms): no group's decisions can depend on it (g0 (greedy) " \
           "ignore it)" in captured.err


def test_a_constitution_reaches_only_agents_that_read_text():
    def society(policy: str) -> dict:
        return {"name": "c", "steps": 2, "environment": {"kind": "public_goods"},
                "population": [{"name": "members", "count": 4, "policy": policy}],
                "institutions": [{"kind": "constitution", "text": "Take no more than your share."}]}

    assert institution_warnings(scenario_from_dict(society("roth_erev"))) == [
        "institutions.0 (constitution): no group's decisions can depend on it (members (roth_erev) ignore it); "
        "it may still move payoffs, but it cannot change behaviour"]
    assert institution_warnings(scenario_from_dict(society("llm"))) == []
