"""The silly-rules model (after Hadfield-Menell, Andrus & Hadfield 2019, arXiv 1811.01267) in closed form.

A group enforces its rules reliably (each violation punished with probability θ_H) or its enforcement has
collapsed (θ_L < θ_H). Members cannot see which; they see violations and whether they were punished, and hold
a belief π = P(collapsed). Violations of important and silly rules are punished by the same enforcers, so both
are evidence about θ; silly rules add observations without adding harm. Members leave when the expected
payoff of staying falls below the outside option.

Equations (numbered as in docs/norms.md):
  (1) payoff of staying in state X:   u_X = value − harm · v · I · (1 − θ_X) − c · S
  (2) leave threshold:                 leave iff π > π* = (u_H − outside) / (u_H − u_L)
  (3) the prior drifts by the hazard:  π⁻ = π + (1 − π) · h         (a sound group may collapse any period)
  (4) Bayes on k punished of n seen:   π' = π⁻ L_L / (π⁻ L_L + (1 − π⁻) L_H),  L_X = θ_X^k (1 − θ_X)^(n − k)
  (5) learning speed: expected log-odds gained per period after a collapse
                                       d = M · v · o · KL(θ_L ‖ θ_H),  M = (members − 1) · (I + S)
so d grows in proportion to the number of rules: more silly rules, faster and more accurate learning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SillyRulesModel:
    """The parameters the theory needs (a subset of the environment's)."""

    important_rules: int
    silly_rules: int
    violation_rate: float
    observe: float
    enforcement_high: float
    enforcement_low: float
    value: float
    harm: float
    silly_cost: float
    outside_option: float
    hazard: float

    def payoff(self, enforcement: float) -> float:
        """(1) Expected per-period payoff of a member when violations are punished with this probability."""
        harm = self.harm * self.violation_rate * self.important_rules * (1 - enforcement)
        return self.value - harm - self.silly_cost * self.silly_rules

    def threshold(self) -> float:
        """(2) The belief in collapse above which leaving pays (≤ 0: leave at once; ≥ 1: never leave)."""
        high, low = self.payoff(self.enforcement_high), self.payoff(self.enforcement_low)
        if high == low:
            return math.inf if high >= self.outside_option else -math.inf
        return (high - self.outside_option) / (high - low)

    def update(self, belief: float, punished: int, seen: int) -> float:
        """(3)+(4) One period: the hazard, then Bayes on ``punished`` of ``seen`` violations."""
        return self.bayes(belief + (1 - belief) * self.hazard, punished, seen)

    def bayes(self, prior: float, punished: int, seen: int) -> float:
        """(4) The belief in collapse after seeing ``punished`` of ``seen`` violations punished."""
        if prior >= 1:
            return 1.0
        log_odds = math.log(prior / (1 - prior)) if prior > 0 else -math.inf
        log_odds += _log_likelihood(self.enforcement_low, punished, seen)
        log_odds -= _log_likelihood(self.enforcement_high, punished, seen)
        return 0.5 * (1 + math.tanh(log_odds / 2)) if math.isfinite(log_odds) else float(log_odds > 0)

    def drift(self, members: int) -> float:
        """(5) Expected log-odds of collapse gained per period once enforcement has collapsed."""
        lo, hi = self.enforcement_low, self.enforcement_high
        kl = lo * math.log(lo / hi) + (1 - lo) * math.log((1 - lo) / (1 - hi))
        return self.opportunities(members) * self.violation_rate * self.observe * kl

    def opportunities(self, members: int) -> int:
        """M: the others' rule-periods a member can see violated in one period."""
        return (members - 1) * (self.important_rules + self.silly_rules)

    def leave_probability(self, prior: float, members: int, enforcement: float) -> float:
        """Exact probability that one period of evidence takes a member from ``prior`` (the belief entering the
        period's evidence: after the hazard, or a rumour) to above the threshold.

        Of M opportunities each becomes a seen violation with probability v·o, punished with probability θ, so
        the seen count n ~ Bin(M, v·o) and the punished count k | n ~ Bin(n, θ).
        """
        from scipy.stats import binom  # scipy.stats takes a second to import: only where it is used

        m, star = self.opportunities(members), self.threshold()
        seen = binom.pmf(np.arange(m + 1), m, self.violation_rate * self.observe)
        total = 0.0
        for n in range(m + 1):
            if seen[n] < 1e-15:
                continue
            punished = binom.pmf(np.arange(n + 1), n, enforcement)
            total += seen[n] * sum(p for k, p in enumerate(punished) if self.bayes(prior, k, n) > star)
        return float(total)


def _log_likelihood(theta: float, punished: int, seen: int) -> float:
    """log θ^k (1 − θ)^(n − k), for 0 < θ < 1."""
    return punished * math.log(theta) + (seen - punished) * math.log(1 - theta)
