"""A constitution's effect: the institution's text in every prompt, and the effect table over a sweep's cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.analysis.effect import effect_table
from sim.cli import main
from sim.model import SocietyModel
from sim.scenario import scenario_from_dict
from sim.sweeps.api import sweep

ROOT = Path(__file__).resolve().parent.parent
CONSTITUTION_RULES = ROOT / "scenarios" / "constitution_rules.yaml"
TEXT = "No fisher takes more than their fair share."


def test_the_constitution_joins_the_rules_every_llm_agent_reads():
    data = {"name": "c", "steps": 1, "environment": {"kind": "commons"},
            "population": [{"name": "fishers", "count": 2, "policy": "llm"}],
            "institutions": [{"kind": "constitution", "text": TEXT, "title": "Our constitution"}]}
    model = SocietyModel(scenario_from_dict(data))
    assert model.briefing().endswith(f"Our constitution:\n{TEXT}")
    assert f"Our constitution:\n{TEXT}" in model.policies["fishers"].system_prompt()


@pytest.fixture(scope="module")
def effect(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("constitution") / "constitution_rules"
    sweep(CONSTITUTION_RULES, out=out, progress=False)
    return out, effect_table(out, bootstrap=200).set_index("treatment")


def test_a_constitution_cannot_move_agents_that_read_no_text(effect):
    # Same seeds in both arms and learners that never read the rules: the runs are identical.
    row = effect[1].loc["constitution"]
    assert (row["action"], row["distance"]) == ("contribute", "w1")
    assert row["value"] == 0.0 and row["ci_low"] == row["ci_high"] == 0.0
    assert row["p_value"] == 1.0


def test_a_fine_moves_the_learners_distribution_measurably(effect):
    row = effect[1].loc["fined"]
    assert row["value"] > 1.0  # tokens of contribution moved
    assert row["ci_low"] > 0.5
    # 6 paired seeds: 2^6 swaps enumerated; only the observed assignment and its mirror are as extreme.
    assert row["p_value"] == pytest.approx(2 / 64)


def test_report_effect_table(effect, capsys: pytest.CaptureFixture[str]):
    assert main(["report", str(effect[0]), "--table", "effect", "--bootstrap", "50"]) == 0
    out = capsys.readouterr().out
    assert "| constitution | without | contribute | Wasserstein-1 | 0 | [0, 0] | 1 | 6 vs 6 |" in out
    assert main(["report", str(effect[0]), "--table", "effect", "--baseline", "withuot"]) == 2
    assert "did you mean 'without'" in capsys.readouterr().err
