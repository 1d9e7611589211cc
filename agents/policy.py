"""Policies decide for every agent of a group, a whole batch of decisions at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel

from sim.component import Params
from sim.registry import Registry
from sim.step import Decision

if TYPE_CHECKING:
    from sim.component import Problem
    from sim.institutions.base import Institution
    from sim.model import SocietyModel
    from sim.scenario import GroupSpec, Scenario


SLICE_SIZE = 512
"""Decisions a scripted policy is given at once (`ScriptedPolicy`); the cost of a phase's per-agent objects stays
that of a small population's however many agents there are."""


class Policy:
    """Turns a batch of `Decision`s into actions, one per decision, in order.

    ``environments`` names the environments whose observations the policy understands (empty: any).
    ``reads_institutions`` is False for a policy that follows a fixed rule whatever the institutions say, so
    that `alignsim validate` can warn when an institution reaches no one. ``remembers`` is True for a policy that
    reads its agents' memory (the LLM's prompts): only their agents have each step's outcome written into it.
    ``observes`` is False for a policy that never reads its decisions' observations (the selfish player): none is
    built for it, and its decisions' ``observation`` is None. ``slice_size`` is the most decisions of a phase that
    `decide_all` is given at once (None: all of them, as the LLM needs for one batch to the engine).
    """

    Params: ClassVar[type[Params]] = Params
    kind: ClassVar[str] = ""
    environments: ClassVar[tuple[str, ...]] = ()
    reads_institutions: ClassVar[bool] = True
    remembers: ClassVar[bool] = False
    observes: ClassVar[bool] = True
    slice_size: ClassVar[int | None] = None

    @classmethod
    def check(cls, params: Params, scenario: Scenario) -> Iterator[Problem]:
        """Cross-checks of a group's policy parameters against the scenario, like `Component.check`."""
        return iter(())

    @classmethod
    def uses_llm(cls, params: Params) -> bool:
        """True for a policy that asks the scenario's LLM."""
        return False

    def __init__(self, model: SocietyModel, params: Params, group: GroupSpec) -> None:
        self.model = model
        self.params = params
        self.group = group

    def decide(self, decisions: list[Decision]) -> list[BaseModel]:
        raise NotImplementedError

    @classmethod
    def decide_all(cls, batch: list[tuple[Policy, Decision]]) -> list[BaseModel]:
        """Answer every decision of every group using this policy class, in order.

        The default asks each group's policy for its own decisions; the LLM policy overrides this to
        send all groups' prompts to the engine as one batch.
        """
        if not batch:
            return []
        first = batch[0][0]
        decisions = [decision for policy, decision in batch if policy is first]
        if len(decisions) == len(batch):  # one group: nothing to sort back
            return first.decide(decisions)
        answers: dict[int, BaseModel] = {}
        groups: dict[int, tuple[Policy, list[int]]] = {}
        for index, (policy, _) in enumerate(batch):
            groups.setdefault(id(policy), (policy, []))[1].append(index)
        for policy, indices in groups.values():
            for index, answer in zip(indices, policy.decide([batch[i][1] for i in indices]), strict=True):
                answers[index] = answer
        return [answers[i] for i in range(len(batch))]

    @classmethod
    def reads(cls, institution: type[Institution]) -> bool:
        """Whether this policy's decisions can depend on ``institution`` (its text, numbers or observations)."""
        return cls.reads_institutions

    @classmethod
    def answers(cls, phase: str) -> bool:
        """Whether this policy decides in ``phase`` (rather than always taking the fallback)."""
        return True

    @classmethod
    def summary(cls, model: SocietyModel) -> dict[str, float]:
        """End-of-run metrics of this policy class across its groups (e.g. the LLM's invalid-reply rate)."""
        return {}


class ScriptedPolicy(Policy):
    """A policy written in Python: ``on_<phase>(decision)`` answers that phase; other phases fall back.

    So a selfish agent needs only ``on_act``; it never punishes because it has no ``on_sanction``. An answer that
    many agents give alike (a contribution, a yes) is made by ``decision.answer(...)``, one shared instance per
    distinct answer; one of the agent's own (points for named agents, a bid) by ``decision.schema(...)``.

    A policy of many agents may answer many decisions at once in ``on_<phase>_batch(decisions)`` (one answer per
    decision, in order), which is then called instead of ``on_<phase>``: what is alike for all of a phase's
    decisions (the public part of the observation, the answers already made) is looked up once, not per agent.
    It must answer as ``on_<phase>`` would; ``on_<phase>_batch = None`` turns it off.

    Each agent is decided on its own, so a phase is answered in slices of `SLICE_SIZE` decisions (``decide`` and
    ``on_<phase>_batch`` get one slice at a time): the observations and decisions of one slice are made, answered
    and freed before the next, and stay in the CPU's caches, where a whole phase's worth (120 MB at 100,000 agents)
    was allocated, paged in and freed each phase. A policy that must see a whole phase at once sets
    ``slice_size = None``.
    """

    slice_size: ClassVar[int | None] = SLICE_SIZE

    def decide(self, decisions: list[Decision]) -> list[BaseModel]:
        phases = {d.phase for d in decisions}
        if len(phases) == 1:  # the model asks one phase at a time
            return self.batch_handler(phases.pop())(decisions)
        handlers = {phase: self.handler(phase) for phase in phases}
        return [handlers[d.phase](d) for d in decisions]

    def handler(self, phase: str) -> Callable[[Decision], BaseModel]:
        """``on_<phase>``, else its batch for one decision, else the declared fallback."""
        one = getattr(self, f"on_{phase}", None)
        if one is not None:
            return one
        batch = getattr(self, f"on_{phase}_batch", None)
        return _fallback if batch is None else lambda decision: batch([decision])[0]

    def batch_handler(self, phase: str) -> Callable[[list[Decision]], list[BaseModel]]:
        """``on_<phase>_batch``, else `handler` for each decision."""
        batch = getattr(self, f"on_{phase}_batch", None)
        if batch is not None:
            return batch
        one = self.handler(phase)
        return lambda decisions: list(map(one, decisions))

    @classmethod
    def answers(cls, phase: str) -> bool:
        return hasattr(cls, f"on_{phase}") or getattr(cls, f"on_{phase}_batch", None) is not None

    @classmethod
    def reads(cls, institution: type[Institution]) -> bool:
        """Python reads no rule text: an institution that only adds text reaches no rule-based policy."""
        return cls.reads_institutions and not institution.text_only()


def _fallback(decision: Decision) -> BaseModel:
    return decision.fallback


POLICIES: Registry[type[Policy]] = Registry("policy", packages=("agents.scripted", "agents.baselines", "agents.llm"))
"""``policy: name`` in a population group: the modules of `agents.scripted`, `agents.baselines` and `agents.llm`
register here."""
