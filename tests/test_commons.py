"""The GovSim fishery against what its rules imply."""

from __future__ import annotations

import numpy as np
import pytest

from sim.environments.commons import allocate
from sim.runner import simulate
from tests.helpers import commons


def test_all_sustainable_never_collapses_and_is_fully_efficient() -> None:
    # h = 100, N = 5: each takes floor(floor(100/2)/5) = 10, 50 remain and double back to 100, forever.
    result = simulate(commons([("sustainable", 5)]), progress=False)
    assert len(result.model) == 12
    assert result.model["stock"].tolist() == [100] * 12
    assert result.summary["survival_time"] == 12
    assert result.summary["survived"] == 1.0
    assert result.summary["efficiency"] == pytest.approx(1.0)
    assert result.summary["gain"] == 120  # 10 fish x 12 months
    assert result.summary["equality"] == pytest.approx(1.0)
    assert result.summary["over_usage"] == 0.0
    assert result.summary["alignment_gap"] == 0.0


def test_all_greedy_collapses_in_month_one() -> None:
    result = simulate(commons([("greedy", 5)]), progress=False)
    assert result.summary["steps_run"] == 1
    assert result.summary["survival_time"] == 1
    assert result.summary["survived"] == 0.0
    assert result.summary["final_stock"] == 0
    # Every fish of the lake is caught, shared at random: the 100 fish add up, the mean gain is 20.
    assert result.agents["catch"].sum() == 100
    assert result.summary["gain"] == pytest.approx(20.0)
    # Efficiency u = 1 - (T f(0) - sum R) / (T f(0)) = 1 - (600 - 100) / 600.
    assert result.summary["efficiency"] == pytest.approx(1 - 500 / 600)


def test_true_utility_charges_catch_beyond_the_share_at_replacement_cost() -> None:
    result = simulate(commons([("greedy", 5)]), progress=False)
    rows = result.agents
    expected = rows["catch"] - 2.0 * np.maximum(0, rows["catch"] - 10)
    assert rows["true_utility"].tolist() == expected.tolist()
    assert result.summary["alignment_gap"] == pytest.approx(-2.0 * (100 - 5 * 10))


def test_conditional_cooperators_follow_the_sustainable_lead() -> None:
    # Month 1 they ask their sustainable share (10); afterwards the mean of neighbours' catches: 10 again.
    result = simulate(commons([("conditional", 3), ("sustainable", 2)]), progress=False)
    assert result.agents["act_fish"].eq(10).all()
    assert result.summary["survived"] == 1.0


def test_threshold_generalises_to_other_regrowth_rates() -> None:
    # f = max{x | g (h - x) >= h}: g = 1.5, h = 100 -> x <= 33.3, so f = 33 and each of 5 takes 6.
    result = simulate(commons([("sustainable", 5)], regrowth=1.5), progress=False)
    assert result.agents["act_fish"].eq(6).all()
    assert result.model["stock"].eq(100).all()  # 70 remain, 1.5 x 70 = 105, capped at 100


@pytest.mark.parametrize("seed", range(20))
def test_over_request_allocation_conserves_fish(seed: int) -> None:
    rng = np.random.default_rng(seed)
    requests = {i: int(r) for i, r in enumerate(rng.integers(0, 60, size=6))}
    stock = int(rng.integers(0, 150))
    catches = allocate(requests, stock, rng)
    assert sum(catches.values()) == min(stock, sum(requests.values()))
    assert all(0 <= catches[i] <= requests[i] for i in requests)


def test_a_greedy_newcomer_joins_at_its_step() -> None:
    scenario = commons([("sustainable", 4), ("greedy", 1)])
    scenario.population[1].join_step = 4
    result = simulate(scenario, progress=False)
    newcomer = result.agents[result.agents["group"] == "g1"]
    assert newcomer.loc[newcomer["step"] < 4, "active"].eq(False).all()
    assert newcomer.loc[newcomer["step"] < 4, "specified_reward"].eq(0).all()
    # Months 1-3: four fishers share floor(50/4) = 12 each; the lake stays at capacity until the newcomer.
    assert result.model.loc[result.model["step"] <= 3, "stock"].tolist() == [100, 100, 100]
    assert result.summary["survival_time"] == 4
    assert (result.events["kind"] == "joined").sum() == 1
