"""Candidates: a decision's n samples, each scored by what it would have earned (docs/training.md).

An LLM group with ``candidates: n`` draws n samples of each act decision (`Asker.sample`: sample i on the
decision's seed + i, one request with n) and acts on sample 0, so its run is the run of n = 1. Each sample is then
scored by the step it would have made: the environment resolves the step with that sample in place of the agent's
action and every other agent's action held fixed, and the institutions enforce it with every institution-phase
decision of the step held fixed (the points peers gave, the ballots cast), on a copy of the state
(sim/training/sandbox.py). Each stage draws its random numbers from where the real stage drew them (common random
numbers: the same monitoring luck, the same allocation draws), so sample 0 earns exactly the credit the run
booked, and the others differ from it only by what their action changes. The credit is `sim.training.credit`'s,
under every reward at once.

The cost: one copy of the components per step with candidates, and per distinct (agent, action) one fork of that
copy plus one resolve and enforce of the step, O(N) for N agents; equal samples of one agent are scored once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from sim.step import StepContext
from sim.training.credit import Credit
from sim.training.sandbox import CounterfactualError, CounterfactualModel, Sandbox

if TYPE_CHECKING:
    from pydantic import BaseModel

    from sim.institutions.base import Institution
    from sim.llm.asker import Answer
    from sim.model import SocietyModel
    from sim.step import Decision

CANDIDATES_FILE = "candidates.parquet"
CANDIDATE_COLUMNS = ("step", "agent_id", "sample", "reply", "action", "valid", "reward_specified",
                     "reward_institutional", "reward_true")


@dataclass(frozen=True, slots=True)
class Drawn:
    """One decision's candidates, sample i at index i: the action each stands for (the fallback where the reply
    was invalid twice), its reply, and whether it was valid."""

    agent_id: int
    actions: tuple[BaseModel, ...]
    replies: tuple[str, ...]
    valid: tuple[bool, ...]


class RandomStates:
    """Where a model's random streams stood at one moment, to start a counterfactual stage from the same place."""

    def __init__(self, model: SocietyModel | CounterfactualModel) -> None:
        self.rng = model.rng.bit_generator.state
        self.random = model.random.getstate()

    def restore(self, model: CounterfactualModel) -> None:
        model.rng.bit_generator.state = self.rng
        model.random.setstate(self.random)


class Scoring:
    """One step's counterfactuals: the components as they stood before the step resolved, and the random states
    the environment and each institution drew from in the real step."""

    def __init__(self, model: SocietyModel, drawn: list[Drawn]) -> None:
        self.model = model
        self.drawn = drawn
        self.sandbox = Sandbox.of(model)
        self.resolving = RandomStates(model)
        self.enforcing_at: dict[int, RandomStates] = {}

    def enforcing(self, institution: Institution) -> None:
        """The real step is about to run ``institution``'s enforce: note where the random streams stand."""
        self.enforcing_at[self.model.institutions.index(institution)] = RandomStates(self.model)

    def credit(self, ctx: StepContext, agent_id: int, action: BaseModel) -> Credit:
        """What ``agent_id`` would have earned this step had it taken ``action``, everything else as it was."""
        model = self.sandbox.fork()
        self.resolving.restore(model)
        actions = dict(ctx.actions)
        actions[agent_id] = action
        component = model.environment
        try:
            outcome = component.resolve(actions)
            specified, true = outcome.specified.get(agent_id, 0.0), outcome.true.get(agent_id, 0.0)
            step = StepContext(ctx.step, actions, outcome, phase_actions=dict(ctx.phase_actions))
            active = self.model.active_agents()
            for index, component in enumerate(model.institutions):
                if component.phase:
                    component.open_phase(active)
                self.enforcing_at[index].restore(model)
                component.enforce(step)
        except CounterfactualError as exc:
            raise CounterfactualError(f"candidates cannot be scored under '{component.kind}': {exc}") from None
        return Credit.of(specified, true, sum(row[2] for row in outcome.ledger if row[0] == agent_id))

    def score(self, ctx: StepContext) -> list[tuple[Drawn, list[Credit]]]:
        """Every drawn decision with the credit of each of its samples (equal actions of an agent scored once)."""
        scored = []
        for drawn in self.drawn:
            seen: dict[str, Credit] = {}
            credits = []
            for action in drawn.actions:
                key = action.model_dump_json()
                if key not in seen:
                    seen[key] = self.credit(ctx, drawn.agent_id, action)
                credits.append(seen[key])
            scored.append((drawn, credits))
        return scored


class CandidatePool:
    """The candidates the LLM policies drew in a step's act phase; scored when the step is enforced, and kept as
    the columns of ``candidates.parquet``. The model calls `open` before the step resolves, the returned
    `Scoring`'s ``enforcing`` before each institution enforces, and `score` at the end."""

    def __init__(self, model: SocietyModel) -> None:
        self.model = model
        self.drawn: list[Drawn] = []
        self.columns: dict[str, list[Any]] = {name: [] for name in CANDIDATE_COLUMNS}

    def add(self, decision: Decision, answers: list[Answer]) -> None:
        """``answers``: the samples of ``decision``, sample i at index i (`Asker.sample`)."""
        from sim.model import valid

        actions = tuple(valid(a.value if a.value is not None else decision.fallback, decision.schema)
                        for a in answers)
        self.drawn.append(Drawn(decision.agent.unique_id, actions, tuple(a.reply for a in answers),
                                tuple(not a.fell_back for a in answers)))

    def open(self) -> Scoring | None:
        """The step's scoring, if candidates were drawn in it (None otherwise: nothing is copied)."""
        if not self.drawn:
            return None
        scoring, self.drawn = Scoring(self.model, self.drawn), []
        return scoring

    def score(self, scoring: Scoring, ctx: StepContext) -> None:
        columns = self.columns
        for drawn, credits in scoring.score(ctx):
            for sample, (action, credit) in enumerate(zip(drawn.actions, credits, strict=True)):
                columns["step"].append(ctx.step)
                columns["agent_id"].append(drawn.agent_id)
                columns["sample"].append(sample)
                columns["reply"].append(drawn.replies[sample])
                columns["action"].append(action.model_dump_json())
                columns["valid"].append(drawn.valid[sample])
                columns["reward_specified"].append(credit.specified)
                columns["reward_institutional"].append(credit.institutional)
                columns["reward_true"].append(credit.true)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.columns, columns=list(CANDIDATE_COLUMNS)).astype(
            {"step": "int64", "agent_id": "int64", "sample": "int64", "reply": "string", "action": "string",
             "valid": "bool", "reward_specified": "float64", "reward_institutional": "float64",
             "reward_true": "float64"})


def training_tables(model: SocietyModel) -> dict[str, pd.DataFrame]:
    """The run directory's training tables by file name: every LLM run's credit, and the candidates where some
    were drawn."""
    from sim.training.credit import CREDIT_FILE

    tables = {} if model.credit is None else {CREDIT_FILE: model.credit.table()}
    if model.candidates.columns["step"]:
        tables[CANDIDATES_FILE] = model.candidates.table()
    return tables
