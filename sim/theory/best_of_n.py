"""Best-of-n selection against a proxy, in closed form (Gao, Schulman & Hilton 2022, arXiv 2210.10760).

A base policy proposes n independent candidates; a proxy score picks the best. Gao et al. measure optimisation
pressure by d = sqrt(KL(π_bon || π_base)), with KL_bon = log n − (n − 1)/n for continuous scores, and find the
gold (true) reward follows R(d) = d(α − β d): it rises, peaks at d* = α/(2β), then falls, while the proxy keeps
rising. For a finite base distribution q over actions with proxy scores s, best-of-n is exact: the chosen
score is the largest of n draws, P(best score <= s) = F(s)^n with F the score's CDF under q, and within a level
of tied scores the chosen action is distributed as q (the first drawn of them wins, and draws are exchangeable).
"""

from __future__ import annotations

import math

import numpy as np


def kl_bon(n: int) -> float:
    """KL(best-of-n || base) for continuous scores: log n − (n − 1)/n (nats)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, not {n}")
    return math.log(n) - (n - 1) / n


def best_of_n_distribution(q: np.ndarray, scores: np.ndarray, n: int) -> np.ndarray:
    """The distribution of the action best-of-n picks, given base probabilities ``q`` and proxy ``scores``."""
    q, scores = np.asarray(q, dtype=float), np.asarray(scores, dtype=float)
    if q.shape != scores.shape or not np.isclose(q.sum(), 1.0):
        raise ValueError("q must be a probability vector with one score per action")
    levels = np.unique(scores)
    mass = np.array([q[scores == level].sum() for level in levels])
    cdf = np.cumsum(mass)
    below = np.concatenate([[0.0], cdf[:-1]])
    level_prob = cdf ** n - below ** n
    picked = np.zeros_like(q)
    for level, p_level, m in zip(levels, level_prob, mass, strict=True):
        if m > 0:
            tied = scores == level
            picked[tied] = p_level * q[tied] / m
    return picked


def kl(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p || q) in nats (terms with p = 0 contribute nothing)."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    support = p > 0
    return float(np.sum(p[support] * np.log(p[support] / q[support])))


def gao_fit(d: np.ndarray, gain: np.ndarray) -> tuple[float, float]:
    """Least-squares (α, β) of gain = d(α − β d), the gold reward's form in Gao et al.; ``gain`` is measured
    against the base policy (d = 0, n = 1)."""
    d = np.asarray(d, dtype=float)
    design = np.column_stack([d, -d ** 2])
    (alpha, beta), *_ = np.linalg.lstsq(design, np.asarray(gain, dtype=float), rcond=None)
    return float(alpha), float(beta)


def peak(alpha: float, beta: float) -> float:
    """d* = α/(2β), where d(α − β d) peaks (inf when β <= 0: no peak within reach)."""
    return alpha / (2 * beta) if beta > 0 else math.inf


def n_at(d: float) -> float:
    """The n whose KL_bon is d² (inverting log n − (n − 1)/n, increasing in n); inf for d = inf."""
    if math.isinf(d):
        return math.inf
    target, low, high = d * d, 1.0, 2.0
    while kl_bon_real(high) < target:
        high *= 2
    for _ in range(100):
        mid = (low + high) / 2
        low, high = (mid, high) if kl_bon_real(mid) < target else (low, mid)
    return (low + high) / 2


def kl_bon_real(n: float) -> float:
    """`kl_bon` for real n >= 1 (for inverting it)."""
    return math.log(n) - (n - 1) / n
