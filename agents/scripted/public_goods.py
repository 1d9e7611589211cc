"""Reference players of the public goods game: the types behind Fehr & Gächter's (2000) pattern.

- ``selfish``: the money-maximiser. Keeping a token is worth 1, giving it returns ``mpcr`` < 1 whatever the
  others do, so it contributes 0 in every period (the Nash equilibrium, also of the finitely repeated game),
  never pays to punish, and ignores costly rules.
- ``conditional``: a conditional cooperator (Fischbacher, Gächter & Fehr 2001): gives ``first`` in period 1,
  then ``slope`` × what the others in its group gave on average last period. Once punished, it has learnt what
  the group expects: from then on it gives at least the largest contribution it saw in the period it was
  punished. It keeps every rule with a field of its own (silly rules).
- ``punisher``: an altruistic punisher (Fehr & Gächter 2002). Where it can punish, it gives ``contribute``
  (the endowment) and punishes each peer by ``ceil(shortfall / per_point)`` points for giving less than it
  did, or ``per_violation`` points per rule it judges broken; where it cannot punish, it is a conditional
  cooperator like the others.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from itertools import repeat
from typing import Any

from pydantic import BaseModel, Field

from agents.policy import POLICIES, ScriptedPolicy
from sim.component import Params
from sim.step import Decision


def last_group_contributions(decision: Decision) -> dict[int, int]:
    """What the agent's group of last period gave: its group's view under partner matching (the same group), its
    own under stranger matching (see `PublicGoods.observe`)."""
    observation = decision.observation
    private = observation.private
    if "last_group_contributions" in private:
        return private["last_group_contributions"]
    given = observation.local.get("last_group_contributions")
    return {} if given is None else given


def punishable(decision: Decision) -> Iterable[tuple[int, list[str] | None]]:
    """Whom the agent may punish, each with the rules it judges them to have broken (None without norms): its
    ``may_punish``, or where nothing judges (no norms, no monitoring) the rest of its group (`Sanctions.observer`)."""
    observation = decision.observation
    may_punish = observation.private.get("may_punish")
    if may_punish is None:
        me = decision.agent.unique_id
        return [(j, None) for j in observation.local["group"] if j != me]
    return may_punish.items() if isinstance(may_punish, dict) else zip(may_punish, repeat(None))


def own_rule_fields(decision: Decision) -> dict[str, Any]:
    """Values that keep every rule with a yes/no field of its own (the choices norms add to the action)."""
    rules = decision.observation.public.get("norms", [])
    return {r["field"]: r["value"] if r["op"] == "==" else not r["value"] for r in rules if r["own_field"]}


def per_schema(decisions: list[Decision], answer: Callable[[Decision], BaseModel]) -> list[BaseModel]:
    """``answer(decision)`` for each decision, made once per schema: for an answer that depends on nothing else (an
    ``on_<phase>_batch`` that reads only what the phase shows every agent alike)."""
    made: dict[type[BaseModel], BaseModel] = {}
    answers = []
    for decision in decisions:
        made_once = made.get(decision.schema)
        if made_once is None:
            made_once = made[decision.schema] = answer(decision)
        answers.append(made_once)
    return answers


@POLICIES.register("selfish")
class Selfish(ScriptedPolicy):
    """Contributes nothing, keeps no costly rule, and never punishes (no ``on_sanction``: the fallback, 0 points)."""

    environments = ("public_goods",)
    reads_institutions = False
    observes = False

    def on_act(self, decision: Decision) -> BaseModel:
        return decision.answer(contribute=0)

    def on_act_batch(self, decisions: list[Decision]) -> list[BaseModel]:
        """`on_act` for a slice of a phase: one answer per schema."""
        return per_schema(decisions, self.on_act)


class ConditionalParams(Params):
    first: int = Field(10, ge=0, description="Contribution in period 1 (capped at the endowment).")
    slope: float = Field(1.0, ge=0, description="Contribution per token the others gave on average last period.")


@POLICIES.register("conditional_cooperator")
class ConditionalCooperator(ScriptedPolicy):
    """Matches the others' average of last period; after being punished, never gives less than it saw given."""

    environments = ("public_goods",)

    Params = ConditionalParams

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.floor: dict[int, int] = {}

    def matched(self, decision: Decision) -> int:
        """``slope`` × the others' mean contribution last period (``first`` with no history)."""
        me, given = decision.agent.unique_id, last_group_contributions(decision)
        others = len(given) - (me in given)
        if not others:
            return self.params.first
        return round(self.params.slope * (sum(given.values()) - given.get(me, 0)) / others)

    def contribution(self, decision: Decision) -> int:
        me, private = decision.agent.unique_id, decision.observation.private
        floor = self.floor.get(me, 0)
        if private.get("points_received_last"):
            seen = max(last_group_contributions(decision).values(), default=0)
            floor = self.floor[me] = max(floor, seen)
        return max(self.matched(decision), floor)

    def on_act(self, decision: Decision) -> BaseModel:
        give = min(self.contribution(decision), decision.observation.public["endowment"])
        return decision.answer(contribute=give, **own_rule_fields(decision))

    def on_act_batch(self, decisions: list[Decision]) -> list[BaseModel]:
        """`on_act` for a slice of a phase: the endowment and the rules (the public part, alike for all) are read
        once, and each distinct answer is made once."""
        if not decisions:
            return []
        endowment, rules = decisions[0].observation.public["endowment"], own_rule_fields(decisions[0])
        contribution, made = self.contribution, {}
        answers = []
        for decision in decisions:
            give = min(contribution(decision), endowment)
            answer = made.get((decision.schema, give))
            if answer is None:
                answer = made[decision.schema, give] = decision.answer(contribute=give, **rules)
            answers.append(answer)
        return answers


class PunisherParams(ConditionalParams):
    contribute: int | None = Field(None, ge=0, description="What it gives where it can punish (the endowment).")
    per_point: float = Field(5.0, gt=0, description="Tokens of shortfall below its own contribution per point.")
    per_violation: int = Field(2, ge=0, description="Points per rule it judges a target to have broken.")


@POLICIES.register("punisher")
class AltruisticPunisher(ConditionalCooperator):
    """Gives a lot and punishes those who give less or break rules, at its own cost."""

    environments = ("public_goods",)

    Params = PunisherParams

    def contribution(self, decision: Decision) -> int:
        public = decision.observation.public
        if "punishment" not in public:
            return super().contribution(decision)
        return public["endowment"] if self.params.contribute is None else self.params.contribute

    def on_act_batch(self, decisions: list[Decision]) -> list[BaseModel]:
        """`on_act` for a slice of a phase. Where it can punish, what it gives depends on the public part alone,
        alike for all of its agents: worked out once."""
        if not decisions or "punishment" not in decisions[0].observation.public:
            return super().on_act_batch(decisions)
        first = decisions[0]
        give = min(self.contribution(first), first.observation.public["endowment"])
        rules = own_rule_fields(first)
        return per_schema(decisions, lambda decision: decision.answer(contribute=give, **rules))

    def on_sanction(self, decision: Decision) -> BaseModel:
        """Points for those who gave less or broke rules; none for the others (0, the default, is left out)."""
        points = self.points(decision, decision.observation.public["punishment"]["max_points"])
        return decision.schema(**points) if points else decision.answer()

    def on_sanction_batch(self, decisions: list[Decision]) -> list[BaseModel]:
        """`on_sanction` for a slice of a phase: the cap on points (the public part, alike for all) is read once, and
        the answer of no points is made once per schema."""
        if not decisions:
            return []
        most, points_of = decisions[0].observation.public["punishment"]["max_points"], self.points
        none: dict[type[BaseModel], BaseModel] = {}
        answers = []
        for decision in decisions:
            if points := points_of(decision, most):
                answers.append(decision.schema(**points))
                continue
            answer = none.get(decision.schema)
            if answer is None:
                answer = none[decision.schema] = decision.answer()
            answers.append(answer)
        return answers

    def points(self, decision: Decision, most: int) -> dict[str, int]:
        """The points it gives each target (at most ``most``), by field name; those it gives none are left out."""
        per_violation, per_point = self.params.per_violation, self.params.per_point
        given = decision.observation.local["group_contributions"]
        mine = given.get(decision.agent.unique_id, 0)
        points = {}
        for target, broken in punishable(decision):
            if broken is not None:
                owed = per_violation * len(broken)
            else:
                shortfall = mine - given.get(target, 0)
                owed = math.ceil(shortfall / per_point) if shortfall > 0 else 0
            if owed:
                points[f"agent_{target}"] = min(most, owed)
        return points
