"""Amendments without a browser: each moves the metric it should, from the step it names; bad ones change nothing;
a run's amendments.yaml replays to the same tables."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from sim.amendments import Amendment, dump_amendments, load_amendments
from sim.cli import main
from sim.errors import UserError
from sim.model import SocietyModel
from sim.runner import simulate
from sim.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def scenario(name: str, *overrides: str):
    return load_scenario(SCENARIOS / f"{name}.yaml", list(overrides))


def rows_from(table: pd.DataFrame, step: int) -> pd.DataFrame:
    return table[table["step"] >= step].reset_index(drop=True)


def test_tax_rate_from_step_4_trades_the_social_optimum_from_then_on() -> None:
    """At the Pigouvian rate (25, the marginal damage) truthful traders trade 4 units, not 5 (docs/markets.md)."""
    amended = simulate(scenario("market_rules"), progress=False,
                       amendments=[Amendment(step=4, target="tax", set={"rate": 25})])
    taxed = simulate(scenario("market_rules", "institutions.0.rate=25"), progress=False)
    untaxed = simulate(scenario("market_rules"), progress=False)
    model = amended.model
    assert list(model["quantity"]) == [5, 5, 5] + [4] * 7
    assert list(model["tax_rate"]) == [0] * 3 + [25] * 7
    per_step = [c for c in model.columns if c != "gini"]  # gini is of cumulative payoffs
    pd.testing.assert_frame_equal(rows_from(model, 4)[per_step], rows_from(taxed.model, 4)[per_step])
    pd.testing.assert_frame_equal(model[model["step"] < 4], untaxed.model[untaxed.model["step"] < 4])
    events = amended.events[amended.events["kind"] == "amendment"]
    assert events[["step", "detail"]].values.tolist() == [[4, "user: tax.rate 0 -> 25"]]
    assert amended.amendments[0].old == {"rate": 0.0}


def test_sanction_cost_per_point_is_what_punishers_pay_from_the_amended_step() -> None:
    amended = simulate(scenario("public_goods_rules"), progress=False, amendments=[
        Amendment(step=3, target="sanctions", set={"schedule": "linear", "cost_per_point": 2.5})])
    later = rows_from(amended.model, 3)
    assert later["sanction_points"].sum() > 0
    assert list(later["punishment_cost"]) == list(2.5 * later["sanction_points"])
    fehr_gachter = amended.model[amended.model["step"] < 3]
    assert list(fehr_gachter["punishment_cost"]) == [20.0, 12.0]  # the convex schedule before it


def test_monitoring_probability_zero_means_nothing_detected_nor_sanctioned() -> None:
    base = simulate(scenario("norms_rules"), progress=False)
    amended = simulate(scenario("norms_rules"), progress=False,
                       amendments=[Amendment(step=4, target="monitoring", set={"probability": 0.0})])
    assert rows_from(base.model, 4)["detected"].sum() > 0
    later = rows_from(amended.model, 4)
    assert later["violations"].sum() > 0
    assert later["detected"].sum() == 0 and later["sanction_points"].sum() == 0 and later["fines"].sum() == 0


def test_full_contract_completeness_leaves_no_uncovered_task() -> None:
    base = simulate(scenario("contracts_rules"), progress=False)
    amended = simulate(scenario("contracts_rules"), progress=False,
                       amendments=[Amendment(step=8, target="environment", set={"completeness": 1.0})])
    assert rows_from(base.model, 8)["uncovered_tasks"].sum() > 0
    assert rows_from(amended.model, 8)["uncovered_tasks"].sum() == 0
    assert amended.model[amended.model["step"] < 8].equals(base.model[base.model["step"] < 8])


def test_market_schedules_follow_an_amended_demand_curve() -> None:
    """The market derives buyers' values from its parameters in `configure`: an amendment must reach them."""
    model = SocietyModel(scenario("market_rules"))
    model.step()
    model.amendments.apply(Amendment(step=2, target="environment", set={"demand_intercept": 200}))
    assert max(model.environment.value.values()) == 200
    model.step()
    assert model.datacollector.get_model_vars_dataframe()["quantity"].tolist() == [5, 6]


@pytest.mark.parametrize(("amendment", "message"), [
    (Amendment(step=2, target="tax", set={"rate": -1}), "institutions[0].rate: Input should be greater than or "
                                                         "equal to 0"),
    (Amendment(step=2, target="tax", set={"rat": 1}), "unknown key 'rat' (did you mean 'rate'?)"),
    (Amendment(step=2, target="taxes", set={"rate": 1}), "no institution 'taxes' in force (did you mean 'tax'?)"),
    (Amendment(step=2, target="quota", add={"cap": 4}, at=3), "at 3 is past the end of the 1 institutions"),
    (Amendment(step=2, target="court", add={}), "'court' works with environment 'principal_agent', not 'market'"),
    (Amendment(step=2, target="tax", set={"rate": math.inf}), "institutions[0].rate: Input should be a finite number"),
    (Amendment(step=2, target="tax", set={"rate": -math.inf}), "institutions[0].rate: Input should be a finite number"),
    (Amendment(step=2, target="tax", set={"rate": math.nan}), "institutions[0].rate: Input should be a finite number"),
])
def test_a_bad_amendment_is_a_message_and_changes_nothing(amendment: Amendment, message: str) -> None:
    model = SocietyModel(scenario("market_rules"))
    model.step()
    before = (model.spec, [i.params for i in model.institutions], list(model.institutions))
    with pytest.raises(UserError) as error:
        model.amendments.apply(amendment)
    assert message in str(error.value)
    assert (model.spec, [i.params for i in model.institutions], list(model.institutions)) == before
    assert model.amendments.applied == [] and not [e for e in model.events if e.kind == "amendment"]
    model.step()
    assert model.datacollector.get_model_vars_dataframe()["quantity"].tolist() == [5, 5]


def test_removing_a_stage_another_needs_is_refused_and_rolled_back() -> None:
    model = SocietyModel(scenario("norms_rules"))
    model.step()
    with pytest.raises(UserError, match="'monitoring' needs a 'norms' institution listed before it"):
        model.amendments.apply(Amendment(step=2, target="norms", remove=True))
    assert [i.kind for i in model.institutions] == ["norms", "monitoring", "classification", "sanctions",
                                                    "reputation"]
    assert model.institutions[3].norms is model.institutions[0]  # configure re-ran on the restored list
    model.step()


def test_remove_then_add_an_institution() -> None:
    amended = simulate(scenario("market_rules"), progress=False, amendments=[
        Amendment(step=3, target="tax", remove=True),
        Amendment(step=6, target="quota", add={"cap": 4}),
    ])
    model = amended.model
    assert model["tax_rate"][:2].tolist() == [0, 0] and model["tax_rate"][2:].isna().all()
    assert model["quota_cap"][:5].isna().all() and model["quota_cap"][5:].tolist() == [4] * 5
    assert model["quantity"].tolist() == [5] * 5 + [4] * 5
    assert [a.describe() for a in amended.amendments] == ["removed tax", "added quota (cap=4)"]


def test_a_norms_text_is_what_agents_read_next_step() -> None:
    model = SocietyModel(scenario("norms_rules"))
    model.step()
    applied = model.amendments.apply(Amendment(step=2, target="norms", set={"rules.1.text": "Wear a red hat."}))
    assert applied.old == {"rules.1.text": "Wear a hat."}
    assert "- Wear a red hat." in model.briefing() and "- Wear a hat." not in model.briefing()
    assert model.act_schema(model.active_agents()[0]).model_fields["wear_hat"].description == "Wear a red hat."


@pytest.mark.slow
def test_amendments_file_round_trip_and_replay_from_the_cli(tmp_path: Path) -> None:
    """Amend a run live (between steps, as the dashboard does), save, replay from the CLI: the same tables."""
    model = SocietyModel(scenario("norms_rules"), seed=9)
    applied = []
    for step in range(1, 11):
        if step == 3:
            applied.append(model.amendments.apply(Amendment(step=3, target="monitoring", set={"probability": 1.0})))
        if step == 6:
            applied.append(model.amendments.apply(Amendment(step=6, target="sanctions", set={"fine": 5})))
            applied.append(model.amendments.apply(Amendment(step=6, target="reputation", remove=True)))
        model.step()
    text = dump_amendments(applied, "norms_rules", 9)
    (tmp_path / "amendments.yaml").write_text(text)
    assert load_amendments(tmp_path / "amendments.yaml") == applied
    live = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)

    out = tmp_path / "replay"
    code = main(["run", str(SCENARIOS / "norms_rules.yaml"), "--seed", "9", "--amendments",
                 str(tmp_path / "amendments.yaml"), "--out", str(out), "-q"])
    assert code == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out / "model.parquet"), live)
    assert load_amendments(out / "amendments.yaml") == applied
    again = tmp_path / "again"
    assert main(["run", str(SCENARIOS / "norms_rules.yaml"), "--seed", "9", "--amendments",
                 str(out / "amendments.yaml"), "--out", str(again), "-q"]) == 0
    for table in ("model", "agents", "events"):
        pd.testing.assert_frame_equal(pd.read_parquet(out / f"{table}.parquet"),
                                      pd.read_parquet(again / f"{table}.parquet"))


def test_replay_against_another_run_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(dump_amendments([Amendment(step=2, target="tax", set={"rate": 5}, old={"rate": 0.0})]))
    code = main(["run", str(SCENARIOS / "market_rules.yaml"), "--set", "institutions.0.rate=1", "--amendments",
                 str(path), "--out", str(tmp_path / "r"), "-q"])
    assert code == 2
    assert "tax.rate is 1 in this run, but the amended run had 0" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(("text", "message"), [
    ("amendments:\n- {step: 0, target: tax, set: {rate: 1}}\n", "line 2: amendments[0].step: Input should be "
                                                                  "greater than or equal to 1"),
    ("amendments:\n- {step: 2, target: tax}\n", "exactly one change"),
    ("- {step: 2, target: tax, set: {rate: 1}, sett: 1}\n", "unknown key 'sett'"),
    ("amendments: [\n", "invalid YAML"),
    ("amendments: []\namendments: []\n", "'amendments' appears twice"),
])
def test_a_bad_amendments_file_exits_2_naming_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str,
) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(text)
    code = main(["run", str(SCENARIOS / "market_rules.yaml"), "--amendments", str(path),
                 "--out", str(tmp_path / "r"), "-q"])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_amended_runs_are_reproducible_bit_for_bit() -> None:
    amendments = [Amendment(step=2, target="monitoring", set={"probability": 0.9}),
                  Amendment(step=5, target="classification", set={"error": 0.3})]
    first = simulate(scenario("norms_rules"), progress=False, amendments=amendments)
    second = simulate(scenario("norms_rules"), progress=False, amendments=amendments)
    for a, b in ((first.model, second.model), (first.agents, second.agents), (first.events, second.events)):
        pd.testing.assert_frame_equal(a, b)
    assert not math.isnan(first.summary["detection_rate"])


def test_an_amendment_past_the_last_step_is_refused_naming_it_and_the_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was never applied, and the run exited 0 as if it had been."""
    path = tmp_path / "a.yaml"
    path.write_text(dump_amendments([Amendment(step=5, target="tax", set={"rate": 1}),
                                     Amendment(step=6, target="tax", set={"rate": 2})]))
    code = main(["run", str(SCENARIOS / "market_rules.yaml"), "--set", "steps=5", "--amendments", str(path),
                 "--out", str(tmp_path / "r"), "-q"])
    assert code == 2
    assert (f"alignsim: error: {path}: amendment 2 at step 6 (tax.rate = 2): past the run's last step, 5 (its steps "
            "run from 1 to 5)") in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    late = Amendment(step=11, target="tax", set={"rate": 1})
    with pytest.raises(UserError, match=r"^amendments: amendment 1 at step 11 \(tax\.rate = 1\): past the run's last "
                                        r"step, 10"):
        SocietyModel(scenario("market_rules"), amendments=[late])  # simulate, notebooks and the dashboard
    last = simulate(scenario("market_rules"), progress=False, amendments=[late.model_copy(update={"step": 10})])
    assert [a.step for a in last.amendments] == [10]  # the last step itself is in range


def test_a_run_that_ends_before_its_amendments_steps_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """The greedy fisher empties the lake in month 1, so an amendment of month 3 never comes into force."""
    path = tmp_path / "a.yaml"
    path.write_text(dump_amendments([Amendment(step=3, target="environment", set={"regrowth": 1.5})]))
    assert main(["run", str(SCENARIOS / "commons_rules.yaml"), "--amendments", str(path),
                 "--out", str(tmp_path / "r"), "-q"]) == 0
    err = capsys.readouterr().err
    assert ("alignsim: warning: 1 of the 1 amendments were not applied: the run ended at step 1, before their steps"
            in err)
    assert not (tmp_path / "r" / "amendments.yaml").exists()
