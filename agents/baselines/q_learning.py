"""Q-learning pricing firms (Calvano, Calzolari, Denicolò & Pastorello 2020): the rule-based reference for
algorithmic collusion in the ``oligopoly``.

Each firm is one learner of `sim.theory.qlearning` (α, β, δ, state = last period's grid choices of every firm in
its market, or only its own with ``sees: own``; Q initialised as in the paper). With ``pretrain`` (the default)
the group's markets are first trained, each a session of the paper, until the convergence rule holds (no greedy
strategy changed for ``converge_after`` periods) or ``max_periods`` have passed: on the stage game the
environment and its institutions define, profit less the fines each firm expects at each price profile
(`OligopolyMarket.payoff_table`). A million periods take seconds in the compiled trainer and would take hours
through the engine. The run then plays the trained markets: ``frozen`` firms play their greedy strategies, as the
paper measures converged play (and its impulse response); otherwise they go on exploring (ε = exp(−β t), t the
periods each has played) and learning from each period's booked payoff, fines included, through the same learner.
Without ``pretrain`` the firms learn in the run alone, from a random start.

In the ``leniency`` programme's report phase a firm reports whenever asked (its market's prices were flagged):
reporting costs nothing and spares the first reporter the fine, so it is never worse.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, Field, model_validator

from agents.policy import POLICIES, ScriptedPolicy
from sim.component import Params, Problem

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sim.model import SocietyModel
    from sim.scenario import Scenario
    from sim.step import Decision
    from sim.theory.qlearning import QLearners, Training


class QLearningParams(Params):
    alpha: float = Field(0.15, gt=0, le=1, description="α, the learning rate.")
    beta: float = Field(4e-6, ge=0, description="β, the exploration decay: ε_t = exp(−β t).")
    delta: float = Field(0.95, ge=0, lt=1, description="δ, the discount factor.")
    sees: Literal["all", "own"] = Field("all", description="The state: last period's choices of every firm of the "
                                                           "market, or only the firm's own.")
    init: Literal["calvano", "zero"] = Field("calvano", description="Q's start: each action's discounted payoff "
                                             "against uniformly random rivals (the paper's), or zeros.")
    pretrain: bool = Field(True, description="Train every market of the group to convergence before the run.")
    converge_after: int = Field(100_000, ge=1, description="Periods without a change of any greedy strategy that "
                                                          "count as convergence.")
    max_periods: int = Field(10_000_000, ge=1, description="The most periods a market trains before the run.")
    frozen: bool = Field(True, description="In the run, play the trained greedy strategies without exploring or "
                                           "learning (needs pretrain).")

    @model_validator(mode="after")
    def _frozen_needs_training(self) -> QLearningParams:
        if self.frozen and not self.pretrain:
            raise ValueError("frozen learners that never trained would repeat their first greedy choice: set "
                             "pretrain: true, or frozen: false")
        return self


@POLICIES.register("q_learning")
class QLearning(ScriptedPolicy):
    """Firms that learn prices by Q-learning."""

    Params = QLearningParams
    environments = ("oligopoly",)
    slice_size = None  # the learners of a phase are updated together

    @classmethod
    def check(cls, params: QLearningParams, scenario: Scenario) -> Iterator[Problem]:
        """Training a market needs all of its firms: the group must hold whole markets."""
        if not params.pretrain or scenario.environment.kind != "oligopoly":
            return
        firms, start = scenario.environment.firms, 0
        for group in scenario.population:
            if group.policy is params and (start % firms or group.count % firms):
                yield Problem(("pretrain",), f"training needs whole markets: group '{group.name}' (agents {start} to "
                                             f"{start + group.count - 1}) splits markets of {firms} firms; give it "
                                             "whole markets, or set pretrain: false")
            start += group.count

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.learners: QLearners | None = None
        self.training: Training | None = None

    def _start(self) -> None:
        """Make (and train) the learners, at the first decision: the environment and institutions are configured."""
        from sim.theory.qlearning import QLearners, initial_q, state_table, train

        p, env, rng = self.params, self.model.environment, self.model.rng
        mine = [a.unique_id for a in self.model.everyone() if a.group == self.group.name]
        self.slot = {agent: k for k, agent in enumerate(mine)}
        firms, points = env.params.firms, env.game.points
        self.state_of = state_table(firms, points, p.sees)
        payoffs = env.payoff_table()
        states = int(self.state_of.max()) + 1
        q0 = initial_q(payoffs, points, states, p.delta) if p.init == "calvano" else np.zeros((firms, states, points))
        self.learners = QLearners.start(q0, np.array([env.place[a][1] for a in mine]), p.alpha, p.delta)
        self.clock = np.zeros(len(mine), dtype=np.int64)  # periods each learner has played: its ε schedule
        markets = sorted({env.place[a][0] for a in mine})
        self.start_profile = dict(zip(markets, rng.integers(len(payoffs), size=len(markets)).tolist(), strict=True))
        self.previous: dict[int, int] = {}  # slot -> the state it decided in last period
        if p.pretrain:
            first = np.array([self.slot[env.markets[m][0]] for m in markets])
            with _progress(self.model, len(markets)) as bar:
                self.training = train(self.learners, payoffs, self.state_of, first, p.beta, rng, p.converge_after,
                                      p.max_periods, bar)
            self.start_profile = dict(zip(markets, self.training.profiles.tolist(), strict=True))
            self.clock = np.repeat(self.training.periods, firms)

    def on_act_batch(self, decisions: list[Decision]) -> list[BaseModel]:
        if self.learners is None:
            self._start()
        env, p, points = self.model.environment, self.params, self.learners.points
        firms = env.params.firms
        weights = [points ** (firms - 1 - i) for i in range(firms)]
        profiles: dict[int, int] = {}  # market -> last period's profile, read once per market
        slots, states, firm_of, learning = [], [], [], []
        for decision in decisions:
            market, firm = env.place[decision.agent.unique_id]
            profile = profiles.get(market)
            if profile is None:
                last = env.last_choices(decision.observation)
                profile = profiles[market] = self.start_profile[market] if last is None else sum(
                    env.grid_index(i, v) * w for i, (v, w) in enumerate(zip(last, weights, strict=True)))
            slot, state = self.slot[decision.agent.unique_id], int(self.state_of[firm, profile])
            if not p.frozen and slot in self.previous:
                played = (profile // weights[firm]) % points
                learning.append((slot, self.previous[slot], played, decision.agent.specified_reward, state))
            slots.append(slot)
            states.append(state)
            firm_of.append(firm)
        if learning:
            self.learners.learn(*(np.array(column) for column in zip(*learning, strict=True)))
        slots_array = np.array(slots, dtype=np.int64)
        explore = np.zeros(len(slots)) if p.frozen else np.exp(-p.beta * self.clock[slots_array])
        actions = self.learners.choose(slots_array, np.array(states), explore, self.model.rng)
        if not p.frozen:
            self.clock[slots_array] += 1
        self.previous.update(zip(slots, states, strict=True))
        return [decision.answer(**{env.field: env.choice_lists[firm][action]})
                for decision, firm, action in zip(decisions, firm_of, actions.tolist(), strict=True)]

    def on_report(self, decision: Decision) -> BaseModel:
        """Report whenever asked: it costs nothing and spares the first reporter the fine."""
        return decision.answer(report=True)

    @classmethod
    def summary(cls, model: SocietyModel) -> dict[str, float]:
        """Training over every group using this policy: periods to convergence, the share that converged, and the
        trainer's speed."""
        runs = [policy.training for policy in model.policies.values()
                if isinstance(policy, cls) and policy.training is not None]
        if not runs:
            return {}
        periods = np.concatenate([r.periods for r in runs])
        converged = np.concatenate([r.converged for r in runs])
        seconds = sum(r.seconds for r in runs)
        return {"q_training_periods": float(periods.mean()), "q_converged_share": float(converged.mean()),
                "q_periods_per_second": float(periods.sum() / seconds) if seconds > 0 else math.nan}


def _progress(model: SocietyModel, sessions: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=sessions, desc="Q-learning: markets trained", unit="market", leave=False,
                disable=not model.progress)
