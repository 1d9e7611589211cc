"""Credit assignment: what one agent's decisions of one step earned under each reward (docs/training.md).

An environment resolves a step into an `Outcome`: per agent a specified reward (what the contract says: the
catch, the profit) and a true utility (what society gains: the catch less the fish it destroys). Institutions
then book fines, punishment, damages, taxes and rents through `Outcome.adjust`, which keeps a ledger of
(agent, reason, specified, true) rows. The credit of agent i for the step is:

- ``specified``: the environment's specified reward of i, before any institution acts;
- ``institutional``: that plus every specified amount the institutions' ledger books against i (rows naming
  i: its fines, the punishment it received, what punishing cost it, its damages, taxes and rents); rows naming
  no one (a fine's shares paid out to everyone else) come from someone else's decision and credit no one;
- ``true``: the environment's true utility of i, before any institution acts (institutions' amounts are
  transfers between agents or penalties society did not ask for, not what the action was worth).

Every LLM decision of i in the step (talk, act, an institution's phase) carries the step's credit; candidates
(sim/training/candidates.py) are credited the same way in the counterfactual step they would have made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from sim.step import Outcome

CREDIT_FILE = "credit.parquet"
CREDIT_COLUMNS = ("step", "agent_id", "reward_specified", "reward_institutional", "reward_true")


@dataclass(frozen=True, slots=True)
class Credit:
    """One agent's credit for one step under each reward."""

    specified: float
    institutional: float
    true: float

    @classmethod
    def of(cls, specified: float, true: float, booked_against: float) -> Credit:
        """The credit of an agent whose environment payoffs are ``specified`` and ``true`` and against whom the
        institutions booked ``booked_against``."""
        return cls(specified, specified + booked_against, true)

    def under(self, reward: str) -> float:
        """The credit under ``reward``: specified, institutional or true."""
        return float(getattr(self, reward))


def booked(ledger: list[tuple[int | None, str, float, float]]) -> dict[int, float]:
    """The specified amounts the ledger books against each agent it names, summed per agent."""
    totals: dict[int, float] = {}
    for agent_id, _, specified, _ in ledger:
        if agent_id is not None:
            totals[agent_id] = totals.get(agent_id, 0.0) + specified
    return totals


@dataclass(frozen=True, slots=True)
class Resolved:
    """The environment's payoffs of a step before any institution acts (copies: institutions change the
    outcome's own dicts in place)."""

    specified: dict[int, float]
    true: dict[int, float]

    @classmethod
    def of(cls, outcome: Outcome) -> Resolved:
        return cls(dict(outcome.specified), dict(outcome.true))

    def credit(self, agent_id: int, booked_against: float) -> Credit:
        return Credit.of(self.specified.get(agent_id, 0.0), self.true.get(agent_id, 0.0), booked_against)


class CreditBook:
    """Every step's credit of every agent that acted, kept as columns for ``credit.parquet``.

    The model calls `resolved` right after the environment resolves a step and `settled` once every
    institution has enforced it.
    """

    def __init__(self) -> None:
        self.columns: dict[str, list] = {name: [] for name in CREDIT_COLUMNS}
        self._resolved: Resolved | None = None

    def resolved(self, outcome: Outcome) -> None:
        self._resolved = Resolved.of(outcome)

    def settled(self, step: int, outcome: Outcome) -> None:
        if self._resolved is None:
            raise RuntimeError("CreditBook.settled before resolved")
        against = booked(outcome.ledger)
        columns = self.columns
        for agent_id in self._resolved.specified:
            credit = self._resolved.credit(agent_id, against.get(agent_id, 0.0))
            columns["step"].append(step)
            columns["agent_id"].append(agent_id)
            columns["reward_specified"].append(credit.specified)
            columns["reward_institutional"].append(credit.institutional)
            columns["reward_true"].append(credit.true)
        self._resolved = None

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.columns, columns=list(CREDIT_COLUMNS)).astype(
            {"step": "int64", "agent_id": "int64", "reward_specified": "float64", "reward_institutional": "float64",
             "reward_true": "float64"})
