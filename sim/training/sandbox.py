"""A sandbox: the environment and institutions of a model, copied, for resolving steps that did not happen.

`Sandbox.of(model)` copies the components' state once (before a step resolves); `Sandbox.fork()` then gives a
fresh copy of that copy for each counterfactual, bound to a `CounterfactualModel` that answers for the real
model: it reads the real agents, network and scenario, and has random streams of its own, so nothing a
counterfactual does reaches the real run's state or its random draws.

Copies are made by `Forker`, which copies dicts, lists and sets of plain values at C speed (``dict.copy``) and
the components' own objects attribute by attribute, keeps what is read-only by contract (pydantic models:
parameters, actions, the scenario; agents, policies, networks, classes, functions) shared, and hands anything
else to ``copy.deepcopy``. A fork costs about what the components hold (a few dicts of one entry per agent),
not a deep copy of the model. Functions are shared too: a component must not keep a closure over its own state
between steps (none does), or a counterfactual would reach the real one through it.
"""

from __future__ import annotations

import copy
import random
import types
from typing import TYPE_CHECKING, Any

import numpy as np
from mesa.agent import AgentSet
from pydantic import BaseModel

from agents.agent import SocietyAgent
from agents.policy import Policy
from sim.errors import UserError
from sim.network import Network

if TYPE_CHECKING:
    from sim.model import SocietyModel

ATOMIC = frozenset({
    int, float, bool, complex, str, bytes, type(None), range, slice, type, types.FunctionType,
    types.BuiltinFunctionType, types.BuiltinMethodType, np.int64, np.int32, np.float64, np.float32, np.bool_,
})
SHARED = (BaseModel, SocietyAgent, Policy, Network, AgentSet)
REFUSED = frozenset({"asker", "llm", "decide", "amendments"})


class CounterfactualError(UserError):
    """A component reached for something a counterfactual step cannot do (ask the LLM, amend the rules)."""


class CounterfactualModel:
    """Stands in for the real model inside a sandbox: its own ``environment``, ``institutions`` and random streams,
    everything else read from the real model; asking the LLM or amending the rules is refused."""

    def __init__(self, model: SocietyModel) -> None:
        self._model = model
        self.rng = copy.deepcopy(model.rng)
        self.random = random.Random()
        self.environment: Any = None
        self.institutions: list[Any] = []

    @property
    def components(self) -> list[Any]:
        return [self.environment, *self.institutions]

    def __getattr__(self, name: str) -> Any:
        if name in REFUSED:
            raise CounterfactualError(
                f"it uses model.{name} while it resolves or enforces a step (it asks the LLM or changes the rules), "
                "which a counterfactual step cannot replay; drop `candidates` from the LLM groups, or that component"
            )
        return getattr(self._model, name)


class Forker:
    """Copies one object graph with one memo, so that references between copied objects stay references."""

    def __init__(self, memo: dict[int, Any]) -> None:
        self.memo = memo

    def fork(self, value: Any) -> Any:
        kind = type(value)
        if kind in ATOMIC:
            return value
        found = self.memo.get(id(value), self)
        if found is not self:
            return found
        if kind is dict:
            if ATOMIC.issuperset(map(type, value.values())):
                made: Any = value.copy()
            else:
                made = self.memo[id(value)] = {}
                for key, item in value.items():
                    made[key] = self.fork(item)
        elif kind is list:
            if ATOMIC.issuperset(map(type, value)):
                made = value.copy()
            else:
                made = self.memo[id(value)] = []
                made.extend(map(self.fork, value))
        elif kind is set or kind is frozenset or kind is tuple:
            made = value if ATOMIC.issuperset(map(type, value)) else kind(map(self.fork, value))
        elif kind is np.ndarray:
            made = value.copy()
        elif isinstance(value, (*SHARED, CounterfactualModel)):
            return value
        elif kind is types.MethodType:
            made = types.MethodType(value.__func__, self.fork(value.__self__))
        elif hasattr(value, "__dict__") and not hasattr(kind, "__slots__") and not hasattr(value, "__deepcopy__"):
            made = self.memo[id(value)] = object.__new__(kind)
            made.__dict__.update(self.fork(value.__dict__))
        else:
            made = copy.deepcopy(value, self.memo)
        self.memo[id(value)] = made
        return made


class Sandbox:
    """The environment and institutions of ``model`` as they stood when it was made, to be forked."""

    def __init__(self, model: SocietyModel, stand_in: CounterfactualModel, components: list[Any]) -> None:
        self.model = model
        self.stand_in = stand_in
        self.components = components

    @classmethod
    def of(cls, model: SocietyModel) -> Sandbox:
        stand_in = CounterfactualModel(model)
        components = Forker({id(model): stand_in}).fork(model.components)
        return cls(model, stand_in, components)

    def fork(self) -> CounterfactualModel:
        """A fresh copy of the sandboxed components, bound to the stand-in model (and made its components)."""
        environment, *institutions = Forker({}).fork(self.components)
        self.stand_in.environment, self.stand_in.institutions = environment, institutions
        return self.stand_in
