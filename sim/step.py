"""What flows through one step: observations, decisions, outcomes and events.

These are plain data holders shared by environments, institutions and policies, so none of them
needs to import the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from sim.schemas import json_schema_of, shared_answer

if TYPE_CHECKING:
    from agents.agent import SocietyAgent


@dataclass(slots=True, init=False)
class Observation:
    """What one agent knows when it decides: public state, what its group sees, its private state, and messages
    received.

    Environments fill ``public``, ``local`` and ``private``; institutions add their own keys (reputation,
    rules in force); ``messages`` are those received in the step's talk rounds. ``local`` is what the agent's group
    in the game (the public goods game's group of four) sees alike: one object for all its members (read it, never
    change it), so that an LLM prompt renders it once per group and the members' prompts share it as part of their
    prefix. Omitted (None), ``local`` and ``messages`` are made empty when first read: most observations get a
    group's ``local`` or no messages, and a step makes one observation per agent and phase.
    """

    agent_id: int
    step: int
    public: dict[str, Any] = field(default_factory=dict)
    local: dict[str, Any] = field(default_factory=dict)
    private: dict[str, Any] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)

    def __init__(self, agent_id: int, step: int, public: dict[str, Any] | None = None,
                 local: dict[str, Any] | None = None, private: dict[str, Any] | None = None,
                 messages: list[str] | None = None) -> None:
        self.agent_id, self.step = agent_id, step
        self.public = {} if public is None else public
        self.private = {} if private is None else private
        if local is not None:
            self.local = local
        if messages is not None:
            self.messages = messages

    def __getattr__(self, name: str) -> Any:
        """Reached only for a field never set: ``local`` or ``messages``, made empty now."""
        if name == "local":
            self.local = {}
            return self.local
        if name == "messages":
            self.messages = []
            return self.messages
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


@dataclass(slots=True)
class Decision:
    """A request to a policy: this agent, seeing this, must answer with an instance of ``schema``.

    ``observation`` is None where the policy declares that it reads none (`Policy.observes`).

    ``fallback_of`` makes the scenario's declared action for when no valid answer can be had (`fallback`).
    ``narrow``, where the phase has one, gives the agent's own JSON schema when its bounds are its own
    (see `json_schema`).
    """

    agent: SocietyAgent
    phase: str
    observation: Observation | None
    schema: type[BaseModel]
    fallback_of: Callable[[SocietyAgent], BaseModel]
    narrow: Callable[[SocietyAgent], dict[str, Any] | None] | None = None

    @property
    def fallback(self) -> BaseModel:
        """The declared action for this agent, made when asked: most decisions never need it."""
        return self.fallback_of(self.agent)

    def answer(self, **fields: Any) -> BaseModel:
        """An instance of ``schema`` with ``fields``, one per distinct answer and shared (`sim.schemas.shared_answer`):
        a scripted policy's thousands of agents give a handful of different answers."""
        return shared_answer(self.schema, **fields)

    def json_schema(self) -> dict[str, Any]:
        """The JSON schema an answer must match, which an LLM decodes against.

        Usually the schema class's own. A phase whose bounds differ for every agent (the agents one may punish)
        shares one class among all agents, so as not to create a class per agent, and narrows the JSON schema
        here to this agent's bounds. Shared: read it, never change it.
        """
        own = self.narrow(self.agent) if self.narrow is not None else None
        return json_schema_of(self.schema) if own is None else own


@dataclass
class Outcome:
    """Per-agent payoffs of one step, as the contract states them and as the principal values them.

    ``specified`` is what the reward/contract/norm says the agent earned; ``true`` is what society
    actually gained from the agent's action. Institutions adjust both (fines, sanctions, damages)
    through `adjust`, which keeps a ledger so the accounting can be audited. A ledger row without an agent
    (``None``) books an amount shared out equally among every other agent (a fine's shares), so that
    sharing among N agents costs one row, not N.
    """

    specified: dict[int, float]
    true: dict[int, float]
    info: dict[str, Any] = field(default_factory=dict)
    ledger: list[tuple[int | None, str, float, float]] = field(default_factory=list)

    def adjust(self, agent_id: int, reason: str, specified: float = 0.0, true: float = 0.0) -> None:
        """Add ``specified`` and ``true`` to one agent's payoffs, recording why."""
        self.specified[agent_id] = self.specified.get(agent_id, 0.0) + specified
        self.true[agent_id] = self.true.get(agent_id, 0.0) + true
        self.ledger.append((agent_id, reason, specified, true))


@dataclass(slots=True)
class Event:
    """One thing that happened, for the events table: a sanction, a violation, a lawsuit, a message."""

    step: int
    kind: str
    agent_id: int | None = None
    target_id: int | None = None
    value: float | None = None
    detail: str = ""


@dataclass
class StepContext:
    """Everything an institution may read or change in the enforce phase of one step."""

    step: int
    actions: dict[int, BaseModel]
    outcome: Outcome
    phase_actions: dict[str, dict[int, BaseModel]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)

    def emit(
        self,
        kind: str,
        agent_id: int | None = None,
        target_id: int | None = None,
        value: float | None = None,
        detail: str = "",
    ) -> None:
        self.events.append(Event(self.step, kind, agent_id, target_id, value, detail))
