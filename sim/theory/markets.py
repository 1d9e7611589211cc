"""The call market and the textbook benchmarks it is compared with.

Each trader holds one unit per period: a buyer values it at v, a seller produces it at cost c, and
every unit produced does ``damage`` d of harm to third parties that no price carries (Pigou 1920).

- The clearing rule (a uniform-price call market, Friedman 1991): sort bids down and asks up; the
  traded quantity Q is the largest k with the k-th bid >= the k-th ask; the price is the middle of
  the interval of prices at which exactly Q units are demanded and supplied. With truthful bids this
  is the competitive equilibrium of the schedules (Smith 1962 found double auctions converge to it).
- Competitive equilibrium ignores d; the social optimum counts it: the units with v >= c + d.
- A per-unit Pigouvian tax t = d on producers shifts supply up by d, so the market trades the
  optimum (Pigou 1920); so does a cap at the optimal quantity.
- Deadweight loss: welfare at the optimum minus welfare at the traded quantity.

With linear schedules, demand P = a − b·Q and supply P = c + s·Q, the continuous results are
Q* = (a − c)/(b + s), P* = a − b·Q*, Q° = (a − c − d)/(b + s) and DWL = d² / (2(b + s)).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Clearing:
    """One period's clearing: who trades, at which buyer price and seller price.

    The two prices differ only under a binding cap; the difference is the scarcity rent of the cap
    (the price a permit fetches in cap-and-trade), collected by the clearinghouse.
    """

    quantity: int
    buyer_price: float
    seller_price: float
    buyers: tuple[int, ...] = ()
    sellers: tuple[int, ...] = ()

    @property
    def rent(self) -> float:
        return (self.buyer_price - self.seller_price) * self.quantity if self.quantity else 0.0


def _ranked(prices: Mapping[int, float], descending: bool, rng: np.random.Generator | None) -> list[int]:
    """Ids by price; ties broken at random when ``rng`` is given (fair to every id), else by id."""
    ids = sorted(prices)
    if rng is not None:
        ids = [ids[i] for i in rng.permutation(len(ids))]
    sign = -1.0 if descending else 1.0
    return sorted(ids, key=lambda i: sign * prices[i])


def call_market(
    bids: Mapping[int, float], asks: Mapping[int, float], cap: int | None = None,
    rng: np.random.Generator | None = None,
) -> Clearing:
    """Clear one period of sealed bids and asks (one unit each) at a uniform price.

    Without a binding cap the price is the midpoint of [max(Q-th ask, (Q+1)-th bid), min(Q-th bid,
    (Q+1)-th ask)]: exactly the Q highest bidders want to buy and the Q lowest askers want to sell.
    Under a binding cap buyers pay the midpoint between the Q-th and (Q+1)-th bid and sellers get the
    midpoint between the Q-th and (Q+1)-th ask, so each side is in balance at its own price.
    """
    buyers, sellers = _ranked(bids, True, rng), _ranked(asks, False, rng)
    b = [bids[i] for i in buyers]
    a = [asks[i] for i in sellers]
    free = 0
    while free < min(len(b), len(a)) and b[free] >= a[free]:
        free += 1
    q = free if cap is None else min(free, cap)
    if q == 0:
        return Clearing(0, float("nan"), float("nan"))
    nxt_bid = b[q] if q < len(b) else None
    nxt_ask = a[q] if q < len(a) else None
    if q < free:
        buyer_price = (b[q - 1] + nxt_bid) / 2
        seller_price = (a[q - 1] + nxt_ask) / 2
    else:
        low = max(a[q - 1], nxt_bid) if nxt_bid is not None else a[q - 1]
        high = min(b[q - 1], nxt_ask) if nxt_ask is not None else b[q - 1]
        buyer_price = seller_price = (low + high) / 2
    return Clearing(q, buyer_price, seller_price, tuple(buyers[:q]), tuple(sellers[:q]))


# -- benchmarks on unit schedules ----------------------------------------------------------------
def linear_schedule(intercept: float, slope: float, units: int) -> list[float]:
    """Unit values (slope < 0: demand) or costs (slope > 0: supply) on a line: intercept + slope·i."""
    return [intercept + slope * i for i in range(units)]


def _indexed(values: Sequence[float]) -> dict[int, float]:
    return dict(enumerate(values))


def competitive_equilibrium(values: Sequence[float], costs: Sequence[float]) -> Clearing:
    """The market with every trader price-taking (bids = values, asks = costs)."""
    return call_market(_indexed(values), _indexed(costs))


def gains_from_trade(values: Sequence[float], costs: Sequence[float], quantity: int) -> float:
    """Σ of the ``quantity`` highest values minus Σ of the ``quantity`` lowest costs."""
    return float(sum(sorted(values, reverse=True)[:quantity]) - sum(sorted(costs)[:quantity]))


def welfare(values: Sequence[float], costs: Sequence[float], damage: float, quantity: int) -> float:
    """Social welfare of trading ``quantity`` units efficiently: gains from trade less the harm."""
    return gains_from_trade(values, costs, quantity) - damage * quantity


def social_optimum(values: Sequence[float], costs: Sequence[float], damage: float) -> int:
    """The quantity a planner who counts the harm would trade: units whose value covers cost + damage."""
    return competitive_equilibrium(values, [c + damage for c in costs]).quantity


def pigouvian_tax(damage: float) -> float:
    """With constant marginal damage d the Pigouvian per-unit tax is d itself."""
    return damage


def deadweight_loss(values: Sequence[float], costs: Sequence[float], damage: float, quantity: int) -> float:
    """Welfare at the social optimum minus welfare at ``quantity`` (>= 0 for efficient allocations)."""
    best = social_optimum(values, costs, damage)
    return welfare(values, costs, damage, best) - welfare(values, costs, damage, quantity)


@dataclass(frozen=True)
class LinearMarket:
    """The continuous textbook market: demand P = a − b·Q, supply P = c + s·Q, damage d per unit."""

    a: float
    b: float
    c: float
    s: float
    d: float = 0.0

    def equilibrium_quantity(self) -> float:
        return max(0.0, (self.a - self.c) / (self.b + self.s))

    def equilibrium_price(self) -> float:
        return self.a - self.b * self.equilibrium_quantity()

    def optimal_quantity(self) -> float:
        return max(0.0, (self.a - self.c - self.d) / (self.b + self.s))

    def deadweight_loss(self) -> float:
        """The Harberger triangle between the equilibrium and the optimum: ½·d·(Q* − Q°)."""
        return 0.5 * self.d * (self.equilibrium_quantity() - self.optimal_quantity())
