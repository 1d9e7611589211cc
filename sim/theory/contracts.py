"""Analytic results for incomplete contracts and misspecified rewards.

Each function is the model as its source states it (see docs/contracts.md for the derivations):

- Baker (2002), "Distortion and Risk in Optimal Incentive Contracts": value V = f·a + ε, measured
  performance P = g·a + φ (Var φ = σ²), wage w = s + b·P, effort cost ½|a|², agent risk aversion r.
  The agent chooses a = b·g; the principal's optimal bonus is b* = f·g / (|g|² + rσ²).
- Baker, Gibbons & Murphy (2002), "Relational Contracts and the Theory of the Firm": a discretionary
  bonus b is self-enforcing iff b <= δ/(1−δ)·(S_relational − S_fallback).
- Zhuang & Hadfield-Menell (2020), "Consequences of Misaligned AI": s in R_+^L, Σ s_i <= B,
  U = Σ log s_i, proxy = Σ_{i in J} s_i with J < L attributes.
"""

from __future__ import annotations

import numpy as np


# -- Baker's multitask distortion model ----------------------------------------------------------
def baker_effort(bonus: float, g: np.ndarray) -> np.ndarray:
    """The agent's best response a = b·g: it maximises b·g·a − ½|a|² (the fixed wage s is sunk)."""
    return bonus * np.asarray(g, dtype=float)


def baker_profit(bonus: float, f: np.ndarray, g: np.ndarray, risk_aversion: float, noise_var: float) -> float:
    """The principal's expected profit with the agent held to its outside option (0).

    The fixed wage s just meets the agent's certainty equivalent, so the principal's profit is the
    total certainty-equivalent surplus: f·a − ½|a|² − ½·r·b²·σ², with a the agent's best response.
    """
    a = baker_effort(bonus, g)
    return float(np.dot(f, a) - 0.5 * np.dot(a, a) - 0.5 * risk_aversion * bonus**2 * noise_var)


def baker_optimal_bonus(f: np.ndarray, g: np.ndarray, risk_aversion: float, noise_var: float) -> float:
    """Baker's closed form b* = f·g / (|g|² + r·σ²)."""
    f, g = np.asarray(f, dtype=float), np.asarray(g, dtype=float)
    return float(np.dot(f, g) / (np.dot(g, g) + risk_aversion * noise_var))


def baker_numeric_bonus(f: np.ndarray, g: np.ndarray, risk_aversion: float, noise_var: float) -> float:
    """b* found by search, not formula: the agent's effort by numerical maximisation of its own
    certainty equivalent, the bonus by numerical maximisation of the principal's profit.

    This is what a rule-based Baker optimiser does; a test checks it lands on the closed form.
    """
    from scipy.optimize import minimize, minimize_scalar  # imported where used: it is slow to import

    f, g = np.asarray(f, dtype=float), np.asarray(g, dtype=float)

    def effort(bonus: float) -> np.ndarray:
        def objective(a: np.ndarray) -> tuple[float, np.ndarray]:
            return -(bonus * np.dot(g, a) - 0.5 * np.dot(a, a)), a - bonus * g

        return minimize(objective, np.zeros_like(g), jac=True, method="BFGS", options={"gtol": 1e-12}).x

    def loss(bonus: float) -> float:
        a = effort(bonus)
        return -(np.dot(f, a) - 0.5 * np.dot(a, a) - 0.5 * risk_aversion * bonus**2 * noise_var)

    scale = max(1.0, float(np.linalg.norm(f) / max(np.linalg.norm(g), 1e-12)))
    return float(minimize_scalar(loss, bounds=(-10 * scale, 10 * scale), method="bounded",
                                 options={"xatol": 1e-10}).x)


def misalignment_angle(f: np.ndarray, g: np.ndarray) -> float:
    """The angle (radians) between the value vector f and the measure's vector g: Baker's distortion."""
    f, g = np.asarray(f, dtype=float), np.asarray(g, dtype=float)
    cosine = np.dot(f, g) / (np.linalg.norm(f) * np.linalg.norm(g))
    return float(np.arccos(np.clip(cosine, -1.0, 1.0)))


# -- Relational contracts ------------------------------------------------------------------------
def relational_bound(delta: float, surplus_relational: float, surplus_fallback: float) -> float:
    """The largest self-enforcing discretionary bonus: δ/(1−δ)·(S_relational − S_fallback).

    Paying b now and keeping the relationship is worth −b + Σ_{k>=1} δ^k S_rel; reneging is worth
    Σ_{k>=1} δ^k S_fallback; so the promise is kept iff b is at most this bound.
    """
    if not 0 <= delta < 1:
        raise ValueError(f"the discount factor must be in [0, 1), got {delta}")
    return delta / (1 - delta) * (surplus_relational - surplus_fallback)


def relational_bonus_ceiling(delta: float, gap_share: float, harm: float) -> float:
    """The bound solved for b in the principal_agent environment, where the bonus is due only in
    uncovered states (probability ``gap_share`` = 1 − completeness) and the fallback is the
    contractor exploiting every gap (loss ``harm``): S_rel − S_fallback = gap_share·(harm − b), so
    b <= δ·gap_share·harm / ((1−δ) + δ·gap_share).
    """
    if not 0 <= delta < 1:
        raise ValueError(f"the discount factor must be in [0, 1), got {delta}")
    return delta * gap_share * harm / ((1 - delta) + delta * gap_share)


# -- Proxy over-optimisation (Zhuang & Hadfield-Menell 2020) -------------------------------------
def proxy_reward(allocation: np.ndarray, rewarded: int) -> float:
    """The proxy: the sum of the first ``rewarded`` (J) attributes."""
    return float(np.sum(np.asarray(allocation, dtype=float)[:rewarded]))


def true_utility(allocation: np.ndarray) -> float:
    """The principal's utility U = Σ log s_i (−inf if any attribute is starved to zero)."""
    s = np.asarray(allocation, dtype=float)
    return float(np.sum(np.log(s))) if np.all(s > 0) else float("-inf")


def proxy_optimum(budget: float, attributes: int, rewarded: int, floor: float) -> np.ndarray:
    """Where an unbounded proxy optimiser ends: every unrewarded attribute at its floor, the rest
    of the budget spread over the J rewarded ones. As the floor goes to 0, U goes to −inf."""
    s = np.full(attributes, float(floor))
    s[:rewarded] = (budget - (attributes - rewarded) * floor) / rewarded
    return s


def aligned_optimum(budget: float, attributes: int) -> np.ndarray:
    """The allocation that maximises U = Σ log s_i under Σ s_i = B: the even split B/L."""
    return np.full(attributes, budget / attributes)


# -- Weighted values and their specification (the value_drift environment) ---------------------------
def weighted_utility(allocation: np.ndarray, weights: np.ndarray) -> float:
    """U_w(s) = Σ w_i log s_i: the utility of a society that values attribute i with weight w_i."""
    s, w = np.asarray(allocation, dtype=float), np.asarray(weights, dtype=float)
    valued = w > 0
    return float(np.sum(w[valued] * np.log(s[valued]))) if np.all(s[valued] > 0) else float("-inf")


def weighted_optimum(weights: np.ndarray, budget: float, floor: float) -> np.ndarray:
    """The maximiser of U_w over the feasible states (Σ s_i = B, every s_i >= floor): s_i = max(floor, λ·w_i)
    with λ spending the budget (water-filling; Karush-Kuhn-Tucker). Unvalued attributes sit at the floor;
    without binding floors it is s = B·w/Σw."""
    w = np.asarray(weights, dtype=float)
    at_floor = w <= 0
    while True:
        scale = (budget - floor * at_floor.sum()) / w[~at_floor].sum()
        below = ~at_floor & (scale * w < floor)
        if not below.any():
            return np.where(at_floor, floor, scale * w)
        at_floor |= below


def value_misfit(values: np.ndarray, specification: np.ndarray, budget: float, floor: float) -> float:
    """What society loses per agent that does exactly what the specification says: U_w(s*_w) − U_w(s*_r) >= 0.
    Without binding floors this is W·KL(w/W ‖ r/R), zero exactly when r is proportional to w."""
    return weighted_utility(weighted_optimum(values, budget, floor), values) - weighted_utility(
        weighted_optimum(specification, budget, floor), values)
