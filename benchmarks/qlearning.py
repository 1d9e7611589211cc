"""Q-learning firms: the compiled trainer against the engine, and Calvano et al.'s baseline reproduced.

1. Speed, side by side in one run: the same learners (agents/baselines/q_learning.py) learn one duopoly online
   through the engine (a SocietyModel step per period: observations, the act phase, the outcome, the records) for
   ``--engine-periods`` periods, and in the compiled trainer (`sim.theory.qlearning.train`) for a million periods.
   The ratio of periods per second is why a policy trains its markets before a run: convergence takes about two
   million periods.
2. The baseline: ``--sessions`` markets of the paper's duopoly (α = 0.15, β = 4e-6, δ = 0.95, 15 prices, ξ = 0.1)
   trained to convergence and played greedily through the engine (scenarios/collusion_rules.yaml): Δ per market,
   its mean, standard deviation and 95% bootstrap interval, beside the paper's Δ ≈ 0.85; the periods to convergence.

    python benchmarks/qlearning.py [--sessions 100] [--engine-periods 3000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from sim.environments.collusion import sessions
from sim.runner import simulate
from sim.scenario import load_scenario
from sim.sweeps.plots import bootstrap_interval
from sim.theory.qlearning import QLearners, initial_q, state_table, train

SCENARIO = "scenarios/collusion_rules.yaml"
PUBLISHED_DELTA = 0.85


def engine_periods_per_second(periods: int) -> float:
    """One duopoly of learners learning online through the engine (no training before the run)."""
    scenario = load_scenario(SCENARIO, [f"steps={periods}", "population.0.count=2", "environment.deviation=null",
                                        "population.0.policy={kind: q_learning, pretrain: false, frozen: false}",
                                        "output.plots=false"])
    start = time.perf_counter()
    simulate(scenario, progress=False)
    return periods / (time.perf_counter() - start)


def trainer_periods_per_second(periods: int) -> float:
    """The same learners on the same game in the compiled trainer, for ``periods`` periods of one session."""
    result = simulate(load_scenario(SCENARIO, ["steps=1", "population.0.count=2", "environment.deviation=null",
                                               "output.plots=false"]), progress=False)
    game = result.environment.game
    state_of = state_table(2, game.points, "all")
    learners = QLearners.start(initial_q(game.profits, game.points, game.points**2, 0.95), np.array([0, 1]),
                               0.15, 0.95)
    training = train(learners, game.profits, state_of, np.array([0]), 4e-6, np.random.default_rng(0),
                     converge_after=periods + 1, max_periods=periods)
    return training.periods_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100, help="markets of the baseline (the paper: 1,000)")
    parser.add_argument("--engine-periods", type=int, default=3000, help="periods learned through the engine")
    args = parser.parse_args()

    trainer_periods_per_second(10_000)  # compiles (or loads the compiled kernels) outside the measurement
    engine = engine_periods_per_second(args.engine_periods)
    trainer = trainer_periods_per_second(1_000_000)
    print(f"periods per second, one duopoly: engine {engine:,.0f}, trainer {trainer:,.0f} "
          f"(trainer / engine = {trainer / engine:,.0f}x)")

    start = time.perf_counter()
    result = simulate(load_scenario(SCENARIO, [f"population.0.count={2 * args.sessions}", "output.plots=false"]),
                      progress=True)
    seconds = time.perf_counter() - start
    s = result.summary
    delta = sessions(result.agents, result.scenario.environment)["profit_gain"].to_numpy()
    low, high = bootstrap_interval(delta)
    print(f"baseline, {args.sessions} sessions in {seconds:.0f} s: Δ = {delta.mean():.3f} (sd {delta.std(ddof=1):.3f}, "
          f"95% CI [{low:.3f}, {high:.3f}], range {delta.min():.2f} to {delta.max():.2f}); "
          f"published Δ ≈ {PUBLISHED_DELTA}")
    print(f"training: {s['q_training_periods']:,.0f} periods per session on average, converged "
          f"{s['q_converged_share']:.0%}, {s['q_periods_per_second']:,.0f} periods/s; prices "
          f"{s['mean_price']:.3f} (Nash {s['nash_price']:.3f}, monopoly {s['monopoly_price']:.3f}); "
          f"deviations punished in {s['punished_share']:.0%} of markets, prices restored in {s['restored_share']:.0%}")


if __name__ == "__main__":
    main()
