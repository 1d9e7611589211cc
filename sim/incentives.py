"""What institutions make an action cost, in expectation: the interface incentive-responsive policies read.

A rule-based agent cannot read the rules' text the way an LLM does, so every institution answers one question
in numbers instead: `Institution.expected_penalty(agent, action)`, what taking ``action`` now is expected to
cost ``agent`` under it. Norms answer with the compliance cost of the rules that add a choice of their own,
sanctions with the fine times the chance a violation is detected (and the punishment peers have inflicted so
far per detected violation), reputation with the expected number of entries on the public record. Summed over
the institutions in force (`expected_penalty`), this is what a best response subtracts from the environment's
`Environment.expected_reward`.

`candidate_actions` lists the actions such a policy weighs: every value of every bounded field of the phase's
action schema (integers one by one, numbers on a grid, booleans, choices), crossed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ValidationError

from sim.errors import UserError
from sim.schemas import json_schema_of

if TYPE_CHECKING:
    from agents.agent import SocietyAgent
    from sim.model import SocietyModel

# An integer range with more values than this is sampled on a grid of `levels` points instead of one by one.
MAX_INTEGER_VALUES = 201
# The most candidate actions one decision may weigh (the product over fields).
MAX_CANDIDATES = 20_000


@dataclass(frozen=True)
class Penalty:
    """The expected cost of one action under the institutions in force.

    ``payoff``: expected loss of payoff this step (fines, punishment, compliance costs), in the environment's
    units. ``record``: expected entries on a public record (detected violations), which only a policy that
    puts a price on its reputation turns into payoff.
    """

    payoff: float = 0.0
    record: float = 0.0

    def __add__(self, other: Penalty) -> Penalty:
        return Penalty(self.payoff + other.payoff, self.record + other.record)

    def cost(self, reputation_price: float = 0.0) -> float:
        """The penalty in payoff units, each expected record entry priced at ``reputation_price``."""
        return self.payoff + reputation_price * self.record


def expected_penalty(model: SocietyModel, agent: SocietyAgent, action: BaseModel) -> Penalty:
    """The sum of every institution's `expected_penalty` for ``agent`` taking ``action`` now."""
    total = Penalty()
    for institution in model.institutions:
        total = total + institution.expected_penalty(agent, action)
    return total


def net_value(model: SocietyModel, agent: SocietyAgent, action: BaseModel, reputation_price: float = 0.0) -> float:
    """What ``action`` is worth to ``agent`` this step as far as it can tell: the environment's expected reward
    less every institution's expected penalty (record entries at ``reputation_price`` each)."""
    penalty = expected_penalty(model, agent, action)
    return model.environment.expected_reward(agent, action) - penalty.cost(reputation_price)


def field_values(spec: dict[str, Any], levels: int = 11) -> list[Any] | None:
    """The values a policy weighs for one field of a JSON schema; None when the field is unbounded."""
    if "enum" in spec:
        return list(spec["enum"])
    if "const" in spec:
        return [spec["const"]]
    if "anyOf" in spec:
        options = [field_values(option, levels) for option in spec["anyOf"]]
        if any(o is None for o in options):
            return None
        return list(dict.fromkeys(v for o in options for v in o))
    kind = spec.get("type")
    if kind == "boolean":
        return [False, True]
    if kind == "null":
        return [None]
    if kind in ("integer", "number") and "maximum" in spec:
        low, high = spec.get("minimum", 0), spec["maximum"]
        if kind == "integer" and high - low + 1 <= MAX_INTEGER_VALUES:
            return list(range(int(low), int(high) + 1))
        grid = np.linspace(low, high, levels)
        return [int(x) for x in np.unique(np.rint(grid))] if kind == "integer" else [float(x) for x in grid]
    return None


def candidate_actions(
    schema: type[BaseModel], fixed: dict[str, Any] | None = None, levels: int = 11,
) -> list[BaseModel]:
    """Every combination of the values of the schema's bounded fields, as validated actions, in a stable order.

    ``fixed`` gives fields their value instead (an environment's own candidates for fields the schema cannot
    bound, such as an allocation list); fields neither bounded nor fixed must have a default.
    """
    fixed = dict(fixed or {})
    json_schema = json_schema_of(schema)
    properties = json_schema.get("properties", {})
    axes: dict[str, list[Any]] = {}
    for name, spec in properties.items():
        if name in fixed:
            continue
        values = field_values(_resolve(spec, json_schema), levels)
        if values is None:
            if schema.model_fields[name].is_required():
                raise UserError(f"action field '{name}' has no bounds, so its candidate values cannot be listed; "
                                "the environment must propose candidates for it")
            continue
        axes[name] = values
    size = int(np.prod([len(v) for v in axes.values()])) if axes else 1
    if size > MAX_CANDIDATES:
        raise UserError(f"the action schema has {size} candidate actions (more than {MAX_CANDIDATES}); "
                        "bound or coarsen its fields")
    actions = []
    for combination in itertools.product(*axes.values()):
        try:
            actions.append(schema.model_validate({**fixed, **dict(zip(axes, combination, strict=True))}))
        except ValidationError:
            continue
    return actions


def _resolve(spec: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow a ``$ref`` into the schema's ``$defs`` (enums of Literal types are referenced there)."""
    ref = spec.get("$ref")
    if ref is None:
        return spec
    return root.get("$defs", {}).get(ref.rsplit("/", 1)[-1], spec)


def action_key(action: BaseModel) -> tuple:
    """A hashable identity of an action: its field values in field order (lists become tuples)."""
    return tuple(tuple(v) if isinstance(v, list) else v for v in action.model_dump().values())
