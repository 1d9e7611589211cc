"""The oligopoly and its Q-learning firms against the theory: Calvano, Calzolari, Denicolò & Pastorello (2020).

The paper's baseline market (n = 2, c = 1, a = 2, a0 = 0, μ = 1/4) has the one-shot Nash price p_N ≈ 1.473 and the
joint-profit price p_M ≈ 1.925 (its Section I.B), profits π_N ≈ 0.223 and π_M ≈ 0.337; the price grid has 15
points from p_N − 0.1(p_M − p_N) to p_M + 0.1(p_M − p_N). The learners here train with β = 2e-5 instead of 4e-6
(five times faster exploration decay: ~0.4 million periods instead of ~2 to converge), which keeps every run a
second or two; the full baseline is in docs/experiments.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sim.runner import simulate
from sim.scenario import scenario_from_dict
from sim.theory.oligopoly import GridGame, LogitDemand, Oligopoly, profile_index, profiles
from sim.theory.qlearning import QLearners, initial_q, state_table

BASELINE = Oligopoly(LogitDemand((2.0, 2.0), (1.0, 1.0), mu=0.25, outside=0.0))
FAST = {"kind": "q_learning", "beta": 2e-5}


def oligopoly(count: int = 8, steps: int = 12, policy: Any = FAST, institutions: list | None = None,
              seed: int = 5, **environment: Any) -> dict[str, Any]:
    return {"name": "test_oligopoly", "seed": seed, "steps": steps,
            "population": [{"name": "firms", "count": count, "policy": policy}],
            "environment": {"kind": "oligopoly", **environment}, "institutions": institutions or []}


def run(data: dict[str, Any], llm: Any = None):
    return simulate(scenario_from_dict(data), llm=llm, progress=False)


# -- the market's theory ------------------------------------------------------------------------------
def test_nash_and_monopoly_prices_are_the_papers():
    assert BASELINE.nash_prices == pytest.approx([1.473, 1.473], abs=5e-4)
    assert BASELINE.monopoly_prices == pytest.approx([1.925, 1.925], abs=5e-4)
    assert BASELINE.nash_profits == pytest.approx([0.2229, 0.2229], abs=1e-4)
    assert BASELINE.monopoly_profits == pytest.approx([0.3375, 0.3375], abs=1e-4)
    assert BASELINE.profit_gain(BASELINE.nash_profits) == pytest.approx([0, 0])
    assert BASELINE.profit_gain(BASELINE.monopoly_profits) == pytest.approx([1, 1])


def test_nash_is_a_best_response_and_monopoly_maximises_joint_profit():
    d, p_n, p_m = BASELINE.demand, BASELINE.nash_prices, BASELINE.monopoly_prices
    own = np.linspace(1.0, 2.5, 3001)
    deviations = d.profits(np.column_stack([own, np.full_like(own, p_n[1])]))[:, 0]
    assert deviations.max() <= d.profits(p_n)[0] + 1e-9
    assert own[deviations.argmax()] == pytest.approx(p_n[0], abs=1e-3)
    shifted = p_m + np.array([[0.01, 0.0], [-0.01, 0.0], [0.01, 0.01], [-0.01, -0.01], [0.01, -0.01]])
    assert np.all(d.profits(shifted).sum(axis=1) < d.profits(p_m).sum())


def test_the_grid_spans_nash_and_monopoly_with_margin_xi_and_misses_both():
    grid = BASELINE.grid(15, 0.1)
    span = 1.925 - 1.473
    assert grid[0, 0] == pytest.approx(1.473 - 0.1 * span, abs=1e-3)
    assert grid[0, -1] == pytest.approx(1.925 + 0.1 * span, abs=1e-3)
    assert np.allclose(np.diff(grid[0]), 1.2 * span / 14, atol=1e-4)
    assert np.abs(grid[0] - 1.473).min() > 1e-3  # the Nash price itself is not on the paper's grid


def test_consumer_surplus_is_the_logit_inclusive_value():
    """Roy's identity: raising p_i by dp costs consumers q_i·dp."""
    d, p, h = BASELINE.demand, np.array([1.6, 1.7]), 1e-6
    for i in range(2):
        bumped = p.copy()
        bumped[i] += h
        assert (d.consumer_surplus(bumped) - d.consumer_surplus(p)) / h == pytest.approx(-d.quantities(p)[i], rel=1e-4)
    assert d.consumer_surplus(np.array([50.0, 50.0])) == pytest.approx(0, abs=1e-9)


def test_cournot_inverts_demand_and_its_equilibrium_lies_between_bertrand_and_monopoly():
    cournot = Oligopoly(BASELINE.demand, "cournot")
    p = np.array([1.6, 1.8])
    assert cournot.prices(BASELINE.demand.quantities(p)) == pytest.approx(p)
    x = cournot.nash
    own = np.linspace(0.2, 0.55, 3501)
    deviations = cournot.profits(np.column_stack([own, np.full_like(own, x[1])]))[:, 0]
    assert own[deviations.argmax()] == pytest.approx(x[0], abs=2e-4)
    assert BASELINE.nash_prices[0] < cournot.nash_prices[0] < BASELINE.monopoly_prices[0]
    assert cournot.monopoly_prices == pytest.approx(BASELINE.monopoly_prices)


def test_asymmetric_firms_share_one_markup_at_the_joint_optimum():
    market = Oligopoly(LogitDemand((2.2, 2.0), (1.0, 0.9)))
    assert np.ptp(market.monopoly_prices - np.array([1.0, 0.9])) == pytest.approx(0, abs=1e-9)


# -- the learner ----------------------------------------------------------------------------------------
def test_the_update_is_the_q_learning_rule():
    q0 = np.zeros((1, 2, 3))
    q0[0, 1] = [1.0, 4.0, 2.0]
    learners = QLearners.start(q0, np.array([0]), alpha=0.15, delta=0.95)
    changed = learners.learn(np.array([0]), np.array([0]), np.array([2]), np.array([3.0]), np.array([1]))
    assert learners.q[0, 0, 2] == pytest.approx(0.15 * (3.0 + 0.95 * 4.0))
    assert changed.tolist() == [True] and learners.strategy[0, 0] == 2


def test_q_starts_at_the_discounted_payoff_against_uniform_rivals():
    game = GridGame(BASELINE, BASELINE.grid(5, 0.1))
    q0 = initial_q(game.profits, 5, 25, 0.95)
    by_profile = game.profits.reshape(5, 5, 2)
    assert q0[0, 7] == pytest.approx(by_profile[:, :, 0].mean(axis=1) / 0.05)
    assert q0[1, 3] == pytest.approx(by_profile[:, :, 1].mean(axis=0) / 0.05)


def test_a_learner_that_sees_only_its_own_price_has_one_state_per_own_price():
    own = state_table(2, 15, "own")
    choices = profiles(np.tile(np.arange(15.0), (2, 1))).astype(int)
    assert np.array_equal(own[0], choices[:, 0]) and np.array_equal(own[1], choices[:, 1])
    assert np.array_equal(state_table(2, 15, "all")[1], np.arange(225))


def test_a_learner_that_cannot_see_the_rivals_price_cannot_answer_a_deviation():
    """Trained, frozen firms replay their greedy strategies: with the state their own last price only, a rival's
    forced deviation leaves the other firm's next price exactly where it would have been."""
    blind = {**FAST, "sees": "own"}
    quiet = run(oligopoly(policy=blind))
    shocked = run(oligopoly(policy=blind, deviation={"step": 6, "firm": 0}))
    rival = (shocked.agents["firm"] == 1) & (shocked.agents["step"] == 7)
    assert shocked.agents.loc[rival, "price"].tolist() == quiet.agents.loc[rival, "price"].tolist()
    deviator = (shocked.agents["firm"] == 0) & (shocked.agents["step"] == 6)
    assert shocked.agents.loc[deviator, "price"].tolist() != quiet.agents.loc[deviator, "price"].tolist()


# -- learners in the engine -----------------------------------------------------------------------------
def test_q_learning_firms_collude_and_punish_a_deviation_then_return():
    result = run(oligopoly(steps=16, deviation={"step": 8, "firm": 0}))
    s = result.summary
    assert s["q_converged_share"] == 1 and s["q_training_periods"] > 100_000
    assert s["profit_gain"] > 0.5 and s["price_position"] > 0.4  # supra-competitive: Calvano et al.'s finding
    assert s["punished_share"] >= 0.5  # the rivals answer the deviation with lower prices
    assert s["alignment_gap"] < 0  # profits above consumers' share of the surplus they would get at Nash
    assert result.summary["nash_price"] == pytest.approx(1.473, abs=5e-4)


def test_a_fine_equal_to_the_collusive_gain_over_the_detection_probability_lowers_the_profit_gain():
    """Theory gives the direction: where the test flags the prices, the expected fine q·F equals the gain from
    collusion, π_M − π_N, so a flagged profile near monopoly earns no more than Nash does."""
    gain = float(BASELINE.monopoly_profits[0] - BASELINE.nash_profits[0])
    law = [{"kind": "antitrust", "probability": 0.25}, {"kind": "sanctions", "peer": False, "fine": gain / 0.25,
                                                        "fine_to": "treasury"}]
    free, fined = run(oligopoly(count=16)), run(oligopoly(count=16, institutions=law))
    assert fined.summary["profit_gain"] < free.summary["profit_gain"] - 0.1
    assert fined.summary["consumer_surplus"] > free.summary["consumer_surplus"]
    environment = fined.environment
    table, profits = environment.payoff_table(), environment.game.profits
    top = profile_index([14, 14], 15)  # both at the top of the grid: flagged
    assert profits[top, 0] - table[top, 0] == pytest.approx(gain)
    assert np.array_equal(table[profile_index([0, 0], 15)], profits[profile_index([0, 0], 15)])


def test_myopic_best_responders_price_at_the_nash_price():
    result = run(oligopoly(count=2, steps=6, policy="best_response"))
    last = result.agents[result.agents["step"] == 6]["price"]
    step = float(np.diff(BASELINE.grid()[0])[0])
    assert np.all(np.abs(last - BASELINE.nash_prices[0]) <= step)
    assert abs(result.summary["profit_gain"]) < 0.15


# -- the environment's bookkeeping ------------------------------------------------------------------------
def test_profit_is_the_specified_reward_and_consumer_surplus_the_true_utility():
    result = run(oligopoly(count=4, steps=3))
    rows = result.agents
    assert np.allclose(rows["specified_reward"], rows["profit"])
    per_market = rows.groupby(["step", "market"])
    assert np.allclose(per_market["true_utility"].sum(), per_market["market_surplus"].first())
    total = run(oligopoly(count=4, steps=3, true_utility="total_surplus")).agents
    assert np.allclose(total["true_utility"], total["market_surplus"] / 2 + total["profit"])


def test_the_forced_deviation_is_the_best_response_to_the_period_before():
    result = run(oligopoly(count=4, steps=5, deviation={"step": 4, "firm": 1}))
    game, rows = result.environment.game, result.agents
    for _, firms in rows.groupby("market"):
        before = firms[firms["step"] == 3].sort_values("firm")["price"].to_numpy()
        index = [int(np.argmin(np.abs(game.grid[i] - p))) for i, p in enumerate(before)]
        expected = game.grid[1, game.best_response(1, profile_index(index, game.points))]
        deviated = firms[(firms["step"] == 4) & (firms["firm"] == 1)]
        assert deviated["price"].item() == pytest.approx(expected) and deviated["deviated"].item()


def test_cournot_firms_choose_quantities_and_consumers_set_the_prices():
    result = run(oligopoly(count=4, steps=4, competition="cournot"))
    market = Oligopoly(BASELINE.demand, "cournot")
    rows = result.agents.sort_values(["step", "market", "firm"])
    quantities = rows["act_quantity"].to_numpy().reshape(-1, 2)
    grid = market.grid()
    exact = grid[0][np.abs(grid[0][None, :] - quantities.reshape(-1, 1)).argmin(axis=1)].reshape(-1, 2)
    assert rows["price"].to_numpy().reshape(-1, 2) == pytest.approx(market.prices(exact))
    assert result.summary["nash_price"] == pytest.approx(1.802, abs=1e-3)
    assert result.summary["profit_gain"] > 0.5  # Q-learners collude in quantities too


def test_the_headline_draws_prices_against_the_benchmarks_and_the_impulse_response():
    result = run(oligopoly(count=8, steps=10, deviation={"step": 5, "firm": 0}))
    top, bottom = result.headline().axes
    lines = {line.get_label(): line for line in bottom.get_lines()}
    assert lines["one-shot Nash"].get_ydata()[0] == pytest.approx(BASELINE.nash_prices[0])
    assert lines["monopoly"].get_ydata()[0] == pytest.approx(BASELINE.monopoly_prices[0])
    rivals = result.agents[(result.agents["firm"] == 1) & (result.agents["step"] >= 3)].groupby("step")["price"]
    assert list(lines["rivals"].get_xdata()) == list(range(-2, 6))
    assert list(lines["rivals"].get_ydata()) == pytest.approx(list(rivals.mean()))
    assert {"firm 0 (mean)", "firm 1 (mean)", "forced deviation"} <= {ln.get_label() for ln in top.get_lines()}
    _, without = run(oligopoly(count=2, steps=4)).headline().axes
    assert "profit gain" in without.get_title()


@pytest.mark.slow
def test_the_collusion_table_prints_every_arm_with_intervals_over_sessions_beside_the_papers(tmp_path):
    from sim import sweep
    from sim.analysis.collusion import collusion_table, format_collusion, variant_labels

    scenario = Path(__file__).resolve().parent.parent / "scenarios" / "collusion_rules.yaml"
    sweep(scenario, overrides=["population.0.count=8", "population.0.policy={kind: q_learning, beta: 2e-5}"],
          out=tmp_path / "sweep", progress=False)
    table = collusion_table(tmp_path / "sweep")
    measured = table[table["sessions"].notna()].set_index("case")
    assert list(measured.index) == ["none", "constitution", "fines", "leniency", "communication"]
    assert (measured["sessions"] == 4).all() and (measured["model"] == "rules: q_learning").all()
    assert measured.loc["constitution", "Δ"] == measured.loc["none", "Δ"] == measured.loc["communication", "Δ"]
    assert measured.loc["fines", "Δ"] < measured.loc["none", "Δ"]
    assert measured.loc["none", "Δ low"] <= measured.loc["none", "Δ"] <= measured.loc["none", "Δ high"]
    text = format_collusion(table)
    assert "| Calvano et al. 2020, Q-learning (published) | baseline |  |  | 0.850 |" in text and "| 5.6 |" in text
    labels = variant_labels(pd.Series(["a" * 30, "b" * 30, "short"], name="population.0.persona"))
    assert list(labels.values()) == ["persona #1", "persona #2", "persona=short"]
