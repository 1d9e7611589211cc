"""The scenario file: its schema, loading, ``--set`` overrides, and errors that say where and what.

A scenario is validated in one pass by pydantic. Environments, institutions and policies are tagged
unions built from the registries, so ``environment: {kind: commons, regrowth: 1.5}`` is checked
against the commons' own parameters, and a new component needs no change here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from agents.policy import POLICIES
from sim import scenario_checks
from sim.environments.base import ENVIRONMENTS
from sim.errors import UserError
from sim.institutions.base import INSTITUTIONS
from sim.llm.config import GroupLLM, LLMConfig, SamplingOverrides
from sim.registry import Registry
from sim.scenario_errors import Places, format_errors
from sim.scenario_files import ScenarioFile, Seed, StrictModel
from sim.sweeps.spec import SweepSpec
from sim.yaml_loader import load_yaml_file, parse_yaml_value

MAX_NAME_BYTES = 200
"""The longest scenario name: file systems allow 255 bytes a folder name, and sweeps add to it."""


def _tagged_union(registry: Registry, what: str) -> Any:
    """A union of each registered component's parameters, tagged by ``kind``."""
    specs = [
        create_model(
            f"{registry.get(name).__name__}Spec",
            __base__=registry.get(name).Params,
            kind=(Literal[name], Field(description=f"The {what}: '{name}'.")),
        )
        for name in registry.names()
    ]
    if len(specs) == 1:
        return specs[0]
    return Annotated[Union[tuple(specs)], Field(discriminator="kind")]  # noqa: UP007


EnvironmentSpec = _tagged_union(ENVIRONMENTS, "environment")
InstitutionSpec = _tagged_union(INSTITUTIONS, "institution") if INSTITUTIONS.names() else dict
PolicySpec = _tagged_union(POLICIES, "policy")


class GroupSpec(StrictModel):
    """A population group: ``count`` agents sharing a policy and a persona."""

    name: str = Field("", pattern=r"^[A-Za-z0-9_\-]*$", description="Group name; the policy's name if omitted.")
    count: int = Field(ge=1, description="Number of agents in the group.")
    policy: PolicySpec = Field(description="Who decides: 'llm' or a rule-based policy, e.g. 'greedy'.")
    persona: str = Field("", description="Text that tells this group's LLM agents who they are.")
    join_step: int = Field(1, ge=1, description="Step at which the group's agents enter (newcomers join later).")
    memory: int = Field(20, ge=0, description="How many recent memory entries each agent keeps.")
    sampling: SamplingOverrides = Field(
        default_factory=SamplingOverrides, description="This group's overrides of the llm: block's sampling."
    )
    llm: GroupLLM = Field(
        default_factory=GroupLLM, description="What this group's LLM agents run on: a trained adapter (adapter: NAME)."
    )

    @field_validator("policy", mode="before")
    @classmethod
    def _policy_shorthand(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _default_name(self) -> GroupSpec:
        if not self.name:
            self.name = self.policy.kind
        return self


class NetworkSpec(StrictModel):
    """The social network, built with networkx over the agents in population order."""

    kind: Literal["complete", "ring", "watts_strogatz", "barabasi_albert", "erdos_renyi", "edgelist"] = Field(
        "complete", description="The topology: everyone, a ring, small world, scale-free, random, or a file."
    )
    k: int = Field(4, ge=2, description="Neighbours per node (ring, watts_strogatz).")
    p: float = Field(0.1, ge=0, le=1, description="Rewiring (watts_strogatz) or edge (erdos_renyi) probability.")
    m: int = Field(2, ge=1, description="Edges per new node (barabasi_albert).")
    path: ScenarioFile | None = Field(None, description="Edge-list file (edgelist): one 'i j' pair per line.")

    @model_validator(mode="after")
    def _edgelist_needs_path(self) -> NetworkSpec:
        if self.kind == "edgelist" and self.path is None:
            raise ValueError("network kind 'edgelist' needs 'path: FILE'")
        return self


class TalkSpec(StrictModel):
    """Optional conversation rounds before each decision (GovSim's discussion)."""

    rounds: int = Field(0, ge=0, description="Talk rounds per step; 0 disables communication.")
    max_chars: int = Field(300, gt=0, description="Longest message an agent may send.")


class OutputSpec(StrictModel):
    dir: str = Field("runs", description="Folder under which run directories are created.")
    plots: bool = Field(True, description="Write PNG plots of the key metrics.")
    transcript: bool = Field(True, description="Write every LLM prompt and reply to transcript.jsonl.")


class Scenario(StrictModel):
    """One experiment: who is in the society, the game they play, the institutions they live under."""

    name: str = Field(min_length=1, description="Short name; used for run directory names.")
    description: str = Field("", description="Free text, shown in summary.md.")
    seed: Seed = Field(0, description="Run seed: Mesa's RNG and every LLM request's seed derive from it.")
    steps: int = Field(ge=1, description="Number of steps (months, rounds, periods).")
    population: list[GroupSpec] = Field(min_length=1, description="The groups of agents, in id order.")
    network: NetworkSpec = Field(default_factory=NetworkSpec, description="Who hears and sees whom.")
    environment: EnvironmentSpec = Field(description="The base game, by kind, with its parameters.")
    institutions: list[InstitutionSpec] = Field(
        default_factory=list, description="The rules in force, by kind, in the order they act each step."
    )
    llm: LLMConfig = Field(default_factory=LLMConfig, description="The LLM: backend, model, sampling, cache.")
    talk: TalkSpec = Field(default_factory=TalkSpec, description="Conversation rounds before each decision.")
    output: OutputSpec = Field(default_factory=OutputSpec, description="What a run writes, and where.")
    sweep: SweepSpec | None = Field(None, description="Parameter sweep for `alignsim sweep` (see docs/sweeps.md).")
    _overrides: tuple[str, ...] = PrivateAttr(default=())
    _warnings: list[str] = PrivateAttr(default_factory=list)

    @field_validator("name")
    @classmethod
    def _one_folder(cls, name: str) -> str:
        """The name is a folder of run and sweep directories (``runs/<name>/...``): '/' or '..' put them elsewhere."""
        if "/" in name or "\\" in name or name.strip(".") == "":
            raise ValueError(f"'{name}' cannot name a folder (runs/<name>/...): no '/' or '\\', not only dots")
        if len(name.encode()) > MAX_NAME_BYTES:
            raise ValueError(f"{len(name.encode())} bytes long: a folder name is at most {MAX_NAME_BYTES} here")
        return name

    @model_validator(mode="after")
    def _groups_fit(self) -> Scenario:
        names = [g.name for g in self.population]
        duplicate = {n for n in names if names.count(n) > 1}
        if duplicate:
            raise ValueError(f"group names must be unique; repeated: {', '.join(sorted(duplicate))}")
        return self

    @property
    def overrides(self) -> tuple[str, ...]:
        """The ``--set`` overrides this scenario was loaded with, in order (a run records them)."""
        return self._overrides

    @property
    def warnings(self) -> list[str]:
        """What `check_scenario` found worth saying but not refusing, each at its place (``validate`` prints them)."""
        return list(self._warnings)

    def uses_llm(self) -> bool:
        """Whether a run asks an LLM: an LLM group, or a component that asks it itself (an LLM judge)."""
        return scenario_checks.uses_llm(self)

    def agent_count(self) -> int:
        return sum(g.count for g in self.population)

    def llm_decisions(self) -> int:
        """At least how many LLM decisions a run asks (what chooses an engine's mode)."""
        return scenario_checks.llm_decisions(self)


def apply_override(data: dict[str, Any], assignment: str) -> tuple[str, ...]:
    """Apply one ``dotted.path=value`` to raw scenario data; returns the path. The value is read as YAML."""
    if "=" not in assignment:
        raise UserError(f"--set {assignment}: expected dotted.path=value, e.g. environment.regrowth=1.5")
    dotted, raw = assignment.split("=", 1)
    parts = tuple(int(p) if p.isdigit() else p for p in dotted.strip().split("."))
    if any(p == "" for p in parts):
        raise UserError(f"--set {assignment}: empty part in the path '{dotted}'")
    value = parse_yaml_value(raw, f"--set {assignment}") if raw.strip() else ""
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        where = ".".join(map(str, parts[: i + 1]))
        if isinstance(node, list):
            if not isinstance(part, int) or part >= len(node):
                raise UserError(f"--set {assignment}: '{where}' is not an index of a list of {len(node)}")
            node = node[part]
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            raise UserError(f"--set {assignment}: '{where}' is a value, not a section")
    last = parts[-1]
    if isinstance(node, list):
        if not isinstance(last, int) or last >= len(node):
            raise UserError(f"--set {assignment}: {last} is not an index of a list of {len(node)}")
        node[last] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise UserError(f"--set {assignment}: the parent of '{last}' is a value, not a section")
    return parts


def validate_scenario(
    data: Any, source: str = "<scenario>", base_dir: Path | str = ".", lines: dict | None = None,
    overrides: dict[tuple, str] | None = None,
) -> Scenario:
    """Validate raw data into a checked Scenario (`check_scenario`), or raise a UserError listing every problem
    with its location."""
    if not isinstance(data, dict):
        raise UserError(f"{source}: a scenario must be a mapping of keys to values, got {type(data).__name__}")
    try:
        scenario = Scenario.model_validate(data, context={"base_dir": str(base_dir)})
    except ValidationError as exc:
        raise UserError(format_errors(exc, Scenario, data, source, lines or {}, overrides or {})) from None
    scenario._overrides = tuple((overrides or {}).values())
    return check_scenario(scenario, Places(source, lines or {}, overrides or {}))


def check_scenario(scenario: Scenario, places: Places | None = None) -> Scenario:
    """``scenario`` once every cross-component check passes (`sim.scenario_checks`), with its warnings kept in
    ``scenario.warnings``; a UserError listing the problems, each at its place, otherwise.

    Whatever changes a validated Scenario (a live amendment) calls this on the result, so that it is refused
    exactly as a scenario file would be; ``places`` names where the scenario came from.
    """
    places = places or Places("<scenario>")
    problems = scenario_checks.scenario_problems(scenario)
    errors = [places.line(p.loc, p.message) for p in problems if not p.warning]
    if errors:
        raise UserError(places.report(errors))
    scenario._warnings = [places.line(p.loc, p.message) for p in problems if p.warning]
    return scenario


def load_scenario(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Read, override and validate a scenario file. Every user mistake becomes one `UserError`."""
    path = Path(path)
    data, lines = load_yaml_file(path)
    data = {} if data is None else data
    applied = {}
    if isinstance(data, dict):
        applied = {apply_override(data, o): o for o in overrides}
    return validate_scenario(data, str(path), path.parent, lines, applied)


def scenario_from_dict(data: dict[str, Any], overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Build a Scenario from a dict (notebooks), with the same overrides and errors as a file."""
    import copy

    data = copy.deepcopy(data)
    applied = {apply_override(data, o): o for o in overrides}
    return validate_scenario(data, "<dict>", ".", {}, applied)
