"""The effect statistics on distributions whose distance is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from sim.analysis.effect import compare, js_distance, kind_of, w1_distance


def normal_runs(rng: np.random.Generator, shift: float, runs: int = 6, size: int = 400) -> list[np.ndarray]:
    return [rng.normal(shift, 1.0, size) for _ in range(runs)]


def test_identical_samples_are_at_distance_zero():
    sample = np.array([0, 1, 1, 2, 5])
    assert w1_distance(sample, sample) == 0.0
    assert js_distance(np.array(["a", "b", "b"]), np.array(["b", "a", "b"])) == 0.0


def test_jensen_shannon_matches_its_definition():
    # P = (0.5, 0.5), Q = (0.9, 0.1): JS = (KL(P||M) + KL(Q||M)) / 2 with M = (0.7, 0.3), in bits.
    p = np.array([True] * 50 + [False] * 50)
    q = np.array([True] * 90 + [False] * 10)
    kl_p = 0.5 * math.log2(0.5 / 0.7) + 0.5 * math.log2(0.5 / 0.3)
    kl_q = 0.9 * math.log2(0.9 / 0.7) + 0.1 * math.log2(0.1 / 0.3)
    assert js_distance(p, q) == pytest.approx((kl_p + kl_q) / 2)
    assert js_distance(np.array(["x"] * 10), np.array(["y"] * 10)) == pytest.approx(1.0)  # disjoint: 1 bit


def test_wasserstein_of_a_shift_is_the_shift_and_agrees_with_scipy():
    rng = np.random.default_rng(1)
    a = rng.normal(0, 1, 20_000)
    b = rng.exponential(2.0, 500)
    assert w1_distance(a, b) == pytest.approx(wasserstein_distance(a, b))
    assert w1_distance(a, a + 0.7) == pytest.approx(0.7)
    assert w1_distance(a, rng.normal(0.7, 1, 20_000)) == pytest.approx(0.7, abs=0.03)


def test_a_shifted_arm_gives_the_known_distance_inside_its_interval_and_a_small_p():
    rng = np.random.default_rng(2)
    effect = compare(normal_runs(rng, 0.0, size=1000), normal_runs(rng, 0.5, size=1000), bootstrap=300, seed=3)
    assert effect.metric == "w1"
    assert effect.distance == pytest.approx(0.5, abs=0.04)
    assert effect.low <= 0.5 <= effect.high
    # 6 runs per arm: C(12, 6) = 924 reassignments, enumerated exactly; only the observed split and its mirror
    # image are as extreme.
    assert effect.p_value == pytest.approx(2 / 924)


def test_under_the_null_p_values_are_not_small_more_often_than_they_should_be():
    rng = np.random.default_rng(4)
    p_values = [compare(normal_runs(rng, 0.0, runs=5, size=50), normal_runs(rng, 0.0, runs=5, size=50),
                        bootstrap=0, seed=i).p_value for i in range(30)]
    effects = [compare(normal_runs(rng, 0.0), normal_runs(rng, 0.0), bootstrap=0, permutations=1).distance
               for _ in range(3)]
    assert np.mean(np.array(p_values) < 0.05) <= 0.15
    assert np.median(p_values) > 0.25
    assert max(effects) < 0.15


def test_few_runs_cannot_reach_significance_and_say_so_in_the_p_value():
    rng = np.random.default_rng(5)
    effect = compare(normal_runs(rng, 0.0, runs=2), normal_runs(rng, 3.0, runs=2), bootstrap=0)
    assert effect.p_value == pytest.approx(2 / 6)  # C(4, 2) = 6 splits: p can never be below 1/3 here


def test_discrete_actions_use_jensen_shannon_and_numbers_wasserstein():
    assert kind_of(np.array([True, False])) == "js"
    assert kind_of(np.array(["honour", "exploit"], dtype=object)) == "js"
    assert kind_of(np.array([1, 2, 3])) == "w1"
    effect = compare([np.array([True] * 50 + [False] * 50)] * 4, [np.array([True] * 90 + [False] * 10)] * 4,
                     bootstrap=100)
    assert effect.metric == "js" and effect.distance > 0.05
    assert effect.p_value == pytest.approx(2 / 70)
