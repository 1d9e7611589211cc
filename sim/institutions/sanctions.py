"""Sanctions: peer punishment as a second stage, and central fines for detected violations.

Peer punishment follows Fehr & Gächter (2000): after seeing what the others did, each agent may assign 0 to
``max_points`` punishment points to each agent it may punish. Two cost schedules:

- ``fehr_gachter`` (default, the paper's Table 1): assigning p points to one target costs the punisher
  c(p) = 0, 1, 2, 4, 6, 9, 12, 16, 20, 25, 30 for p = 0..10, and each point received cuts the target's
  first-stage payoff by 10%: π_i = π¹_i · (1 − min(P_i, 10)/10) − Σ_j c(p_ij), P_i the points i received.
- ``linear`` (Herrmann, Thöni & Gächter 2008, Science 319): each point costs the punisher
  ``cost_per_point`` (1) and the target ``loss_per_point`` (3) tokens, the loss capped at the target's payoff
  before punishment so that nobody ends a period below zero from punishment alone.

Who may be punished: with ``monitoring``, the agents whose acts this agent saw (and, with ``classification``,
judged wrongful); without it, every peer (the group in the public goods game), whose acts are all visible, as
in the laboratory. A sanction is *false* when its target broke no rule (with ``norms``) or, without norms,
gave at least as much as its punisher (Herrmann et al.'s antisocial punishment).

Central fines: each rule broken in a detected violation costs the violator ``fine``, shared equally by the
other agents (``fine_to: others``), so fines move payoffs without creating or destroying any; or paid to a
treasury outside the society (``fine_to: treasury``: the oligopoly's competition authority), which the violator's
specified reward loses and its true utility does not, a transfer to the public purse being no loss to society.
What is on the record comes from the last perceiving stage listed before (monitoring, classification, a
competition authority, a leniency programme); without one, every violation the norms find. Punishment destroys
both the cost and the loss; both are booked through `Outcome.adjust` and add up in the ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sim.collector import Column
from sim.component import Params, Problem
from sim.incentives import Penalty
from sim.institutions.base import INSTITUTIONS, Institution
from sim.institutions.norms import Norms
from sim.institutions.social import Perception, earlier, grouped, latest, peer_finder
from sim.schemas import schema_builder
from sim.step import Event, Observation, StepContext

if TYPE_CHECKING:
    from agents.agent import SocietyAgent
    from sim.scenario import Scenario

FEHR_GACHTER_COSTS = (0, 1, 2, 4, 6, 9, 12, 16, 20, 25, 30)
PUNISHMENT_DOC = "Punishment points for each agent you may punish (0: none)."


class SanctionsParams(Params):
    peer: bool = Field(True, description="Agents may punish each other after each step.")
    schedule: Literal["fehr_gachter", "linear"] = Field(
        "fehr_gachter", description="fehr_gachter: the paper's convex cost, 10% of the target's payoff per point; "
                                    "linear: cost_per_point to the punisher, loss_per_point to the target.",
    )
    max_points: int = Field(10, ge=1, description="Most points one agent may give one target per step.")
    cost_per_point: float = Field(1.0, ge=0, description="linear schedule: what one point costs the punisher.")
    loss_per_point: float = Field(3.0, ge=0, description="linear schedule: what one point costs the target.")
    fine: float = Field(0.0, ge=0, description="Central fine per rule broken in a detected violation (needs norms, "
                                              "or antitrust).")
    fine_to: Literal["others", "treasury"] = Field(
        "others", description="Who receives a fine: the other agents, in equal shares, or a treasury outside the "
                              "society (the fined agent's true utility then keeps it).",
    )

    @model_validator(mode="after")
    def _schedule_covers_points(self) -> SanctionsParams:
        if self.schedule == "fehr_gachter" and self.max_points > 10:
            raise ValueError("the fehr_gachter schedule defines costs for 0..10 points; set max_points <= 10")
        return self


def is_agent_field(name: str) -> bool:
    """``agent_<id>``: a punishment field."""
    return name.startswith("agent_") and name[6:].isdigit()


@schema_builder
def punishment_schema(max_points: int) -> type[BaseModel]:
    """Points (0 to ``max_points``) for agents, one field ``agent_<id>`` each: one class for every punisher.

    Whom an agent may punish is its own bound, so it narrows only the agent's JSON schema
    (`punishment_json_schema`); other keys are ignored, as the fields of a per-agent class would have ignored them.
    """
    points = Annotated[int, Field(ge=0, le=max_points)]

    class Punishment(BaseModel):
        model_config = ConfigDict(extra="allow")
        __pydantic_extra__: dict[str, points] = Field(init=False)  # type: ignore[valid-type]

        @model_validator(mode="before")
        @classmethod
        def _agent_fields_only(cls, data: Any) -> Any:
            if isinstance(data, dict) and not all(map(is_agent_field, data)):
                return {k: v for k, v in data.items() if is_agent_field(k)}
            return data

    Punishment.__doc__ = PUNISHMENT_DOC
    return Punishment


@schema_builder
def no_punishment(max_points: int) -> BaseModel:
    """The fallback: no points for anyone (one instance, shared: never change it)."""
    return punishment_schema(max_points)()


def punishment_json_schema(max_points: int, targets: list[int]) -> dict[str, Any]:
    """The JSON schema of a punishment of exactly ``targets``: one integer field ``agent_<id>`` per target."""
    fields = {
        f"agent_{t}": {"default": 0, "description": f"Punishment points you give agent {t}.", "maximum": max_points,
                       "minimum": 0, "title": f"Agent {t}", "type": "integer"}
        for t in targets
    }
    return {"description": PUNISHMENT_DOC, "properties": fields, "title": "Punishment", "type": "object"}


@runtime_checkable
class RecordOdds(Protocol):
    """A perception that can say, for the oligopoly's price profiles, how likely each firm is to be on the record."""

    def record_odds(self, prices: np.ndarray) -> np.ndarray: ...


@INSTITUTIONS.register("sanctions")
class Sanctions(Institution):
    """A punishment stage after every step, and fines for what monitoring detects."""

    Params = SanctionsParams
    phase = "sanction"
    after = ("norms", "monitoring", "classification", "antitrust", "leniency")

    @classmethod
    def check(cls, params: SanctionsParams, scenario: Scenario) -> Iterator[Problem]:
        if params.fine and not any(INSTITUTIONS.get(spec.kind).defines_violations for spec in scenario.institutions):
            yield Problem(("fine",), "a fine is charged per broken rule: list a 'norms' institution before "
                                     "'sanctions' (or 'antitrust', in the oligopoly), or set fine: 0")

    def setup(self) -> None:
        self.open = False
        self._terms: tuple[tuple, dict[str, Any]] = ((), {})
        self.may_punish: dict[int, dict[int, list[str] | None]] = {}
        self.received_last: dict[int, int] = {}
        self.step_given: dict[int, int] = {}
        self.step = {"points": 0, "false_points": 0, "cost": 0.0, "loss": 0.0, "fines": 0.0}
        self.totals = dict.fromkeys(self.step, 0.0)
        self.punished_agent_steps = 0
        self.recorded_labels = 0
        self.loss_of_recorded = 0.0

    def configure(self) -> None:
        """The stages this one reads: the norms, and the last stage that perceives (monitoring, classification, ...)."""
        self.norms = earlier(self, Norms)
        self.perception: Perception | None = latest(self, Perception)

    # -- the schedule ----------------------------------------------------------------------------
    def cost(self, points: int) -> float:
        """What assigning ``points`` to one target costs the punisher."""
        if self.params.schedule == "fehr_gachter":
            return float(FEHR_GACHTER_COSTS[points])
        return self.params.cost_per_point * points

    def loss(self, payoff: float, points: int) -> float:
        """What ``points`` received in total take from a target whose payoff before punishment is ``payoff``."""
        if payoff <= 0:
            return 0.0
        if self.params.schedule == "fehr_gachter":
            return payoff * min(points, 10) / 10
        return min(payoff, self.params.loss_per_point * points)

    def terms(self) -> dict[str, Any]:
        """The schedule as every agent sees it; one dict per distinct schedule, shared: read it, never change it."""
        p = self.params
        key = (p.schedule, p.max_points, p.cost_per_point)
        if self._terms[0] != key:
            costs = [self.cost(points) for points in range(p.max_points + 1)]
            self._terms = (key, {"schedule": p.schedule, "max_points": p.max_points, "cost_of_points": costs})
        return self._terms[1]

    # -- what agents know ------------------------------------------------------------------------
    def briefing(self) -> str:
        lines = []
        if self.params.peer:
            if self.params.schedule == "fehr_gachter":
                price = (f"Giving p points to one person costs you {', '.join(map(str, FEHR_GACHTER_COSTS[1:]))} "
                         "tokens for p = 1..10, and each point a person receives cuts their income this period by "
                         "10%.")
            else:
                price = (f"Each point costs you {self.params.cost_per_point:g} tokens and costs the person who "
                         f"receives it {self.params.loss_per_point:g} tokens.")
            lines.append(f"After each period you see what the others did and may give each of them 0 to "
                         f"{self.params.max_points} punishment points. {price}")
        if self.params.fine:
            to = "shared among the others" if self.params.fine_to == "others" else "paid to the authority"
            lines.append(f"Each detected violation of a rule is fined {self.params.fine:g}, {to}.")
        return " ".join(lines)

    def targeting(self) -> Callable[[int], dict[int, list[str] | None]]:
        """Whom each agent may punish now, with the rules it judges each to have broken (None: no norms), for a
        whole stage: what it reads (perception, peers, the norms' verdicts) is looked up once."""
        if self.perception is not None:
            witnessed = self.perception.witnessed
            return lambda agent_id: {a: rules for a, rules in witnessed(agent_id).items() if rules}
        peers_of = peer_finder(self.model)
        if self.norms is None:
            return lambda agent_id: dict.fromkeys(peers_of(agent_id))
        truth = self.norms.violations
        return lambda agent_id: {a: truth.get(a) for a in peers_of(agent_id)}

    def observe_public(self, public: dict[str, Any]) -> None:
        if self.params.peer:
            public["punishment"] = self.terms()

    def observer(self) -> Callable[[SocietyAgent, Observation], None] | None:
        """The points each agent received last step; in the punishment stage also whom it may punish (``may_punish``).

        Without norms or monitoring one may punish every peer, and in a game of groups (the public goods game) that
        is the rest of one's group, which its group view lists already (`sim.institutions.social.peers`): there
        ``may_punish`` is left out, so that the list is not repeated in each member's own part of an LLM prompt."""
        if not self.params.peer:
            return None
        received = self.received_last
        judged = self.norms is not None or self.perception is not None  # without norms: just whom, as a list
        listed = judged or not grouped(self.model)
        may_punish = self.may_punish if self.open and listed else None

        def observe(agent: SocietyAgent, observation: Observation) -> None:
            observation.private["points_received_last"] = received.get(agent.unique_id, 0)
            if may_punish is not None:
                targets = may_punish.get(agent.unique_id, {})
                observation.private["may_punish"] = targets if judged else list(targets)

        return observe

    def expected_penalty(self, agent: SocietyAgent, action: BaseModel) -> Penalty:
        """For each rule the record is expected to list against ``action`` (detection probability × rules
        broken, with classification's errors): the fine, plus the punishment peers have inflicted so far per
        listed rule. Without norms nothing is a violation, so nothing is priced."""
        if self.norms is None:
            return Penalty()
        broken = self.norms.broken(action)
        labels = self.perception.expected_labels(broken) if self.perception is not None else float(len(broken))
        punishment = self.loss_of_recorded / self.recorded_labels if self.recorded_labels else 0.0
        return Penalty(payoff=(self.params.fine + punishment) * labels)

    def expected_fines(self, prices: np.ndarray) -> np.ndarray:
        """What each firm of the oligopoly expects to be fined, per period, at each price profile (last axis: the
        firms): the fine times the odds of being on the record, where the perception can say (`RecordOdds`)."""
        if not isinstance(self.perception, RecordOdds):
            return np.zeros(np.shape(prices))
        return self.params.fine * self.perception.record_odds(prices)

    def detected(self) -> dict[int, list[str]]:
        """This step's violations on the official record: what monitoring (and classification) made known,
        or every violation when nothing perceives."""
        if self.perception is not None:
            return self.perception.official()
        return {a: v for a, v in self.norms.violations.items() if v} if self.norms is not None else {}

    # -- the punishment stage --------------------------------------------------------------------
    def open_phase(self, agents: list[SocietyAgent]) -> list[SocietyAgent]:
        """Everyone with someone to punish; whom each may punish is fixed here for the stage. An agent whose policy
        never punishes (`SocietyModel.answering`) would take the fallback, no points, so it is not asked at all."""
        self.open = True
        self.may_punish = {}
        if not self.params.peer:
            return []
        opened, targets_of = [], self.targeting()
        for agent in self.model.answering(self.phase, agents):
            if targets := targets_of(agent.unique_id):
                self.may_punish[agent.unique_id] = targets
                opened.append(agent)
        return opened

    def phase_schema(self, agent: SocietyAgent) -> type[BaseModel]:
        return punishment_schema(self.params.max_points)

    def phase_json_schema(self, agent: SocietyAgent) -> dict[str, Any]:
        return punishment_json_schema(self.params.max_points, list(self.may_punish.get(agent.unique_id, {})))

    def phase_fallback(self, agent: SocietyAgent) -> BaseModel:
        return no_punishment(self.params.max_points)

    def enforce(self, ctx: StepContext) -> None:
        self.open = False
        self.step = dict.fromkeys(self.step, 0.0)
        before = dict(ctx.outcome.specified)
        received = self._punish_all(ctx)
        losses, loss_of, adjust, lost = {}, self.loss, ctx.outcome.adjust, 0.0
        for target, points in received.items():
            losses[target] = loss = loss_of(before.get(target, 0.0), points)
            adjust(target, "punishment_loss", -loss, -loss)
            lost += loss
        self.step["loss"] = lost
        self.received_last = received
        self.punished_agent_steps += len(received)
        detected = self.detected()
        for violator, rules in detected.items():
            self.recorded_labels += len(rules)
            self.loss_of_recorded += losses.get(violator, 0.0)
        if self.params.fine:
            self._fine(ctx, detected)
        for key, value in self.step.items():
            self.totals[key] += value

    def _punish_all(self, ctx: StepContext) -> dict[int, int]:
        """Book every punisher's cost and emit each sanction, in the order given; the points each target received.
        What each sanction reads (the schedule, who deserved it) is looked up once for all of them."""
        received: dict[int, int] = {}
        given: dict[int, int] = {}
        points_total = cost_total = false_total = 0.0
        may_punish, cost_of, undeserved, adjust = self.may_punish, self.cost, self.undeserving(), ctx.outcome.adjust
        events, step = ctx.events, ctx.step
        for punisher, action in ctx.phase_actions.get(self.phase, {}).items():
            allowed = may_punish.get(punisher, {})
            for name, points in action.model_extra.items():  # a punishment's points are its extra fields
                if not points or (target := int(name.removeprefix("agent_"))) not in allowed:
                    continue  # points for anyone else are void
                cost = cost_of(points)
                adjust(punisher, "punishment_cost", -cost, -cost)
                received[target] = received.get(target, 0) + points
                given[punisher] = given.get(punisher, 0) + points
                false = undeserved(punisher, target)
                points_total += points
                cost_total += cost
                false_total += points if false else 0
                events.append(Event(step, "sanction", punisher, target, float(points), "false" if false else ""))
        self.step_given = given
        self.step.update(points=points_total, cost=cost_total, false_points=false_total)
        return received

    def undeserving(self) -> Callable[[int, int], bool]:
        """Whether a sanction is false (the target broke no rule, or without norms gave at least as much as the
        punisher), for all of a step's sanctions: the norms' verdicts or the contributions looked up once."""
        if self.norms is not None:
            violations = self.norms.violations
            return lambda punisher, target: not violations.get(target)
        given = getattr(self.model.environment, "contributions", {})
        return lambda punisher, target: punisher in given and target in given and given[target] >= given[punisher]

    def _fine(self, ctx: StepContext, detected: dict[int, list[str]]) -> None:
        if not detected:
            return
        if self.params.fine_to == "treasury":
            for violator, rules in detected.items():
                fine = self.params.fine * len(rules)
                ctx.outcome.adjust(violator, "fine", -fine, 0.0)
                self.step["fines"] += fine
                ctx.emit("fine", violator, None, fine, ",".join(rules))
            return
        outcome = ctx.outcome
        everyone = [a.unique_id for a in self.model.active_agents()]
        position = {a: i for i, a in enumerate(everyone)}
        specified = np.array([outcome.specified.get(a, 0.0) for a in everyone])
        true = np.array([outcome.true.get(a, 0.0) for a in everyone])
        for violator, rules in detected.items():
            fine = self.params.fine * len(rules)
            i = position.get(violator)
            others = len(everyone) - (i is not None)
            own = (specified[i], true[i]) if i is not None else (0.0, 0.0)
            if others:  # each of the others gets an equal share: one vector addition instead of one per agent
                specified += fine / others
                true += fine / others
                outcome.ledger.append((None, "fine_share", fine, fine))
            if i is None:
                outcome.adjust(violator, "fine", -fine, -fine)
            else:
                specified[i], true[i] = own[0] - fine, own[1] - fine
                outcome.ledger.append((violator, "fine", -fine, -fine))
            self.step["fines"] += fine
            ctx.emit("fine", violator, None, fine, ",".join(rules))
        for a, s, t in zip(everyone, specified.tolist(), true.tolist(), strict=True):
            outcome.specified[a], outcome.true[a] = s, t

    # -- metrics ---------------------------------------------------------------------------------
    def model_reporters(self):
        return {
            "sanction_points": lambda m: self.step["points"],
            "false_sanction_points": lambda m: self.step["false_points"],
            "punishment_cost": lambda m: self.step["cost"],
            "punishment_loss": lambda m: self.step["loss"],
            "fines": lambda m: self.step["fines"],
        }

    def agent_reporters(self):
        return {
            "points_given": Column.by_id(lambda: self.step_given, 0, active_only=True),
            "points_received": Column.by_id(lambda: self.received_last, 0, active_only=True),
        }

    def summary(self, model_table: pd.DataFrame, agent_table: pd.DataFrame) -> dict[str, float]:
        t = self.totals
        decisions = int(agent_table["active"].sum()) if len(agent_table) else 0
        return {
            "sanction_points": t["points"],
            "sanctioned_share": self.punished_agent_steps / decisions if decisions else float("nan"),
            "false_sanction_share": t["false_points"] / t["points"] if t["points"] else float("nan"),
            "punishment_cost": t["cost"],
            "punishment_loss": t["loss"],
            "fines": t["fines"],
            "points_given_per_agent_step": t["points"] / decisions if decisions else float("nan"),
        }
