"""Baker (2002)'s distortion model: the numerical optimiser must land on b* = f·g / (|g|² + rσ²)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.theory.contracts import (
    baker_effort,
    baker_numeric_bonus,
    baker_optimal_bonus,
    baker_profit,
    misalignment_angle,
    relational_bonus_ceiling,
    relational_bound,
)

CASES = [
    # f, g, r, sigma^2, b* worked by hand from f·g / (|g|² + rσ²)
    ([1.0, 2.0], [2.0, 1.0], 1.0, 2.0, 4.0 / 7.0),  # f·g = 4, |g|² = 5, rσ² = 2
    ([1.0, 0.0], [1.0, 0.0], 0.0, 1.0, 1.0),  # aligned, risk-neutral: first best b = 1
    ([3.0, 1.0, 0.0], [1.0, 1.0, 1.0], 2.0, 0.5, 4.0 / 4.0),  # f·g = 4, |g|² = 3, rσ² = 1
    ([1.0, 0.0], [0.0, 1.0], 1.0, 1.0, 0.0),  # orthogonal measure: no bonus is worth paying
]


@pytest.mark.parametrize(("f", "g", "r", "var", "expected"), CASES)
def test_closed_form_matches_hand_derivation(f, g, r, var, expected):
    assert baker_optimal_bonus(f, g, r, var) == pytest.approx(expected)


@pytest.mark.parametrize(("f", "g", "r", "var", "expected"), CASES)
def test_numerical_optimiser_reproduces_b_star(f, g, r, var, expected):
    assert baker_numeric_bonus(f, g, r, var) == pytest.approx(expected, abs=1e-5)


def test_b_star_maximises_profit_and_effort_follows_the_measure():
    f, g = np.array([1.0, 2.0]), np.array([2.0, 1.0])
    best = baker_optimal_bonus(f, g, 1.0, 2.0)
    assert np.allclose(baker_effort(best, g), best * g)
    for other in (best - 0.1, best + 0.1, 0.0, 1.0):
        assert baker_profit(best, f, g, 1.0, 2.0) > baker_profit(other, f, g, 1.0, 2.0)


def test_more_noise_or_distortion_lowers_the_bonus():
    f = np.array([1.0, 1.0])
    assert baker_optimal_bonus(f, f, 1.0, 4.0) < baker_optimal_bonus(f, f, 1.0, 1.0)
    tilted = np.array([1.0, 0.2]) * np.linalg.norm(f) / np.linalg.norm([1.0, 0.2])
    assert misalignment_angle(f, tilted) > misalignment_angle(f, f) == pytest.approx(0.0, abs=1e-6)
    assert baker_optimal_bonus(f, tilted, 0.0, 1.0) < baker_optimal_bonus(f, f, 0.0, 1.0)


def test_relational_bound_is_the_discounted_surplus_difference():
    # delta = 0.9: delta/(1-delta) = 9; S_rel - S_fallback = 2 -> b <= 18.
    assert relational_bound(0.9, 5.0, 3.0) == pytest.approx(18.0)
    # every period uncovered, harm 5, delta 0.8: b <= 0.8*5 / (0.2 + 0.8) = 4, and at b = 4 the
    # general bound holds with equality: 4 = 4 * (5 - 4).
    assert relational_bonus_ceiling(0.8, 1.0, 5.0) == pytest.approx(4.0)
    assert relational_bound(0.8, -4.0, -5.0) == pytest.approx(4.0)
    with pytest.raises(ValueError):
        relational_bound(1.0, 1.0, 0.0)
