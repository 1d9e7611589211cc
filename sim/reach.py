"""Whom an institution can reach: warnings for institutions that can change no one's decision.

A scenario can be valid and still test nothing: peer punishment where no group can punish, monitoring that never
observes, rules that only fixed-rule agents live under. `institution_warnings` finds these from the scenario
alone (no model is built), so `alignsim validate` can say so before a run is spent on them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agents.policy import POLICIES
from sim.institutions.base import INSTITUTIONS

if TYPE_CHECKING:
    from sim.scenario import Scenario


def institution_warnings(scenario: Scenario) -> list[str]:
    """One message per institution that cannot affect any agent's decision, naming why."""
    groups = [(g.name, POLICIES.get(g.policy.kind)) for g in scenario.population]
    warnings = []
    for index, spec in enumerate(scenario.institutions):
        cls = INSTITUTIONS.get(spec.kind)
        where = f"institutions.{index} ({spec.kind})"
        if getattr(spec, "probability", None) == 0:
            warnings.append(f"{where}: probability 0, so no act is ever observed: nothing is detected, fined or "
                            "recorded")
        if spec.kind == "sanctions" and not spec.peer and not spec.fine:
            warnings.append(f"{where}: peer punishment is off and the fine is 0, so it sanctions nothing")
        deciding = cls.phase is not None and not (spec.kind == "sanctions" and not spec.peer)
        if deciding and not any(policy.answers(cls.phase) for _, policy in groups):
            names = ", ".join(f"{name} ({policy.kind})" for name, policy in groups)
            warnings.append(f"{where}: no group decides its '{cls.phase}' phase ({names} always take the "
                            "fallback), so that phase changes nothing")
        readers = [name for name, policy in groups if policy.reads(cls)]
        if not readers:
            names = ", ".join(f"{name} ({policy.kind})" for name, policy in groups)
            warnings.append(f"{where}: no group's decisions can depend on it ({names} ignore it); it may still "
                            "move payoffs, but it cannot change behaviour")
    return warnings
