"""Roth-Erev reinforcement learning (Roth & Erev 1995; Erev & Roth 1998, American Economic Review 88(4)).

Each agent keeps a propensity q_j for every candidate action j and chooses j with probability q_j / Σ_k q_k.
After choosing k and earning x (its specified reward once institutions have acted: fines and punishment
included), every action of that step's menu is updated:

    q_j ← (1 − φ) q_j + E_j,   E_j = R (1 − ε)       if j = k,
                               E_j = R ε / (M − 1)   otherwise,   R = x − x_min,

φ forgetting, ε experimentation (spill-over to the M − 1 other actions), x_min the reference payoff; q_j is
kept at least ν (the 1998 model's cut-off), so a loss cannot make a propensity negative. It reads no rules:
an institution reaches it only through what its actions earn.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from agents.policy import POLICIES, ScriptedPolicy
from sim.component import Params
from sim.incentives import action_key
from sim.step import Decision


class RothErevParams(Params):
    forgetting: float = Field(0.1, ge=0, le=1, description="φ: the share of every propensity forgotten each step.")
    experimentation: float = Field(0.2, ge=0, le=1, description="ε: the share of the reinforcement spilled over "
                                                                "to the other actions of the menu.")
    initial: float = Field(1.0, gt=0, description="q_j(1): every action's propensity before any experience.")
    reference: float = Field(0.0, description="x_min: a payoff x reinforces by x − x_min.")
    floor: float = Field(1e-4, gt=0, description="ν: no propensity falls below this.")


def reinforce(
    propensities: dict[Any, float], menu: list[Any], chosen: Any, reward: float, params: RothErevParams,
) -> None:
    """One Roth-Erev update of ``propensities`` (in place) over ``menu`` after ``chosen`` earned ``reward``."""
    strength = reward - params.reference
    spill = strength * params.experimentation / (len(menu) - 1) if len(menu) > 1 else 0.0
    for key in menu:
        gain = strength * (1 - params.experimentation) if key == chosen else spill
        q = (1 - params.forgetting) * propensities.get(key, params.initial) + gain
        propensities[key] = max(params.floor, q)


@POLICIES.register("roth_erev")
class RothErev(ScriptedPolicy):
    """Chooses among the environment's candidate actions in proportion to its propensities, and reinforces what
    it chose by what it earned."""

    Params = RothErevParams

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.propensities: dict[int, dict[Any, float]] = {}
        self.last: dict[int, tuple[Any, list[Any]]] = {}

    def learn(self, decision: Decision) -> None:
        """Reinforce last step's choice by the reward the agent settled with."""
        agent = decision.agent
        if agent.unique_id not in self.last:
            return
        chosen, menu = self.last.pop(agent.unique_id)
        reinforce(self.propensities.setdefault(agent.unique_id, {}), menu, chosen, agent.specified_reward,
                  self.params)

    def on_act(self, decision: Decision) -> BaseModel:
        self.learn(decision)
        candidates = self.model.environment.candidates(decision.agent, decision.schema)
        if not candidates:
            return decision.fallback
        keys = [action_key(a) for a in candidates]
        own = self.propensities.setdefault(decision.agent.unique_id, {})
        q = np.array([own.get(k, self.params.initial) for k in keys])
        index = int(self.model.rng.choice(len(keys), p=q / q.sum()))
        self.last[decision.agent.unique_id] = (keys[index], keys)
        return candidates[index]
