"""Value drift: society's weighted utility, the specification the workers are paid by, and the three ways to
keep one in line with the other. Theory: a worker that follows the specification leaves a gap of
−W·KL(w‖r); with no drift a specification that starts right is optimal; a designer's update closes the gap."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from sim.errors import UserError
from sim.runner import simulate
from sim.scenario import load_scenario, scenario_from_dict
from sim.theory.contracts import value_misfit, weighted_optimum, weighted_utility

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "value_drift_rules.yaml"
FIXED, DESIGNER = "institutions=[]", "institutions=[{kind: designer, every: 8}]"
NO_DRIFT = ["environment.drift=[]", "environment.drift_sd=0"]


def result(*overrides: str):
    return simulate(load_scenario(SCENARIO, list(overrides)), progress=False)


def test_the_weighted_optimum_meets_the_kkt_conditions():
    w = np.array([2.0, 1.0, 0.5, 0.5])
    assert weighted_optimum(w, 12, 0.05) == pytest.approx(12 * w / w.sum())
    s = weighted_optimum(np.array([4.0, 1.0, 0.01, 0.0]), 12, 0.5)
    assert s.sum() == pytest.approx(12) and s.min() >= 0.5 - 1e-12
    free = s > 0.5 + 1e-9
    ratios = np.array([4.0, 1.0, 0.01, 0.0])[free] / s[free]
    assert ratios == pytest.approx(np.full(free.sum(), ratios[0]))  # equal marginal utility where free
    assert (np.array([0.01, 0.0]) / 0.5 <= ratios[0]).all()  # and no more at the floor
    grid = [np.array([a, b, 12 - a - b - 0.5, 0.5]) for a in np.linspace(0.5, 11, 40)
            for b in np.linspace(0.5, 11, 40) if 12 - a - b - 0.5 >= 0.5]
    best = max(weighted_utility(g, np.array([4.0, 1.0, 0.01, 0.0])) for g in grid)
    assert weighted_utility(s, np.array([4.0, 1.0, 0.01, 0.0])) >= best - 1e-9


def test_the_misfit_is_society_times_the_kl_divergence_of_its_values_from_the_specification():
    w, r = np.array([2.0, 1.0, 0.5, 0.5]), np.ones(4)
    q, p = w / w.sum(), r / r.sum()
    assert value_misfit(w, r, 12, 0.01) == pytest.approx(w.sum() * np.sum(q * np.log(q / p)))
    assert value_misfit(w, 3 * w, 12, 0.01) == pytest.approx(0, abs=1e-12)  # only the proportions matter


def test_without_drift_the_fixed_specification_is_optimal():
    fixed, designer, assembly = result(FIXED, *NO_DRIFT), result(DESIGNER, *NO_DRIFT), result(*NO_DRIFT)
    assert fixed.model["alignment_gap"].abs().max() < 1e-9
    assert designer.model["alignment_gap"].abs().max() < 1e-9  # it surveys values equal to what it wrote
    assert assembly.summary["alignment_gap"] <= fixed.summary["alignment_gap"] + 1e-9
    assert assembly.summary["assembly_meetings"] == 12


def test_a_fixed_specification_pays_for_what_society_stopped_valuing():
    table = result(FIXED, "environment.drift_sd=0").model
    settled = table[table["step"].between(10, 12)]  # shifted at 7, the workers long since at s*_r
    w = np.array([2, 1, 0.5, 0.5])
    assert settled["value_misfit"].tolist() == pytest.approx([value_misfit(w, np.ones(4), 12, 0.05)] * 3)
    assert settled["alignment_gap"].tolist() == pytest.approx((-4 * settled["value_misfit"]).tolist())  # 4 workers
    assert (table.loc[table["step"] < 7, "alignment_gap"] == 0).all()


def test_a_designer_closes_the_gap_at_each_update_and_only_then():
    table = result(DESIGNER, "environment.drift_sd=0").model.set_index("step")
    assert table.loc[9, [f"spec_{i}" for i in range(4)]].tolist() == [2, 1, 0.5, 0.5]  # surveyed at step 8
    assert table.loc[8, "value_misfit"] > 0 and table.loc[9, "value_misfit"] == pytest.approx(0, abs=1e-12)
    assert table.loc[13, "value_misfit"] > 0  # values moved on at 13; the next survey is at 16
    assert table.loc[17, "value_misfit"] == pytest.approx(0, abs=1e-12)


def test_under_drift_participation_and_updates_beat_a_fixed_specification():
    gaps = {name: result(*overrides).summary["alignment_gap"]
            for name, overrides in {"fixed": [FIXED], "designer": [DESIGNER], "assembly": []}.items()}
    assert gaps["fixed"] < gaps["designer"] < gaps["assembly"] < 0


def test_citizens_hold_society_values_on_average_and_abstain_from_the_work():
    run = result(*NO_DRIFT, "environment.value_spread=0.5")
    environment = run.environment
    citizens = sorted(environment.offsets)
    own = np.array([environment.citizen_values(a) for a in citizens])
    assert own.min() > 0 and own.std(axis=0).min() > 0.2  # they differ, and none is clipped at 0
    assert own.mean(axis=0) == pytest.approx(environment.society_values())
    assert (run.agents[run.agents["agent_id"].isin(citizens)][["specified_reward", "true_utility"]] == 0).all().all()


def test_value_drift_parameters_are_checked():
    base = {"name": "v", "steps": 1, "population": [{"name": "w", "count": 1, "policy": "spec_optimiser"}]}
    for environment, message in [
        ({"values": [1, 1, 1]}, "values: 3 weights for 4 attributes"),
        ({"specification": [0, 0, 0, 0]}, "not all 0"),
        ({"drift": [{"step": 5, "values": [1, 1, 1, 1]}, {"step": 3, "values": [1, 1, 1, 1]}]}, "must increase"),
    ]:
        with pytest.raises(UserError, match=message):
            scenario_from_dict({**base, "environment": {"kind": "value_drift", **environment}})
    with pytest.raises(UserError, match=r"environment\.citizens: no population group named citizen"):
        scenario_from_dict({**base, "environment": {"kind": "value_drift", "citizens": ["citizen"]}})


def test_the_headline_shows_values_against_the_specification_and_each_amendment():
    run = result()
    fig = run.headline()
    top, bottom = fig.axes
    assert len(top.get_lines()) == 8  # society's and the specification's weight on each of 4 attributes
    (markers,) = top.collections
    amendments = run.events[run.events["kind"] == "amendment"]
    assert len(markers.get_offsets()) == len(amendments) == run.summary["assembly_amendments"]
    assert [t.get_text() for t in top.get_legend().get_texts()][:2] == ["society's values", "the specification"]
    assert bottom.get_lines()[0].get_ydata()[-1] == pytest.approx(run.summary["alignment_gap"])
    plt.close(fig)
