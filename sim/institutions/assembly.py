"""An assembly: the agents themselves amend the rules they live under.

After every ``every`` steps the members (the agents of the ``members`` groups, or every agent) meet. The
``menu`` declares what they may amend: parameters of the environment or of institutions, each with the values
(``options``, or ``levels`` evenly spaced values from ``low`` to ``high``) that may be proposed. First every
member proposes a value for every item on the menu (phase ``assembly_propose``); then, item by item, the
members vote among the values proposed and the value in force (phase ``assembly_vote``), by plurality or by
Borda count (`sim.institutions.voting`); a tie goes to the value in force, then to the lowest. Each winner that
differs from the value in force becomes an amendment (`sim.amendments`, ``who: assembly``) in force from the
next step; the tallies are ``assembly_vote`` events.

With members who vote sincerely and preferences single-peaked along an item's values (as a `sincere` member's
distance to its ideal is), every member's ideal is a candidate, and the median ideal beats every other candidate
in a pairwise majority vote (Black 1948): the Condorcet winner. Plurality picks the most-proposed value instead,
and Borda the candidate closest to all members in rank; both can miss the median.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, create_model, model_validator

from sim.amendments import Amendment, amended_params, read_setting
from sim.component import Params, Problem
from sim.errors import UserError
from sim.institutions.base import INSTITUTIONS, Institution
from sim.institutions.policy_choice import label
from sim.institutions.voting import borda, plurality
from sim.scenario_checks import position, unknown_groups
from sim.schemas import schema_builder
from sim.step import Observation, StepContext

if TYPE_CHECKING:
    from agents.agent import SocietyAgent
    from sim.scenario import Scenario

PROPOSE, VOTE = "assembly_propose", "assembly_vote"


@runtime_checkable
class Preferences(Protocol):
    """An environment that knows what each agent wants a parameter to be (what a sincere member proposes)."""

    def ideal_setting(self, agent: SocietyAgent, target: str, parameter: str) -> float | None: ...


class MenuItem(Params):
    target: str = Field("environment", description="What the amendment changes: 'environment', an institution's "
                                                   "kind, or 'institutions.N' (as amendments name them).")
    parameter: str = Field(min_length=1, description="The parameter; dotted inside a list, e.g. 'specification.2'.")
    options: list[float] | None = Field(None, min_length=2, description="The values members may propose.")
    low: float | None = Field(None, description="With `high` and `levels`: the values low, ..., high.")
    high: float | None = Field(None, description="The highest value members may propose.")
    levels: int = Field(5, ge=2, description="How many evenly spaced values from low to high.")

    @model_validator(mode="after")
    def _one_range(self) -> MenuItem:
        ranged = self.low is not None or self.high is not None
        if (self.options is None) == (not ranged) or (ranged and (self.low is None or self.high is None)):
            raise ValueError("give either options or both low and high")
        if ranged and self.low >= self.high:
            raise ValueError(f"low {self.low:g} must be below high {self.high:g}")
        return self

    @property
    def name(self) -> str:
        """'environment.specification.2': how ballots, events and observations name the item."""
        return f"{self.target}.{self.parameter}"

    def values(self) -> list[float]:
        if self.options is not None:
            return sorted(set(self.options))
        return [round(float(v), 10) for v in np.linspace(self.low, self.high, self.levels)]


class AssemblyParams(Params):
    every: int = Field(3, ge=1, description="The assembly meets after every this many steps.")
    method: Literal["plurality", "borda"] = Field("plurality", description="How each item's ballots are counted.")
    members: list[str] = Field([], description="Population groups whose agents sit in the assembly (empty: all).")
    menu: list[MenuItem] = Field(min_length=1, description="What the assembly may amend, and to which values.")

    @model_validator(mode="after")
    def _items_distinct(self) -> AssemblyParams:
        names = [item.name for item in self.menu]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"menu: each parameter once; repeated: {', '.join(repeated)}")
        return self


def field_name(item_name: str) -> str:
    """A ballot field for a menu item: 'environment.specification.2' -> 'environment_specification_2'."""
    return re.sub(r"\W", "_", item_name)


@schema_builder
def proposal_schema(items: tuple[tuple[str, str, tuple[str, ...]], ...]) -> type[BaseModel]:
    """One field per item (field, item name, values): the value this member proposes."""
    fields: dict[str, Any] = {
        field: (Literal[values], Field(description=f"The value you propose for {name}."))
        for field, name, values in items
    }
    return create_model("Proposal", __doc__="The value you propose for each item on the menu.", **fields)


@schema_builder
def ballot_schema(items: tuple[tuple[str, str, tuple[str, ...]], ...], method: str) -> type[BaseModel]:
    """One field per item put to the vote (field, item name, candidates): a choice, or a ranking for Borda."""
    fields: dict[str, Any] = {}
    for field, name, candidates in items:
        if method == "plurality":
            fields[field] = (Literal[candidates], Field(description=f"The value you vote for, for {name}."))
        else:
            fields[field] = (list[Literal[candidates]], Field(min_length=1, max_length=len(candidates),
                                                              description=f"The values for {name}, best first."))
    return create_model("Ballot", __doc__="Your vote on each item, among the values proposed.", **fields)


def _listed(target: str, kinds: list[str]) -> int | str | None:
    """Where the institution ``target`` is listed (None: the environment), or why it cannot be found."""
    if target == "environment":
        return None
    if target.startswith("institutions."):
        number = target.removeprefix("institutions.")
        return int(number) if number.isdigit() and int(number) < len(kinds) else (
            f"'{target}': there are {len(kinds)} institutions")
    matches = [i for i, kind in enumerate(kinds) if kind == target]
    if len(matches) != 1:
        return (f"no institution '{target}' is listed" if not matches else
                f"{len(matches)} institutions of kind '{target}': name one as institutions.N")
    return matches[0]


@INSTITUTIONS.register("assembly")
class Assembly(Institution):
    """Members who propose and vote on amendments from a declared menu, every few steps."""

    Params = AssemblyParams
    phase = PROPOSE

    @classmethod
    def check(cls, params: AssemblyParams, scenario: Scenario) -> Iterator[Problem]:
        """Members that are groups; each item a number in force of a component listed before the assembly (so a
        step is settled under the rules it began with), and every value on the menu one the component accepts."""
        yield from unknown_groups(scenario, "members", params.members)
        me = position(scenario, params)
        kinds = [spec.kind for spec in scenario.institutions]
        for index, item in enumerate(params.menu):
            where = ("menu", index)
            listed = _listed(item.target, kinds)
            if isinstance(listed, str):
                yield Problem((*where, "target"), listed)
                continue
            if listed is not None and listed > me:
                yield Problem((*where, "target"), f"list '{item.target}' before 'assembly', so that a step is settled "
                              "under the rules it began with before the assembly amends them")
            target = scenario.environment if listed is None else scenario.institutions[listed]
            fields = [f for f in type(target).model_fields if f != "kind"]
            if item.parameter.split(".")[0] not in fields:
                yield Problem((*where, "parameter"), f"'{item.parameter}' is not a parameter of '{item.target}' "
                              f"(it has: {', '.join(fields)})")
                continue
            try:
                current = read_setting(target, item.parameter, item.target)
            except UserError as exc:
                yield Problem((*where, "parameter"), str(exc))
                continue
            if not isinstance(current, int | float) or isinstance(current, bool):
                yield Problem((*where, "parameter"), f"{item.name} is {current!r}, not a number")
                continue
            for value in item.values():
                try:
                    amended_params(target, {item.parameter: value}, item.target)
                except UserError as exc:
                    yield Problem(where, f"{label(value)} is not a valid {item.name}: {exc}")
                    break

    def setup(self) -> None:
        self.candidates: dict[str, list[str]] | None = None  # while a vote is open
        self._agenda: tuple[int, dict[str, tuple[str, list[str]]]] | None = None
        self.meetings = 0
        self.amended = 0

    def _amendment(self, target: str, settings: dict[str, float], step: int) -> Amendment:
        return Amendment(step=step, who="assembly", target=target, set=settings)

    # -- the menu ----------------------------------------------------------------------------------
    def in_force(self, item: MenuItem) -> Any:
        return self.model.amendments.setting(item.target, item.parameter)

    def options(self, item: MenuItem) -> list[str]:
        """The values a member may propose for ``item``: the menu's and the one in force, ascending."""
        return [label(v) for v in sorted({*item.values(), float(self.in_force(item))})]

    def agenda(self) -> dict[str, tuple[str, list[str]]]:
        """Per item: the value in force and the values that may be proposed, worked out once a step."""
        if self._agenda is None or self._agenda[0] != self.model.steps:
            self._agenda = (self.model.steps, {i.name: (label(float(self.in_force(i))), self.options(i))
                                               for i in self.params.menu})
        return self._agenda[1]

    def meets(self) -> bool:
        return self.model.steps % self.params.every == 0

    def sits(self, agent: SocietyAgent) -> bool:
        return not self.params.members or agent.group in self.params.members

    def ideal(self, agent: SocietyAgent, item: MenuItem) -> float | None:
        environment = self.model.environment
        return environment.ideal_setting(agent, item.target, item.parameter) if isinstance(
            environment, Preferences) else None

    def briefing(self) -> str:
        p = self.params
        who = ", ".join(p.members) if p.members else "all agents"
        how = ("name the value you want; the value named most often wins" if p.method == "plurality" else
               "rank the values from best to worst; a value gets one point less for each place lower, and the "
               "value with the most points wins")
        items = "; ".join(f"{i.name} (one of {', '.join(label(v) for v in i.values())})" for i in p.menu)
        return (
            f"Assembly: after every {p.every} step(s) the assembly ({who}) may amend the rules: {items}. First "
            "each member proposes a value for each; then, for each, the members vote among the values proposed "
            f"and the value in force: each member must {how}. A tie keeps the value in force. What wins is in "
            "force from the next step."
        )

    def observe(self, agent: SocietyAgent, observation: Observation) -> None:
        """On a meeting step, a member sees the menu (or, once the proposals are in, the candidates), the values
        in force and, where the environment knows them, its own ideals."""
        if not self.meets() or not self.sits(agent):
            return
        agenda = self.agenda()
        view: dict[str, Any] = {
            "method": self.params.method,
            "in_force": {name: current for name, (current, _) in agenda.items()},
            "fields": {field_name(name): name for name in agenda},
        }
        if self.candidates is None:
            view["menu"] = {name: options for name, (_, options) in agenda.items()}
        else:
            view["candidates"] = dict(self.candidates)
        ideals = {i.name: self.ideal(agent, i) for i in self.params.menu}
        if any(v is not None for v in ideals.values()):
            view["your_ideal"] = {name: round(v, 4) for name, v in ideals.items() if v is not None}
        observation.private["assembly"] = view

    # -- proposals ---------------------------------------------------------------------------------
    def open_phase(self, agents: list[SocietyAgent]) -> list[SocietyAgent]:
        return [a for a in agents if self.sits(a)] if self.meets() else []

    def phase_schema(self, agent: SocietyAgent) -> type[BaseModel]:
        return proposal_schema(tuple((field_name(name), name, tuple(options))
                                     for name, (_, options) in self.agenda().items()))

    def phase_fallback(self, agent: SocietyAgent) -> BaseModel:
        """No valid proposal proposes the values in force."""
        return self.phase_schema(agent)(**{field_name(name): current
                                           for name, (current, _) in self.agenda().items()})

    # -- the vote ----------------------------------------------------------------------------------
    def ballot(self, agent: SocietyAgent) -> type[BaseModel]:
        assert self.candidates is not None
        items = tuple((field_name(name), name, tuple(c)) for name, c in self.candidates.items())
        return ballot_schema(items, self.params.method)

    def ballot_fallback(self, agent: SocietyAgent) -> BaseModel:
        """No valid ballot votes for the values in force (the status quo)."""
        assert self.candidates is not None
        first = {field_name(name): (c[0] if self.params.method == "plurality" else [c[0]])
                 for name, c in self.candidates.items()}
        return self.ballot(agent)(**first)

    def enforce(self, ctx: StepContext) -> None:
        proposals = ctx.phase_actions.get(PROPOSE, {})
        if not proposals:
            return
        self.meetings += 1
        menu = {i.name: i for i in self.params.menu}
        self.candidates = {}
        for name, (current, _) in self.agenda().items():
            proposed = {getattr(p, field_name(name)) for p in proposals.values()} - {current}
            if proposed:  # the value in force first: ties go to it, then to the lowest
                self.candidates[name] = [current, *sorted(proposed, key=float)]
        if not self.candidates:
            self.candidates = None
            return
        members = [self.model.agent(a) for a in proposals]
        try:
            ballots = self.model.decide(VOTE, members, self.ballot, self.ballot_fallback)
        finally:
            candidates, self.candidates = self.candidates, None
        changes: dict[str, dict[str, float]] = {}
        for name, options in candidates.items():
            field = field_name(name)
            if self.params.method == "plurality":
                winner, scores = plurality((getattr(b, field) for b in ballots.values()), options)
            else:
                rankings = (list(dict.fromkeys(getattr(b, field))) for b in ballots.values())
                winner, scores = borda(rankings, options)
            tally = ", ".join(f"{option}: {score:g}" for option, score in scores.items())
            ctx.emit("assembly_vote", value=float(winner), detail=f"{name}: {self.params.method}: {winner} wins "
                                                                  f"({tally})")
            if winner != options[0]:
                item = menu[name]
                changes.setdefault(item.target, {})[item.parameter] = float(winner)
        for target, settings in changes.items():
            self.model.amendments.apply(self._amendment(target, settings, ctx.step + 1), record=False)
            self.amended += 1

    # -- metrics ---------------------------------------------------------------------------------
    def summary(self, model_table: pd.DataFrame, agent_table: pd.DataFrame) -> dict[str, float]:
        return {"assembly_meetings": float(self.meetings), "assembly_amendments": float(self.amended)}
