"""What each component needs of the rest of a scenario, checked before any model is built.

Pydantic checks each component's own parameters. These checks look across components, from what the
component classes declare:

- ``environments`` (policies and institutions): the environment kinds it works with (empty: any);
- ``needs`` (institutions): kinds that must be listed before it; ``after``: kinds that, when listed, must
  come before it (each stage of a pipeline reads the one before);
- ``check(params, scenario)``: a component's own cross-checks (a norm on a field the environment lacks, a
  fine with no norm, a market naming a missing group); it yields `Problem`s located within its entry;
- ``uses_llm(params)``: whether it asks the scenario's LLM (so a run makes a client even without LLM agents).

`scenario_problems` runs them all on a `Scenario` object, so `alignsim validate`, `alignsim run`, sweeps
(every cell before any runs) and anything else that changes a scenario (amendments) refuse the same things,
each with its place in the file. A `Problem` with ``warning=True`` is printed by ``validate`` and refuses nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from agents.policy import POLICIES
from sim.component import Problem
from sim.environments.base import ENVIRONMENTS
from sim.errors import UserError
from sim.institutions.base import INSTITUTIONS
from sim.network import edge_positions
from sim.resources import memory_problem

if TYPE_CHECKING:
    from sim.component import Params
    from sim.scenario import Scenario

__all__ = ["Problem", "position", "scenario_problems", "unknown_groups", "uses_llm"]


def position(scenario: Scenario, params: Params) -> int:
    """Where ``params`` (an entry of ``scenario.institutions``) is listed."""
    return next(i for i, spec in enumerate(scenario.institutions) if spec is params)


def scenario_problems(scenario: Scenario) -> list[Problem]:
    """Every cross-component problem of ``scenario``, errors and warnings, in the order of the file."""
    found = [*_policy_problems(scenario)]
    environment = ENVIRONMENTS.get(scenario.environment.kind)
    found += [p.within("environment") for p in environment.check(scenario.environment, scenario)]
    for index, spec in enumerate(scenario.institutions):
        found += [p.within("institutions", index) for p in _institution_problems(scenario, index, spec)]
    found += _network_problems(scenario)
    found += _memory_problems(scenario)
    found += _llm_problems(scenario)
    found += _adapter_problems(scenario)
    found += _group_warnings(scenario)
    return found


def uses_llm(scenario: Scenario) -> bool:
    """Whether a run of ``scenario`` asks an LLM: an LLM group, or a component that asks it (an LLM judge)."""
    groups = any(POLICIES.get(g.policy.kind).uses_llm(g.policy) for g in scenario.population)
    components = [(ENVIRONMENTS.get(scenario.environment.kind), scenario.environment)]
    components += [(INSTITUTIONS.get(spec.kind), spec) for spec in scenario.institutions]
    return groups or any(cls.uses_llm(params) for cls, params in components)


def llm_decisions(scenario: Scenario) -> int:
    """At least how many LLM decisions a run of ``scenario`` asks: one per LLM agent and step (more phases, talk
    rounds and re-asks only add to it), or one per step where only a component asks the LLM."""
    agents = sum(g.count for g in scenario.population if POLICIES.get(g.policy.kind).uses_llm(g.policy))
    return scenario.steps * max(agents, 1) if uses_llm(scenario) else 0


def unknown_groups(scenario: Scenario, key: str, names: list[str]) -> Iterator[Problem]:
    """A problem at ``key`` if ``names`` (of a component's parameter) are not all population groups."""
    groups = [g.name for g in scenario.population]
    unknown = [n for n in names if n not in groups]
    if unknown:
        yield Problem((key,), f"no population group named {', '.join(unknown)} (groups: {', '.join(groups)})")


def _policy_problems(scenario: Scenario) -> Iterator[Problem]:
    env = scenario.environment.kind
    for index, group in enumerate(scenario.population):
        policy = POLICIES.get(group.policy.kind)
        if policy.environments and env not in policy.environments:
            yield Problem(("population", index, "policy"), f"policy '{policy.kind}' is for environment "
                          f"{_either(policy.environments)}, not '{env}'")
        yield from (p.within("population", index, "policy") for p in policy.check(group.policy, scenario))


def _institution_problems(scenario: Scenario, index: int, spec: Params) -> Iterator[Problem]:
    cls = INSTITUTIONS.get(spec.kind)
    env = scenario.environment.kind
    if cls.environments and env not in cls.environments:
        yield Problem(("kind",), f"'{cls.kind}' works with environment {_either(cls.environments)}, not '{env}'")
        return
    listed = [s.kind for s in scenario.institutions]
    for kind in (*cls.needs, *(k for k in cls.after if k not in cls.needs)):
        if kind not in listed:
            if kind in cls.needs:
                yield Problem(("kind",), f"'{cls.kind}' needs a '{kind}' institution listed before it")
        elif listed.index(kind) > index:
            yield Problem(("kind",), f"'{cls.kind}' reads '{kind}': list '{kind}' before '{cls.kind}'")
    yield from cls.check(spec, scenario)


def _network_problems(scenario: Scenario) -> Iterator[Problem]:
    net, n = scenario.network, scenario.agent_count()
    if net.kind == "barabasi_albert" and net.m >= n:
        yield Problem(("network", "m"), f"must be smaller than the number of agents ({n}), got {net.m}")
    if net.kind == "edgelist" and net.path is not None:
        try:
            for _ in edge_positions(net.path, n):
                pass
        except UserError as exc:
            yield Problem(("network", "path"), str(exc))


def _memory_problems(scenario: Scenario) -> Iterator[Problem]:
    problem = memory_problem([scenario])
    if problem:
        yield Problem(("population",), problem)


def _llm_problems(scenario: Scenario) -> Iterator[Problem]:
    if not uses_llm(scenario):
        return
    llm = scenario.llm
    if llm.backend == "replay" and llm.cache is None and not llm.cache_from:
        yield Problem(("llm", "cache"), "backend replay answers from the cache, but llm.cache is null: set llm.cache")
    for index, path in enumerate(llm.cache_from):
        if not Path(path).exists():
            yield Problem(("llm", "cache_from", index), f"no reply cache, run or sweep directory at {path}")
    if llm.backend == "openai" and not llm.base_url:
        yield Problem(("llm", "backend"), "backend openai needs a server: set llm.base_url, or pass --server URL "
                      "to alignsim run", warning=True)


def _adapter_problems(scenario: Scenario) -> Iterator[Problem]:
    """A group's adapter must exist, fit the scenario's model, and belong to a group that asks the LLM."""
    from sim.training.adapters import resolve_adapter

    for index, group in enumerate(scenario.population):
        name = group.llm.adapter
        if name is None:
            continue
        where = ("population", index, "llm", "adapter")
        if not POLICIES.get(group.policy.kind).uses_llm(group.policy):
            yield Problem(where, f"group '{group.name}' decides by policy '{group.policy.kind}', which asks no LLM: "
                          "an adapter needs policy llm")
            continue
        try:
            resolve_adapter(name, scenario.llm.model)
        except UserError as exc:
            yield Problem(where, str(exc))


def _group_warnings(scenario: Scenario) -> Iterator[Problem]:
    for index, group in enumerate(scenario.population):
        if group.join_step > scenario.steps:
            yield Problem(("population", index, "join_step"), f"group '{group.name}' joins at step "
                          f"{group.join_step}, after the last step ({scenario.steps}): it never takes part",
                          warning=True)


def _either(kinds: tuple[str, ...]) -> str:
    return " or ".join(f"'{k}'" for k in kinds)
