"""The GovSim table in one command: sweep cases, the commons' metrics against the paper's definitions, the report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.analysis.govsim import PUBLISHED, govsim_table
from sim.cli import main
from sim.errors import UserError
from sim.metrics import gini
from sim.runner import simulate
from sim.sweeps.api import sweep
from sim.sweeps.plan import build_plan
from sim.sweeps.plots import bootstrap_interval
from sim.sweeps.source import ScenarioSource
from sim.sweeps.spec import SweepSpec
from tests.helpers import commons

ROOT = Path(__file__).resolve().parent.parent
GOVSIM_RULES = ROOT / "scenarios" / "govsim_rules.yaml"
GOVSIM = ROOT / "scenarios" / "govsim.yaml"


# -- the commons' metrics, by hand, against references.md --------------------------------------------------------
def test_metrics_follow_govsim_definitions_on_a_hand_computed_run():
    # Month 1: h = 100, f = 50, share 10; four take 10, the conditional fisher asks 20 (no rationing: 60 <= 100).
    # 40 remain and double: h(2) = 80, f = 40, share 8; the four take 8, the conditional one the mean of its
    # neighbours' last catches, 10 > 8.
    scenario = commons([("sustainable", 4), ("conditional", 1)], steps=2)
    scenario = scenario.model_copy(update={"population": [scenario.population[0], scenario.population[1].model_copy(
        update={"policy": scenario.population[1].policy.model_copy(update={"first": 20})})]})
    result = simulate(scenario, progress=False)
    assert result.model["stock"].tolist() == [80, 76]  # after each month: 40 x 2, then (80 - 42) x 2
    gains = [18.0] * 4 + [30.0]
    assert result.summary["survival_time"] == 2  # m = max{t | h(t) > 5}: h(1) = 100, h(2) = 80
    assert result.summary["survived"] == 1.0
    assert result.summary["gain"] == pytest.approx(np.mean(gains))  # R_i summed over months, mean over fishers
    # u = 1 - max(0, T f(0) - Σ R) / (T f(0)) with T f(0) = 2 x 50 = 100 < Σ R = 102: capped at 1.
    assert result.summary["efficiency"] == pytest.approx(1.0)
    assert result.summary["equality"] == pytest.approx(1 - gini(gains))
    assert result.summary["over_usage"] == pytest.approx(2 / 10)  # one action of five, in each month


# -- sweep cases ---------------------------------------------------------------------------------------------------
def test_cases_cross_the_grid_and_name_the_results_column():
    source = ScenarioSource.load(GOVSIM_RULES)
    spec = SweepSpec(cases={"a": {}, "b": {"talk.rounds": 0}}, grid={"environment.regrowth": [1.5, 2.0]},
                     replications=2)
    plan = build_plan(source, spec)
    assert plan.parameters == ["case", "environment.regrowth"]
    assert [(c.case, c.params["environment.regrowth"], c.replication) for c in plan.cells][:4] == [
        ("a", 1.5, 0), ("a", 1.5, 1), ("a", 2.0, 0), ("a", 2.0, 1)]
    assert len({c.cell_id for c in plan.cells}) == 8
    assert plan.cells[4].overrides() == ['talk.rounds=0', 'environment.regrowth=1.5']


def test_two_cases_with_the_same_values_are_still_two_runs():
    plan = build_plan(ScenarioSource.load(GOVSIM_RULES), SweepSpec(cases={"a": {}, "b": {}}))
    assert len({c.cell_id for c in plan.cells}) == 2


def test_a_case_that_also_varies_in_the_grid_is_refused():
    with pytest.raises(ValueError, match=r"case 'b' sets talk\.rounds, which the sweep also varies"):
        SweepSpec(cases={"b": {"talk.rounds": 0}}, grid={"talk.rounds": [0, 1]})


def test_a_bad_case_value_is_reported_with_its_case(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text(GOVSIM_RULES.read_text().replace("      talk.rounds: 0", "      talk.roundz: 0"))
    with pytest.raises(UserError, match=r"line \d+: sweep.cases 'no_communication'.*unknown key 'roundz'"):
        sweep(path, out=tmp_path / "out", progress=False)


# -- the table -----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def govsim_rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("govsim") / "govsim_rules"
    sweep(GOVSIM_RULES, replications=3, out=out, progress=False)
    return out


def test_the_table_has_one_row_per_case_then_the_published_rows(govsim_rules: Path):
    table = govsim_table(govsim_rules)
    measured = table[~table["model"].str.endswith("(published)")]
    assert measured["case"].tolist() == ["default", "universalization", "no_communication", "newcomer"]
    assert set(measured["model"]) == {"rules: sustainable+conditional+random"}  # the newcomer is a treatment
    assert measured["runs"].tolist() == [3, 3, 3, 3]
    published = table[table["model"].str.endswith("(published)")].set_index("model")
    assert published.loc["GPT-4o (published)", "survival rate %"] == PUBLISHED["GPT-4o"][0] == 53.3
    assert published["survival time low"].isna().all()


def test_table_cells_are_means_and_bootstrap_intervals_of_the_runs_in_percent(govsim_rules: Path):
    results = pd.read_parquet(govsim_rules / "results.parquet")
    newcomer = results[results["case"] == "newcomer"]
    table = govsim_table(govsim_rules)
    by_case = table[~table["model"].str.endswith("(published)")].set_index("case")
    row = by_case.loc["newcomer"]
    assert row["over-usage %"] == pytest.approx(100 * newcomer["over_usage"].mean())
    low, high = bootstrap_interval(newcomer["gain"].to_numpy())
    assert (row["gain low"], row["gain high"]) == pytest.approx((low, high))
    assert row["gain low"] <= row["gain"] <= row["gain high"]
    default = by_case.loc["default"]
    # Rule-based fishers: the lake survives by default; the greedy newcomer of month 4 collapses it that month.
    assert default["survival rate %"] == 100.0 and row["survival rate %"] == 0.0
    assert row["survival time"] == 4.0


def test_report_command_prints_the_table_and_writes_csv(govsim_rules: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]):
    assert main(["report", str(govsim_rules), "--table", "govsim", "--csv", str(tmp_path / "t.csv")]) == 0
    out = capsys.readouterr().out
    assert "| model | case | runs | survival rate % | survival time | gain | efficiency % | equality % | " \
           "over-usage % |" in out
    assert "| GPT-4o (published) | default | 15 | 53.3 | 9.3 | 66.0 | 55.0 | 94.4 | 10.8 |" in out
    assert "| rules: sustainable+conditional+random | newcomer | 3 | 0.0 [0.0, 0.0] | 4.0 [4.0, 4.0] |" in out
    assert len(pd.read_csv(tmp_path / "t.csv")) == 4 + 3
    assert f"figure: {govsim_rules / 'plots' / 'report_govsim.png'}" in out
    assert (govsim_rules / "plots" / "report_govsim.png").stat().st_size > 10_000
    assert not list((govsim_rules / "plots").glob(".*"))  # written beside and renamed: nothing half-written left


def test_report_on_something_else_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["report", str(tmp_path), "--table", "govsim"]) == 2
    assert "no sweep results" in capsys.readouterr().err


def test_the_llm_sweep_runs_the_four_conditions():
    plan = build_plan(ScenarioSource.load(GOVSIM), ScenarioSource.load(GOVSIM).base().sweep)
    scenarios = {c.case: plan.scenario_of(c) for c in plan.cells}
    assert list(scenarios) == ["default", "universalization", "no_communication", "newcomer"]
    assert scenarios["universalization"].population[0].policy.universalization is True
    assert scenarios["no_communication"].talk.rounds == 0
    newcomer = scenarios["newcomer"].population[1]
    assert (newcomer.policy.kind, newcomer.join_step) == ("greedy", 4)
    assert scenarios["default"].population[0].policy.kind == "llm" and len(plan.cells) == 4 * 5
