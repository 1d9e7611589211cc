"""Institutions: composable rules that add text, action fields, observations and enforcement."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from sim.component import Component
from sim.incentives import Penalty
from sim.registry import Registry
from sim.step import StepContext

if TYPE_CHECKING:
    from agents.agent import SocietyAgent


class Institution(Component):
    """A rule of the society, acting in the enforce phase of every step.

    An institution may
    - add fields to the act-phase action (`action_fields`, e.g. ``vote: int``);
    - run a decision phase of its own after the outcome is known (set ``phase`` and override
      `phase_schema` and `phase_fallback`, e.g. peer punishment after contributions are seen);
    - change payoffs and emit events in `enforce`.
    """

    phase: ClassVar[str | None] = None
    environments: ClassVar[tuple[str, ...]] = ()
    """The environment kinds it works with; empty: any."""
    needs: ClassVar[tuple[str, ...]] = ()
    """Institution kinds that must be listed before it (it reads them)."""
    after: ClassVar[tuple[str, ...]] = ()
    """Institution kinds that, when listed, must come before it (it reads them if they are there)."""
    defines_violations: ClassVar[bool] = False
    """Whether it says which acts break a rule (norms, a competition authority): what fines are charged for."""

    def action_fields(self) -> dict[str, tuple[Any, Any]]:
        """Extra act-phase fields, as ``name -> (type, pydantic Field)`` for `pydantic.create_model`."""
        return {}

    def open_phase(self, agents: list[SocietyAgent]) -> list[SocietyAgent]:
        """The phase begins: ready what it needs (sanctions fix whom each agent may punish) and say who decides in
        it (default: every active agent). Narrow it so that only those with something to decide are asked, e.g.
        principals with a dispute. Called once per step, before any of the phase's decisions."""
        return agents

    def phase_schema(self, agent: SocietyAgent) -> type[BaseModel]:
        raise NotImplementedError

    def phase_fallback(self, agent: SocietyAgent) -> BaseModel:
        raise NotImplementedError

    def phase_json_schema(self, agent: SocietyAgent) -> dict[str, Any] | None:
        """``agent``'s own JSON schema where its bounds are its own and so stay out of the shared schema class
        (see `Decision.json_schema`); None: the class's."""
        return None

    def enforce(self, ctx: StepContext) -> None:
        """Act on the step's outcome: detect violations, sanction, adjudicate, update records."""

    @classmethod
    def text_only(cls) -> bool:
        """Whether the institution only adds rule text: no action fields, observations, phase, penalties or
        enforcement, so only agents that read the rules' text (LLM agents) can respond to it."""
        hooks = ("action_fields", "observe_public", "observe", "observer", "enforce", "expected_penalty")
        return cls.phase is None and all(getattr(cls, h) is getattr(Institution, h) for h in hooks)

    def expected_penalty(self, agent: SocietyAgent, action: BaseModel) -> Penalty:
        """What ``action`` is expected to cost ``agent`` this step under this institution (see sim/incentives.py):
        the number a rule-based agent reads where an LLM reads the rules' text. Default: nothing."""
        return Penalty()


INSTITUTIONS: Registry[type[Institution]] = Registry("institution", packages=("sim.institutions",))
"""``institutions: [{kind: name}]``: every module of `sim.institutions` registers its classes here."""
