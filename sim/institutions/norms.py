"""Norms: rules of conduct, each a predicate over an agent's action, important or silly.

A rule names an action field, a comparison and a value: ``contribute >= 10`` in the public goods game. A rule
may name a field the environment does not have (``wear_hat == true``); the rule then adds that yes/no choice
to every agent's action, and complying costs ``cost`` per step. Important rules protect welfare; silly rules
(Hadfield-Menell, Andrus & Hadfield 2019) have no direct effect on it beyond their compliance cost. Every
rule's text joins the shared rules of every prompt.

Norms only say what counts as a violation; whether it is seen, judged and punished is up to ``monitoring``,
``classification`` and ``sanctions``.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, model_validator

from sim.component import Params, Problem
from sim.environments.base import ENVIRONMENTS
from sim.incentives import Penalty
from sim.institutions.base import INSTITUTIONS, Institution
from sim.step import StepContext

if TYPE_CHECKING:
    from agents.agent import SocietyAgent
    from sim.scenario import Scenario

COMPARISONS = {"<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne, ">=": operator.ge,
               ">": operator.gt}


class Norm(Params):
    """One norm in force: the rule as agents read it, and the action field its compliance is judged on."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Short identifier, e.g. 'contribute_half'.")
    text: str = Field(min_length=1, description="The rule as agents read it.")
    field: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="The action field the rule is about.")
    op: Literal["<", "<=", "==", "!=", ">=", ">"] = Field("==", description="Complying means: field op value.")
    value: bool | float = Field(True, description="The value the field is compared with.")
    important: bool = Field(True, description="false marks a silly rule: no direct effect on welfare.")
    cost: float = Field(0.0, ge=0, description="What complying costs per step (only for a rule's own field).")

    def complied(self, action: BaseModel) -> bool:
        return bool(COMPARISONS[self.op](getattr(action, self.field), self.value))


class NormsParams(Params):
    rules: list[Norm] = Field(min_length=1, description="The rules in force.")

    @model_validator(mode="after")
    def _unique_names(self) -> NormsParams:
        names = [r.name for r in self.rules]
        if len(set(names)) < len(names):
            raise ValueError(f"rule names must be unique; got {', '.join(names)}")
        return self


@INSTITUTIONS.register("norms")
class Norms(Institution):
    """Checks every act against every rule and keeps count of compliance."""

    Params = NormsParams
    defines_violations = True
    importance: Mapping[str, bool] = {}  # rule name -> important, kept for rules amended away

    @classmethod
    def check(cls, params: NormsParams, scenario: Scenario) -> Iterator[Problem]:
        """A rule on one of the environment's action fields costs nothing extra; a rule on a field of its own
        adds that field as a yes/no choice, so it compares with true or false."""
        env = scenario.environment.kind
        env_fields = ENVIRONMENTS.get(env).Action.model_fields
        for index, rule in enumerate(params.rules):
            if rule.field in env_fields:
                if rule.cost:
                    yield Problem(("rules", index, "cost"), f"cost is only for a rule with its own field, and "
                                  f"'{rule.field}' is a field of environment '{env}'")
            elif not isinstance(rule.value, bool) or rule.op not in ("==", "!="):
                yield Problem(("rules", index, "field"), f"'{rule.field}' is not a field of environment '{env}' "
                              f"({', '.join(env_fields)}), so the rule adds it as a yes/no choice and needs op "
                              "'==' or '!=' with value true or false")

    def setup(self) -> None:
        self.violations: dict[int, list[str]] = {}
        self.kept: dict[str, list[bool]] = {r.name: [] for r in self.params.rules}
        self.step_kept: dict[str, list[bool]] = {}

    def configure(self) -> None:
        """The yes/no fields the rules add to the action; a rule amended away keeps its record and importance."""
        env_fields = self.model.environment.Action.model_fields
        self.own_fields: dict[str, Norm] = {}
        for rule in self.params.rules:
            if rule.field not in env_fields:
                self.own_fields.setdefault(rule.field, rule)
        self.importance = {**self.importance, **{r.name: r.important for r in self.params.rules}}

    def important(self, name: str) -> bool:
        return self.importance[name]

    def broken(self, action: BaseModel) -> list[str]:
        """The names of the rules ``action`` breaks."""
        return [r.name for r in self.params.rules if not r.complied(action)]

    # -- what agents know and choose -------------------------------------------------------------
    def action_fields(self) -> dict[str, tuple[Any, Any]]:
        return {f: (bool, Field(False, description=r.text)) for f, r in self.own_fields.items()}

    def briefing(self) -> str:
        lines = [f"- {r.text}" + (f" (complying costs {r.cost:g})" if r.cost else "") for r in self.params.rules]
        return "The rules of this community:\n" + "\n".join(lines)

    def observe_public(self, public: dict[str, Any]) -> None:
        public["norms"] = [
            {"name": r.name, "text": r.text, "field": r.field, "op": r.op, "value": r.value, "cost": r.cost,
             "own_field": r.field in self.own_fields}
            for r in self.params.rules
        ]

    def expected_penalty(self, agent: SocietyAgent, action: BaseModel) -> Penalty:
        """The compliance cost of the rules with a choice of their own that ``action`` keeps (certain, not
        expected: `enforce` charges it)."""
        cost = sum(r.cost for r in self.params.rules if r.cost and r.field in self.own_fields and r.complied(action))
        return Penalty(payoff=cost)

    # -- enforcement -----------------------------------------------------------------------------
    def enforce(self, ctx: StepContext) -> None:
        """Record who broke which rule; charge compliance costs of rules with their own field."""
        self.violations = {}
        self.step_kept = {r.name: [] for r in self.params.rules}
        for agent_id, action in ctx.actions.items():
            broken = []
            for rule in self.params.rules:
                kept = rule.complied(action)
                self.step_kept[rule.name].append(kept)
                if not kept:
                    broken.append(rule.name)
                    ctx.emit("violation", agent_id, None, None, rule.name)
                elif rule.cost and rule.field in self.own_fields:
                    ctx.outcome.adjust(agent_id, "norm_cost", -rule.cost, -rule.cost)
            self.violations[agent_id] = broken
        for name, kept in self.step_kept.items():
            self.kept.setdefault(name, []).extend(kept)

    # -- metrics ---------------------------------------------------------------------------------
    def compliance(self, important: bool | None = None, per_rule: dict[str, list[bool]] | None = None) -> float:
        """Share of (agent, rule) checks complied with; only important or only silly rules if asked."""
        per_rule = self.step_kept if per_rule is None else per_rule
        checks = [k for name, kept in per_rule.items() if important is None or self.important(name) == important
                  for k in kept]
        return float(np.mean(checks)) if checks else float("nan")

    def model_reporters(self):
        return {
            "compliance": lambda m: self.compliance(),
            "violations": lambda m: sum(len(v) for v in self.violations.values()),
        }

    def agent_reporters(self):
        return {"violations": lambda a: len(self.violations.get(a.unique_id, [])) if a.active else None}

    def summary(self, model_table: pd.DataFrame, agent_table: pd.DataFrame) -> dict[str, float]:
        return {
            "compliance": self.compliance(per_rule=self.kept),
            "compliance_important": self.compliance(True, self.kept),
            "compliance_silly": self.compliance(False, self.kept),
            **{f"compliance_{name}": float(np.mean(kept)) if kept else float("nan")
               for name, kept in self.kept.items()},
        }
