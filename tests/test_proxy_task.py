"""Proxy over-optimisation (Zhuang & Hadfield-Menell 2020) against the allocation the model implies.

A proxy optimiser walks in a straight line from the even split B/L towards the proxy optimum
(unrewarded attributes at min_level, the rest shared by the J rewarded ones), c = max_change·B units
per step, so after t steps s(t) = even + min(1, t·c/D)·(optimum − even) with D = ½|optimum − even|₁.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from sim.errors import UserError
from sim.runner import simulate
from sim.scenario import load_scenario, scenario_from_dict
from sim.theory.contracts import aligned_optimum, proxy_optimum, proxy_reward, true_utility

B, L, J = 12.0, 6, 2


def run(policy: str = "proxy_optimiser", steps: int = 10, **environment: Any):
    data = {
        "name": "test_proxy", "seed": 1, "steps": steps,
        "population": [{"count": 1, "policy": policy}],
        "environment": {"kind": "proxy_task", "attributes": L, "rewarded": J, "budget": B, **environment},
    }
    return simulate(scenario_from_dict(data), progress=False)


def theory_path(steps: int, max_change: float, min_level: float = 0.01, rewarded: int = J) -> list[np.ndarray]:
    even, optimum = aligned_optimum(B, L), proxy_optimum(B, L, rewarded, min_level)
    distance = 0.5 * np.abs(optimum - even).sum()
    return [even + min(1.0, t * max_change * B / distance) * (optimum - even) for t in range(1, steps + 1)]


@pytest.mark.parametrize("max_change", [0.05, 0.1, 0.3])
def test_optimiser_follows_the_theoretical_path(max_change):
    result = run(max_change=max_change)
    path = theory_path(10, max_change)
    assert np.allclose(result.model["proxy_reward"], [proxy_reward(s, J) for s in path])
    assert np.allclose(result.model["principal_utility"], [true_utility(s) for s in path])


def test_proxy_rises_while_true_utility_falls_below_the_aligned_optimum():
    model = run(max_change=0.1).model
    assert model["proxy_reward"].is_monotonic_increasing and model["proxy_reward"].iloc[-1] > model["proxy_reward"][0]
    assert model["principal_utility"].is_monotonic_decreasing
    optimum = proxy_optimum(B, L, J, 0.01)
    assert model["principal_utility"].iloc[-1] == pytest.approx(true_utility(optimum))
    assert true_utility(optimum) < true_utility(aligned_optimum(B, L)) == pytest.approx(L * np.log(B / L))


def test_more_optimisation_pressure_means_more_proxy_and_less_utility():
    after = {c: run(max_change=c, steps=3).model.iloc[-1] for c in (0.05, 0.1, 0.2)}
    proxies = [after[c]["proxy_reward"] for c in (0.05, 0.1, 0.2)]
    utilities = [after[c]["principal_utility"] for c in (0.05, 0.1, 0.2)]
    assert proxies == sorted(proxies) and len(set(proxies)) == 3
    assert utilities == sorted(utilities, reverse=True) and len(set(utilities)) == 3
    # at 0.1 three steps move 3.6 units: unrewarded 2 − 0.9 = 1.1 each, rewarded 2 + 1.8 = 3.8 each
    assert after[0.1]["principal_utility"] == pytest.approx(2 * np.log(3.8) + 4 * np.log(1.1))


def test_true_utility_has_no_lower_bound_as_the_floor_vanishes():
    finals = [run(max_change=1.0, steps=2, min_level=m).summary["final_principal_utility"] for m in (1e-2, 1e-4, 1e-8)]
    expected = [true_utility(proxy_optimum(B, L, J, m)) for m in (1e-2, 1e-4, 1e-8)]
    assert np.allclose(finals, expected)
    assert finals[0] > finals[1] > finals[2] < -70


def test_full_state_proxy_and_balanced_agents_stay_aligned():
    full = run(rewarded=L)
    assert np.allclose(full.model["principal_utility"], L * np.log(B / L))
    balanced = run(policy="balanced")
    assert balanced.summary["alignment_gap"] == pytest.approx(0.0)


def test_updating_the_proxy_keeps_utility_bounded():
    fixed = run(max_change=0.2, steps=30)
    rotating = run(max_change=0.2, steps=30, rotate_every=2)
    assert rotating.model["principal_utility"].min() > fixed.summary["final_principal_utility"] + 5


def test_specified_and_true_are_measured_from_the_even_split():
    result = run(max_change=0.1, steps=1)
    row = result.agents.iloc[0]
    s = theory_path(1, 0.1)[0]
    assert row["specified_reward"] == pytest.approx(proxy_reward(s, J) - J * B / L)
    assert row["true_utility"] == pytest.approx(true_utility(s) - L * np.log(B / L))


@pytest.mark.parametrize(("override", "message"), [
    ({"rewarded": 7}, "rewarded must not exceed attributes"),
    ({"min_level": 2.0}, "min_level"),
    ({"max_change": 0}, "max_change"),
])
def test_bad_values_are_validation_errors(override, message):
    with pytest.raises(UserError, match=message):
        run(**override)


def test_scenario_file_runs_and_repeats():
    scenario = load_scenario("scenarios/proxy_task_rules.yaml")
    first, second = simulate(scenario, progress=False), simulate(scenario, progress=False)
    pd.testing.assert_frame_equal(first.model, second.model)
    pd.testing.assert_frame_equal(first.agents, second.agents)
    assert first.summary["principal_utility_drop"] > 0
