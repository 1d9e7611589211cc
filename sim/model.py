"""SocietyModel: a Mesa model built from a Scenario, stepping through the phases of a step
(docs/architecture.md, "One step").

observe -> talk (optional rounds) -> decide -> resolve -> institution phases and enforcement -> record.
Each decision phase gathers every active agent's `Decision` and hands each policy class all of its
decisions at once; the LLM policy turns them into one batch for vLLM.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Callable, Iterable
from functools import cached_property, partial
from itertools import compress
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import mesa
from pydantic import BaseModel, Field, create_model

from agents.agent import SocietyAgent
from agents.policy import POLICIES, Policy
from sim.amendments import Amendment, Amendments
from sim.collector import Column, ColumnarCollector
from sim.environments.base import ENVIRONMENTS
from sim.institutions.base import INSTITUTIONS
from sim.network import build_network
from sim.schemas import FieldSet, extended, schema_builder
from sim.step import Decision, Event, Observation, Outcome, StepContext
from sim.training.candidates import CandidatePool
from sim.training.credit import CreditBook

if TYPE_CHECKING:
    from sim.llm.asker import Asker
    from sim.llm.client import LLMClient
    from sim.scenario import Scenario


PLAIN = {int, float, str, bool, type(None)}
POLICY_OF = attrgetter("policy")


def valid(answer: BaseModel, schema: type[BaseModel]) -> BaseModel:
    """``answer`` as an instance of ``schema``; an answer the schema built itself is valid already."""
    return answer if type(answer) is schema else schema.model_validate(answer.model_dump())


def action_field(name: str, agents: list[SocietyAgent]) -> list[Any]:
    """The field ``name`` of each agent's last action (None where it has none, or has not joined yet)."""
    return [getattr(a.last_action, name, None) if a.active else None for a in agents]


def classes_of(agents: list[SocietyAgent]) -> dict[type[Policy], None]:
    """The policy classes of ``agents``, in the order they first appear."""
    return dict.fromkeys(map(type, map(POLICY_OF, agents)))


class Message(BaseModel):
    """What an agent says to its neighbours in a talk round; empty means silence."""

    message: str = Field("", description="What you say to the others (may be empty).")


@schema_builder
def message_schema(max_chars: int) -> type[Message]:
    """A talk-round message of at most ``max_chars`` characters."""
    return create_model("Message", __base__=Message, message=(str, Field("", max_length=max_chars)))


class SocietyModel(mesa.Model):
    """A society of agents playing one environment under a list of institutions.

    ``progress``: whether long work within a step (a policy's training) may show a progress bar; the runner sets
    it to its own setting."""

    progress: bool = False

    def __init__(
        self, scenario: Scenario, seed: int | None = None, llm: LLMClient | None = None,
        amendments: Iterable[Amendment] = (),
    ) -> None:
        self.seed = scenario.seed if seed is None else seed
        super().__init__(rng=self.seed)
        self.spec = scenario  # not `scenario`: Mesa >= 3.5 reserves that name
        self._llm = llm
        self.environment = ENVIRONMENTS.get(scenario.environment.kind)(self, scenario.environment)
        self.institutions = [INSTITUTIONS.get(spec.kind)(self, spec) for spec in scenario.institutions]
        self.policies: dict[str, Policy] = {}
        self._by_id: dict[int, SocietyAgent] = {}
        for group in scenario.population:
            policy = POLICIES.get(group.policy.kind)(self, group.policy, group)
            self.policies[group.name] = policy
            for _ in range(group.count):
                agent = SocietyAgent(self, group, policy)
                self._by_id[agent.unique_id] = agent
        self._everyone = list(self._by_id.values())
        self._active = [a for a in self._everyone if a.active]
        self._active_classes, self._answering = classes_of(self._active), {}
        self._waiting = [a for a in self._everyone if not a.active]
        self.network = build_network(scenario.network, list(self._by_id), self.rng)
        self.events: list[Event] = []
        self.inbox: dict[int, list[str]] = defaultdict(list)
        self.last_outcome: Outcome | None = None
        self._payoff_totals: tuple[Outcome | None, float, float] = (None, 0.0, 0.0)
        self.amendments = Amendments(self, amendments)  # replayed ones; the dashboard and assemblies apply more
        self.credit = CreditBook() if scenario.uses_llm() else None  # what each LLM decision earned (training)
        self.candidates = CandidatePool(self)  # the samples LLM groups with `candidates` draw, scored each step
        for component in self.components:
            component.configure()
        for component in self.components:
            component.setup()
        self.datacollector = ColumnarCollector(
            model_reporters=self._model_reporters(), agent_reporters=self._agent_reporters()
        )

    # -- lookups ---------------------------------------------------------------------------------
    @property
    def components(self) -> list:
        return [self.environment, *self.institutions]

    @property
    def llm(self) -> LLMClient:
        if self._llm is None:
            raise RuntimeError("this model was built without an LLM client, but an LLM policy needs one")
        return self._llm

    @cached_property
    def asker(self) -> Asker:
        """The one route to the LLM for this run's agents and institutions (seeds derive from the run seed)."""
        from sim.llm.asker import Asker

        return Asker(self.llm, self.spec.llm, self.seed)

    def agent(self, unique_id: int) -> SocietyAgent:
        return self._by_id[unique_id]

    def everyone(self) -> list[SocietyAgent]:
        """Every agent, active or still to join, in id order: one list, built once (nobody leaves the society)."""
        return self._everyone

    def active_agents(self) -> list[SocietyAgent]:
        """Agents taking part this step, in id order (a stable order keeps runs reproducible).

        One list kept up to date as newcomers join, so that asking is free: read it, never change it.
        """
        return self._active

    def policy_classes(self, phase: str, agents: list[SocietyAgent]) -> dict[type[Policy], bool]:
        """The policy classes of ``agents`` in the order they first appear, each with whether it decides in ``phase``
        (`Policy.answers`, asked once per class); those of the active agents are found once, when some join."""
        classes = self._active_classes if agents is self._active else classes_of(agents)
        return {cls: cls.answers(phase) for cls in classes}

    def answering(self, phase: str, agents: list[SocietyAgent]) -> list[SocietyAgent]:
        """Those of ``agents`` whose policy decides in ``phase`` (`Policy.answers`); the others take its fallback.
        Among the active agents they are found once per phase until some join."""
        if agents is self._active and phase in self._answering:
            return list(self._answering[phase])
        answers = self.policy_classes(phase, agents)
        chosen = list(compress(agents, map(answers.__getitem__, map(type, map(POLICY_OF, agents)))))
        if agents is self._active:
            self._answering[phase] = chosen
            return list(chosen)
        return chosen

    def briefing(self) -> str:
        """The rules as LLM agents read them: the environment's briefing, then each institution's."""
        return "\n\n".join(text for c in self.components if (text := c.briefing()))

    def public_observation(self) -> dict[str, Any]:
        """What every agent sees now: each component's public part (built once for a whole phase)."""
        public: dict[str, Any] = {}
        for component in self.components:
            component.observe_public(public)
        return public

    def observation(self, agent: SocietyAgent) -> Observation:
        """What ``agent`` sees now (`observer`)."""
        return self.observer()(agent)

    def observer(self) -> Callable[[SocietyAgent], Observation]:
        """What each agent sees, for a whole phase: a copy of the public part (built once), then the environment's
        view and each institution's additions (`Component.observer`, each readied once), then its messages (where
        anyone talked this step)."""
        public, step, inbox = self.public_observation(), self.steps, self.inbox
        adding = [add for component in self.components if (add := component.observer()) is not None]

        def observe(agent: SocietyAgent) -> Observation:
            obs = Observation(agent.unique_id, step, public.copy(), None, {})
            for add in adding:
                add(agent, obs)
            return obs

        def observe_with_messages(agent: SocietyAgent) -> Observation:
            obs = observe(agent)
            if messages := inbox.get(agent.unique_id):
                obs.messages = list(messages)
            return obs

        return observe_with_messages if inbox else observe

    def act_schema(self, agent: SocietyAgent) -> type[BaseModel]:
        """The environment's action for ``agent``, extended by every institution's action fields."""
        return self.act_schemas()(agent)

    def act_schemas(self) -> Callable[[SocietyAgent], type[BaseModel]]:
        """`act_schema` for a whole phase: the institutions' fields are collected once, so that each agent's
        schema is a cache lookup (`sim.schemas`)."""
        extra: dict[str, Any] = {}
        for institution in self.institutions:
            extra.update(institution.action_fields())
        if not extra:
            return self.environment.action_schema
        fields = FieldSet.of(extra)
        return lambda agent: extended(self.environment.action_schema(agent), fields)

    # -- one step --------------------------------------------------------------------------------
    def step(self) -> None:
        """One step, with Python's cycle collector paused: a phase keeps every agent's observation and decision
        alive until all are answered, which made the collector traverse every object of the model several times a
        step (half the time of a 10,000-agent step); what a step leaves behind is acyclic, freed as it goes, and
        the collector runs as usual between steps."""
        paused = gc.isenabled()
        gc.disable()
        try:
            self._step()
        finally:
            if paused:
                gc.enable()

    def _step(self) -> None:
        step = self.steps
        self.amendments.apply_due(step)
        self._admit_newcomers(step)
        self.inbox.clear()
        active = self.active_agents()
        for round_ in range(self.spec.talk.rounds):
            self._talk(active, round_)
        actions = self.decide("act", active, self.act_schemas(), self.environment.fallback)
        for agent in active:
            agent.last_action = actions[agent.unique_id]
        scoring = self.candidates.open()  # before the step resolves: the state its counterfactuals start from
        outcome = self.environment.resolve(actions)
        if self.credit is not None:
            self.credit.resolved(outcome)
        ctx = StepContext(step, actions, outcome)
        for institution in self.institutions:
            if institution.phase:
                ctx.phase_actions[institution.phase] = self.decide(
                    institution.phase, institution.open_phase(active), institution.phase_schema,
                    institution.phase_fallback, institution.phase_json_schema,
                )
            if scoring is not None:
                scoring.enforcing(institution)
            institution.enforce(ctx)
        if scoring is not None:
            self.candidates.score(scoring, ctx)
        if self.credit is not None:
            self.credit.settled(step, outcome)
        self._settle(outcome)
        self.events.extend(ctx.events)
        self.last_outcome = outcome
        self.datacollector.collect(self)
        if self.environment.done() or step >= self.spec.steps:
            self.running = False

    def decide(
        self,
        phase: str,
        agents: list[SocietyAgent],
        schema_of: Callable[[SocietyAgent], type[BaseModel]],
        fallback_of: Callable[[SocietyAgent], BaseModel],
        narrow: Callable[[SocietyAgent], dict[str, Any] | None] | None = None,
    ) -> dict[int, BaseModel]:
        """One decision phase: every agent's decision, each policy class answering all of its own at once.

        An agent whose policy does not decide this phase (`Policy.answers`: a selfish player has no punishment
        stage) takes the fallback without an observation being built for it; one whose policy reads no observation
        (`Policy.observes`) is asked without one. A scripted policy is given its decisions in slices
        (`Policy.slice_size`), each made, answered and freed before the next; the LLM's all at once, one batch.
        ``narrow`` gives an agent's own JSON schema where its bounds are its own (see `Decision.json_schema`).
        """
        if not agents:
            return {}
        answering = self.policy_classes(phase, agents)
        asked: dict[type[Policy], list[SocietyAgent]] = {cls: [] for cls in answering}
        falling_back: dict[type[Policy], list[SocietyAgent]] = {cls: [] for cls in answering}
        for agent in agents:
            cls = type(agent.policy)
            (asked if answering[cls] else falling_back)[cls].append(agent)
        observe = self.observer()
        actions: dict[int, BaseModel] = {}
        for cls in answering:  # in the order the classes first appear, as before
            for agent in falling_back[cls]:
                actions[agent.unique_id] = valid(fallback_of(agent), schema_of(agent))
            of_class, size = asked[cls], cls.slice_size or len(asked[cls]) or 1
            for start in range(0, len(of_class), size):  # decided and freed slice by slice (`Policy.slice_size`)
                batch = [(agent.policy, Decision(agent, phase, observe(agent) if cls.observes else None,
                                                 schema_of(agent), fallback_of, narrow))
                         for agent in of_class[start:start + size]]
                for (_, decision), answer in zip(batch, cls.decide_all(batch), strict=True):
                    actions[decision.agent.unique_id] = valid(answer, decision.schema)
        return actions

    def _talk(self, active: list[SocietyAgent], round_: int) -> None:
        schema = message_schema(self.spec.talk.max_chars)
        said = self.decide("talk", active, lambda a: schema, lambda a: schema())
        for sender_id, answer in said.items():
            text = answer.message.strip()
            if not text:
                continue
            for receiver in self.agent(sender_id).neighbors:
                self.inbox[receiver].append(f"agent {sender_id}: {text}")
            self.events.append(Event(self.steps, "message", sender_id, None, None, text))

    def _admit_newcomers(self, step: int) -> None:
        joining = [a for a in self._waiting if a.join_step == step]
        if not joining:
            return
        for agent in joining:
            agent.active = True
            self.events.append(Event(step, "joined", agent.unique_id, None, None, agent.group))
        self._waiting = [a for a in self._waiting if not a.active]
        self._active = [a for a in self._by_id.values() if a.active]
        self._active_classes, self._answering = classes_of(self._active), {}

    def _settle(self, outcome: Outcome) -> None:
        """Book the payoffs; agents whose policy reads its memory (`Policy.remembers`) also remember the step."""
        specified, true = outcome.specified, outcome.true
        for agent in self._active:
            agent.settle(specified.get(agent.unique_id, 0.0), true.get(agent.unique_id, 0.0))
        if any(policy.remembers for policy in self.policies.values()):
            for agent in self._active:
                if agent.policy.remembers:
                    agent.memory.add(self.steps, "outcome", self._describe(agent, agent.specified_reward))
        for agent in self._waiting:
            agent.specified_reward = agent.true_utility = 0.0

    def _describe(self, agent: SocietyAgent, reward: float) -> str:
        action = agent.last_action
        values = {} if action is None else action.__dict__
        if action is not None and (action.__pydantic_extra__ or any(type(v) not in PLAIN for v in values.values())):
            values = action.model_dump()  # what model_dump gives of plain values is the values themselves
        chosen = ", ".join([f"{k}={v}" for k, v in values.items()])
        return f"you chose {chosen} and earned {reward:g}"

    # -- recording -------------------------------------------------------------------------------
    def payoff_totals(self) -> tuple[float, float]:
        """The active agents' specified rewards and true utilities, each summed; summed once per outcome, since the
        payoffs change only when an outcome is settled (three columns of the model table read them)."""
        outcome, specified, true = self._payoff_totals
        if outcome is not self.last_outcome or outcome is None:
            active = self.active_agents()
            specified = float(sum(map(attrgetter("specified_reward"), active)))
            true = float(sum(map(attrgetter("true_utility"), active)))
            self._payoff_totals = (self.last_outcome, specified, true)
        return specified, true

    def _model_reporters(self) -> dict[str, Callable[[SocietyModel], Any]]:
        reporters: dict[str, Callable[[SocietyModel], Any]] = {
            "step": lambda m: m.steps,
            "active_agents": lambda m: len(m.active_agents()),
            "specified_reward": lambda m: m.payoff_totals()[0],
            "true_utility": lambda m: m.payoff_totals()[1],
            "alignment_gap": lambda m: m.payoff_totals()[1] - m.payoff_totals()[0],
        }
        for component in self.components:
            reporters.update(component.model_reporters())
        return reporters

    def _agent_reporters(self) -> dict[str, Any]:
        reporters: dict[str, Any] = {
            "group": "group",
            "active": "active",
            "specified_reward": "specified_reward",
            "true_utility": "true_utility",
        }
        for name in self.environment.Action.model_fields:
            reporters[f"act_{name}"] = Column(partial(action_field, name))
        for institution in self.institutions:
            for name in institution.action_fields():
                reporters[f"act_{name}"] = Column(partial(action_field, name))
        for component in self.components:
            reporters.update(component.agent_reporters())
        return reporters
