"""Oligopoly with logit demand and an outside good: the market of Calvano, Calzolari, Denicolò & Pastorello (2020,
"Artificial Intelligence, Algorithmic Pricing, and Collusion", American Economic Review 110(10): 3267-3297).

Each period a unit mass of consumers (``size`` of them) chooses among n differentiated goods and an outside good.
With qualities a_i, prices p_i, horizontal differentiation μ and the outside good's quality a0, firm i's share is

    s_i = exp((a_i − p_i)/μ) / (Σ_j exp((a_j − p_j)/μ) + exp(a0/μ))                      (1)

and its profit π_i = (p_i − c_i)·s_i·size. Consumer surplus is the expected gain of choosing among the goods over
the outside good alone (Anderson, de Palma & Thisse 1992, logit inclusive value):

    CS = size·μ·ln(1 + Σ_j exp((a_j − p_j − a0)/μ))                                         (2)

Benchmarks (the paper's Section I.B):
- one-shot Bertrand-Nash prices solve p_i − c_i = μ / (1 − s_i(p)) for every i;                        (3)
- the joint-profit ("monopoly") prices give every good the same markup m, with m·(1 − Σ_j s_j(c + m)) = μ;  (4)
- Cournot (quantities, an option here): inverting (1), p_i = a_i − a0 − μ·ln(s_i/s_0), s_0 = 1 − Σ_j s_j,
  and the one-shot Nash solves p_i − c_i = μ·(1 + s_i/s_0); its joint-profit outcome is (4) again.       (5)

The paper's baseline (n = 2, c = 1, a = 2, a0 = 0, μ = 1/4) gives p_N ≈ 1.473 and p_M ≈ 1.925, π_N ≈ 0.223 and
π_M ≈ 0.337. Its price grid has m = 15 equally spaced points from p_N − ξ(p_M − p_N) to p_M + ξ(p_M − p_N),
ξ = 0.1; the profit gain of an outcome is Δ = (π − π_N)/(π_M − π_N): 0 at the Nash profit, 1 at the monopoly's.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
from scipy.optimize import brentq, root

Competition = Literal["bertrand", "cournot"]


@dataclass(frozen=True)
class LogitDemand:
    """Demand (1) and surplus (2); prices are arrays whose last axis is the n firms (any leading axes)."""

    qualities: tuple[float, ...]
    costs: tuple[float, ...]
    mu: float = 0.25
    outside: float = 0.0
    size: float = 1.0

    def __post_init__(self) -> None:
        if len(self.qualities) != len(self.costs):
            raise ValueError(f"{len(self.qualities)} qualities for {len(self.costs)} costs")
        if self.mu <= 0:
            raise ValueError(f"mu must be positive, got {self.mu}")

    @property
    def n(self) -> int:
        return len(self.costs)

    def _weights(self, prices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """exp((a_i − p_i − a0)/μ) per good and 1 for the outside good, scaled by the largest exponent so that a
        small μ cannot overflow: (goods' weights, outside weight)."""
        exponents = (np.asarray(self.qualities) - np.asarray(prices, dtype=float) - self.outside) / self.mu
        top = np.maximum(exponents.max(axis=-1, keepdims=True), 0.0)
        return np.exp(exponents - top), np.exp(-top)

    def shares(self, prices: np.ndarray) -> np.ndarray:
        """s_i (1): each good's share of the consumers."""
        goods, outside = self._weights(prices)
        return goods / (goods.sum(axis=-1, keepdims=True) + outside)

    def quantities(self, prices: np.ndarray) -> np.ndarray:
        return self.size * self.shares(prices)

    def profits(self, prices: np.ndarray) -> np.ndarray:
        return (np.asarray(prices, dtype=float) - np.asarray(self.costs)) * self.quantities(prices)

    def consumer_surplus(self, prices: np.ndarray) -> np.ndarray:
        """CS (2), one value per price profile."""
        exponents = (np.asarray(self.qualities) - np.asarray(prices, dtype=float) - self.outside) / self.mu
        top = np.maximum(exponents.max(axis=-1), 0.0)
        inside = np.exp(exponents - top[..., None]).sum(axis=-1)
        return self.size * self.mu * (top + np.log(np.exp(-top) + inside))

    def prices_of(self, quantities: np.ndarray) -> np.ndarray:
        """The prices at which consumers buy ``quantities`` (5), which must leave some to the outside good."""
        shares = np.asarray(quantities, dtype=float) / self.size
        rest = 1.0 - shares.sum(axis=-1, keepdims=True)
        if np.any(shares <= 0) or np.any(rest <= 0):
            raise ValueError("quantities must be positive and leave a positive share to the outside good")
        return np.asarray(self.qualities) - self.outside - self.mu * np.log(shares / rest)


@dataclass(frozen=True)
class Oligopoly:
    """Firms competing in prices (``bertrand``) or quantities (``cournot``) under `LogitDemand`.

    A *choice* is what a firm sets: a price under Bertrand, a quantity under Cournot. `prices` turns a profile of
    choices into the prices consumers pay, so every measure below (profits, surplus, Δ) is in the same terms for
    both."""

    demand: LogitDemand
    competition: Competition = "bertrand"

    @property
    def n(self) -> int:
        return self.demand.n

    def prices(self, choices: np.ndarray) -> np.ndarray:
        choices = np.asarray(choices, dtype=float)
        return choices if self.competition == "bertrand" else self.demand.prices_of(choices)

    def profits(self, choices: np.ndarray) -> np.ndarray:
        return self.demand.profits(self.prices(choices))

    def consumer_surplus(self, choices: np.ndarray) -> np.ndarray:
        return self.demand.consumer_surplus(self.prices(choices))

    def choices(self, prices: np.ndarray) -> np.ndarray:
        """The choices that make ``prices`` (the prices themselves, or the quantities sold at them)."""
        prices = np.asarray(prices, dtype=float)
        return prices if self.competition == "bertrand" else self.demand.quantities(prices)

    # -- the one-shot benchmarks, in prices ------------------------------------------------------------
    @cached_property
    def nash_prices(self) -> np.ndarray:
        """The one-shot Nash equilibrium's prices: (3) under Bertrand, (5) under Cournot."""
        d = self.demand
        costs = np.asarray(d.costs)

        def first_order(p: np.ndarray) -> np.ndarray:
            s = d.shares(p)
            if self.competition == "bertrand":
                return p - costs - d.mu / (1.0 - s)
            return p - costs - d.mu * (1.0 + s / (1.0 - s.sum()))

        solution = root(first_order, costs + d.mu, tol=1e-12)
        if not solution.success:
            raise ValueError(f"no {self.competition} equilibrium found: {solution.message}")
        return solution.x

    @cached_property
    def monopoly_prices(self) -> np.ndarray:
        """The prices that maximise the firms' joint profit (4): one markup for every good."""
        d = self.demand
        costs = np.asarray(d.costs)

        def excess(markup: float) -> float:
            return markup * (1.0 - d.shares(costs + markup).sum()) - d.mu

        high = d.mu
        while excess(high) <= 0:
            high *= 2.0
        return costs + brentq(excess, d.mu, high, xtol=1e-14)

    @property
    def nash(self) -> np.ndarray:
        """The Nash choices (prices or quantities)."""
        return self.choices(self.nash_prices)

    @property
    def monopoly(self) -> np.ndarray:
        return self.choices(self.monopoly_prices)

    @cached_property
    def nash_profits(self) -> np.ndarray:
        return self.demand.profits(self.nash_prices)

    @cached_property
    def monopoly_profits(self) -> np.ndarray:
        return self.demand.profits(self.monopoly_prices)

    def profit_gain(self, profits: np.ndarray) -> np.ndarray:
        """Δ per firm: (π − π_N)/(π_M − π_N), 0 at the Nash profit and 1 at the monopoly's."""
        return (np.asarray(profits) - self.nash_profits) / (self.monopoly_profits - self.nash_profits)

    def price_position(self, prices: np.ndarray) -> np.ndarray:
        """Where each price lies between the Nash price (0) and the monopoly price (1)."""
        return (np.asarray(prices) - self.nash_prices) / (self.monopoly_prices - self.nash_prices)

    # -- the grid agents choose on ---------------------------------------------------------------------
    def grid(self, points: int = 15, xi: float = 0.1) -> np.ndarray:
        """Each firm's ``points`` equally spaced choices from Nash − ξ·(monopoly − Nash) to monopoly + ξ·(...)
        (reversed order of the ends for quantities, where the monopoly's is the smaller); shape (n, points),
        ascending."""
        low, high = np.minimum(self.nash, self.monopoly), np.maximum(self.nash, self.monopoly)
        span = high - low
        return np.linspace(low - xi * span, high + xi * span, points, axis=-1)


def profiles(grid: np.ndarray) -> np.ndarray:
    """Every profile of grid choices, shape (points^n, n): profile k has firm i at index digit i of k in base
    ``points``, firm 0 the most significant (`profile_index`)."""
    return np.array(list(itertools.product(*grid)), dtype=float)


def profile_index(indices: np.ndarray, points: int) -> np.ndarray:
    """The profile number of grid indices (last axis: the firms), as `profiles` orders them."""
    indices = np.asarray(indices, dtype=np.int64)
    weights = points ** np.arange(indices.shape[-1] - 1, -1, -1)
    return indices @ weights


@dataclass(frozen=True)
class GridGame:
    """The stage game on the grid: for every profile of choices, the prices, each firm's profit and the consumer
    surplus. What learners train on and what the environment pays out are read from the same arrays."""

    market: Oligopoly
    grid: np.ndarray

    @property
    def points(self) -> int:
        return self.grid.shape[1]

    @cached_property
    def choices(self) -> np.ndarray:
        return profiles(self.grid)

    @cached_property
    def prices(self) -> np.ndarray:
        return self.market.prices(self.choices)

    @cached_property
    def profits(self) -> np.ndarray:
        return self.market.demand.profits(self.prices)

    @cached_property
    def quantities(self) -> np.ndarray:
        return self.market.demand.quantities(self.prices)

    @cached_property
    def consumer_surplus(self) -> np.ndarray:
        return self.market.demand.consumer_surplus(self.prices)

    def best_response(self, firm: int, profile: int) -> int:
        """The grid index that earns ``firm`` most this period against the others' choices in ``profile``."""
        digits = [int(d) for d in np.unravel_index(profile, (self.points,) * self.market.n)]
        candidates = [profile_index([*digits[:firm], k, *digits[firm + 1:]], self.points) for k in range(self.points)]
        return int(np.argmax(self.profits[candidates, firm]))
