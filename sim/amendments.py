"""Amendments: changes to the rules of a running society, in force from the next step.

An amendment changes parameters of the environment or of an institution (a tax rate, a sanction's cost,
monitoring's probability, a contract's completeness, a norm's or a constitution's text), adds an institution,
or removes one. It is checked as a scenario file is: the amended scenario must validate, the checks across
components included (`sim.scenario_checks`), so a bad value is a message and nothing changes.
An applied amendment becomes an ``amendment`` event (step, who, what, old -> new) and an entry of the run's
``amendments.yaml``, which ``alignsim run SCENARIO --amendments FILE`` replays: the same scenario, seed and
amendments (and the reply cache) give the same run.

A file::

    scenario: market_tax
    seed: 0
    amendments:
    - {step: 6, who: user, target: tax, set: {rate: 2.0}, old: {rate: 0.0}}
    - {step: 9, who: user, target: monitoring, add: {probability: 0.5}, at: 1}
    - {step: 12, who: user, target: sanctions, remove: true}
    - {step: 12, who: user, target: norms, set: {rules.0.text: "Give at least half."}}

``target`` is ``environment``, an institution's kind, or ``institutions.N`` where several share a kind.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from sim.errors import UserError
from sim.scenario_files import StrictModel
from sim.step import Event

if TYPE_CHECKING:
    from sim.component import Component
    from sim.model import SocietyModel
    from sim.scenario import Scenario

AMENDMENTS_FILE = "amendments.yaml"


class Amendment(StrictModel):
    """One change of the rules: ``set`` parameters of a component, ``add`` an institution, or ``remove`` one."""

    step: int = Field(ge=1, description="The first step that runs under the amended rules.")
    who: str | int = Field("user", description="Who amended: 'user', an agent's id, an institution's kind.")
    target: str = Field(min_length=1, description="'environment', an institution's kind, or 'institutions.N'.")
    set: dict[str, Any] | None = Field(
        None, description="Parameter -> new value; a dotted name reaches inside, e.g. 'rules.0.text'.")
    add: dict[str, Any] | None = Field(None, description="The parameters of a new institution of kind `target`.")
    at: int | None = Field(None, ge=0, description="Where the added institution is listed (default: last).")
    remove: bool = Field(False, description="Remove the institution `target`.")
    old: dict[str, Any] | None = Field(None, description="Each set parameter's value before (filled in when applied).")

    @model_validator(mode="after")
    def _one_change(self) -> Amendment:
        changes = [name for name in ("set", "add", "remove") if getattr(self, name) not in (None, False)]
        if len(changes) != 1:
            raise ValueError(f"an amendment makes exactly one change: set, add or remove (got {changes or 'none'})")
        if self.set is not None and not self.set:
            raise ValueError("set: name at least one parameter")
        if self.set is not None and "kind" in self.set:
            raise ValueError("set: 'kind' cannot be amended; remove the institution and add another")
        if self.at is not None and self.add is None:
            raise ValueError("at: only an added institution has a position")
        if self.target == "environment" and self.set is None:
            raise ValueError("the environment can be amended, not added or removed")
        return self

    def describe(self) -> str:
        """What changed, as the events feed shows it: 'tax.rate 0 -> 2'."""
        if self.remove:
            return f"removed {self.target}"
        if self.add is not None:
            given = ", ".join(f"{k}={_short(v)}" for k, v in self.add.items())
            return f"added {self.target}" + (f" ({given})" if given else "")
        if self.old is None:
            return "; ".join(f"{self.target}.{k} = {_short(v)}" for k, v in self.set.items())
        return "; ".join(f"{self.target}.{k} {_short(self.old.get(k))} -> {_short(v)}" for k, v in self.set.items())


class AmendmentsFile(StrictModel):
    """``amendments.yaml``: the amendments of one run, in the order they were made."""

    scenario: str = Field("", description="The scenario's name, for the reader; not checked.")
    seed: int | None = Field(None, description="The run's seed, for the reader; `--seed` sets the replay's.")
    amendments: list[Amendment] = Field(default_factory=list)


class Amendments:
    """A model's amendments: those scheduled (replayed from a file) and those applied so far."""

    def __init__(self, model: SocietyModel, scheduled: Iterable[Amendment] = ()) -> None:
        self.model = model
        self.scheduled = sorted(scheduled, key=lambda a: a.step)  # stable: same-step amendments keep file order
        check_schedule(self.scheduled, model.spec.steps)
        self.applied: list[Amendment] = []

    def apply_due(self, step: int) -> None:
        """Apply the scheduled amendments of ``step``, at its start; one that no longer fits is fatal."""
        for amendment in self.scheduled:
            if amendment.step == step:
                self.apply(amendment, check_old=True)

    def apply(self, amendment: Amendment, check_old: bool = False, record: bool = True) -> Amendment:
        """Validate ``amendment`` against the rules in force and put it in force; a `UserError` changes nothing.

        Returns the amendment as applied, with ``old`` filled in. ``check_old``: a replayed amendment's recorded
        old values must be the run's, or the replay is not of the run that was amended. ``record``: False for an
        amendment the run's own institutions make (an assembly's vote, a designer's update): any replay of the
        run makes it again, so it is logged as an event but kept out of `applied` (and of amendments.yaml).
        """
        model = self.model
        data = current_data(model)
        index = self._locate(amendment, data["institutions"])
        old = None
        if amendment.set is not None:
            node = data["environment"] if index is None else data["institutions"][index]
            old = {key: _put(node, key, value, amendment) for key, value in amendment.set.items()}
            if check_old and amendment.old is not None:
                _check_old(amendment, old)
        elif amendment.add is not None:
            data["institutions"].insert(index, {**amendment.add, "kind": amendment.target})
        else:
            del data["institutions"][index]
        from sim.scenario import validate_scenario

        scenario = validate_scenario(data, f"amendment at step {amendment.step} ({amendment.describe()})")
        applied = amendment.model_copy(update={"old": old})
        _install(model, scenario, applied, index)
        model.spec = scenario
        if record:
            self.applied.append(applied)
        agent_id = applied.who if isinstance(applied.who, int) else None
        model.events.append(Event(applied.step, "amendment", agent_id, None, None, f"{applied.who}: "
                                  f"{applied.describe()}"))
        return applied

    def setting(self, target: str, parameter: str) -> Any:
        """The value in force of ``parameter`` (dotted, e.g. 'specification.2') of the component ``target``,
        named as an amendment names it."""
        probe = Amendment(step=1, target=target, set={parameter: None})
        index = self._locate(probe, [{"kind": i.kind} for i in self.model.institutions])
        component = self.model.environment if index is None else self.model.institutions[index]
        return read_setting(component.params, parameter, target)

    def _locate(self, amendment: Amendment, institutions: list[dict[str, Any]]) -> int | None:
        """The index of the institution ``target`` names (None: the environment); for ``add``, where it goes."""
        target = amendment.target
        if amendment.add is not None:
            at = len(institutions) if amendment.at is None else amendment.at
            if at > len(institutions):
                raise UserError(f"amendment: at {at} is past the end of the {len(institutions)} institutions")
            return at
        if target == "environment":
            return None
        kinds = [i["kind"] for i in institutions]
        if target.startswith("institutions."):
            number = target.removeprefix("institutions.")
            if not number.isdigit() or int(number) >= len(kinds):
                raise UserError(f"amendment: '{target}': there are {len(kinds)} institutions (0 to {len(kinds) - 1})")
            return int(number)
        matches = [i for i, kind in enumerate(kinds) if kind == target]
        if not matches:
            from sim.registry import closest

            listed = ", ".join(kinds) or "none"
            raise UserError(f"amendment: no institution '{target}' in force{closest(target, kinds)}; "
                            f"in force: {listed}; or 'environment'")
        if len(matches) > 1:
            raise UserError(f"amendment: {len(matches)} institutions of kind '{target}' are in force; name one as "
                            + " or ".join(f"institutions.{i}" for i in matches))
        return matches[0]


def check_schedule(amendments: Iterable[Amendment], steps: int, source: str = "amendments") -> None:
    """Refuse amendments scheduled past a run's last step: the run would end without ever applying them, silently.
    ``source`` names where they come from (the amendments file)."""
    late = [f"amendment {i} at step {a.step} ({a.describe()})" for i, a in enumerate(amendments, 1) if a.step > steps]
    if late:
        raise UserError(f"{source}: {'; '.join(late)}: past the run's last step, {steps} (its steps run from 1 to "
                        f"{steps}): set a step of at most {steps}, or run more steps (--set steps=N)")


def current_data(model: SocietyModel) -> dict[str, Any]:
    """The scenario as in force now, as plain data: the live parameters, which amendments and votes change."""
    data = model.spec.model_dump(mode="json")
    data["environment"] = model.environment.params.model_dump(mode="json")
    data["institutions"] = [i.params.model_dump(mode="json") for i in model.institutions]
    return data


def read_setting(params: BaseModel, parameter: str, target: str) -> Any:
    """The value of ``parameter`` (dotted inside lists, e.g. 'specification.2') in a component's ``params``;
    a `UserError` if the path does not lead to one."""
    return _put(params.model_dump(mode="json"), parameter, None, Amendment(step=1, target=target,
                                                                          set={parameter: None}))


def amended_params(params: BaseModel, settings: dict[str, Any], target: str) -> BaseModel:
    """``params`` with ``settings`` (dotted names) changed and validated by its own model: the component-level
    half of an amendment's check, usable on a scenario before any model exists. A `UserError` if refused."""
    data = params.model_dump(mode="json")
    probe = Amendment(step=1, target=target, set=dict(settings))
    for key, value in settings.items():
        _put(data, key, value, probe)
    try:
        return type(params).model_validate(data)
    except ValidationError as exc:
        raise UserError(exc.errors()[0]["msg"]) from None


def _put(node: dict[str, Any], dotted: str, value: Any, amendment: Amendment) -> Any:
    """Set ``dotted`` (e.g. 'rules.0.text') inside ``node`` to ``value``; returns the value it replaces."""
    parts = dotted.split(".")
    for i, part in enumerate(parts[:-1]):
        child = node[int(part)] if isinstance(node, list) and part.isdigit() and int(part) < len(node) else (
            node.get(part) if isinstance(node, dict) else None)
        if not isinstance(child, dict | list):
            where = ".".join(parts[: i + 1])
            raise UserError(f"amendment: {amendment.target}.{where} is not a section with parameters inside")
        node = child
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise UserError(f"amendment: {amendment.target}.{dotted}: not an index of a list of {len(node)}")
        previous, node[int(last)] = node[int(last)], copy.deepcopy(value)
        return previous
    previous = node.get(last)
    node[last] = copy.deepcopy(value)
    return previous


def _check_old(amendment: Amendment, old: dict[str, Any]) -> None:
    for key, recorded in (amendment.old or {}).items():
        if key in old and old[key] != recorded:
            raise UserError(
                f"amendment at step {amendment.step}: {amendment.target}.{key} is {_short(old[key])} in this run, "
                f"but the amended run had {_short(recorded)}: replay with the scenario and seed that were amended"
            )


def _install(model: SocietyModel, scenario: Scenario, amendment: Amendment, index: int | None) -> None:
    """Put the validated scenario's change into the live components; on a `UserError`, restore them all."""
    from sim.institutions.base import INSTITUTIONS

    environment_params = model.environment.params
    institutions = list(model.institutions)
    params = [i.params for i in institutions]
    added: Component | None = None
    try:
        if amendment.set is not None:
            component = model.environment if index is None else model.institutions[index]
            component.params = scenario.environment if index is None else scenario.institutions[index]
        elif amendment.add is not None:
            added = INSTITUTIONS.get(amendment.target)(model, scenario.institutions[index])
            model.institutions.insert(index, added)
        else:
            model.institutions.pop(index)
        for component in model.components:
            component.configure()
        if added is not None:
            added.setup()
    except UserError as exc:
        model.environment.params = environment_params
        model.institutions[:] = institutions
        for institution, before in zip(institutions, params, strict=True):
            institution.params = before
        for component in model.components:
            component.configure()
        raise UserError(f"amendment at step {amendment.step} refused ({amendment.describe()}): {exc}") from None
    if amendment.set is None:
        follow_components(model)


def follow_components(model: SocietyModel) -> None:
    """Point the data collector at the components now in force: a removed institution's metrics read NaN from
    now on; an added one's model metrics are recorded from now on (NaN before). An added institution's agent
    columns are not recorded: Mesa's agent table keeps the columns it started with."""
    collector = model.datacollector
    reporters = model._model_reporters()
    recorded = len(next(iter(collector.model_vars.values()), []))
    for name in collector.model_reporters:
        collector.model_reporters[name] = reporters.get(name, _nothing)
    for name, reporter in reporters.items():
        if name not in collector.model_reporters:
            collector._new_model_reporter(name, reporter)
            collector.model_vars[name] = [None] * recorded
    agent_reporters = model._agent_reporters()
    for name, current in collector.agent_reporters.items():
        reporter = agent_reporters.get(name, _nothing)
        collector.agent_reporters[name] = reporter if callable(reporter) else current  # Mesa wrapped the names


def _nothing(_: object) -> None:
    return None


def _short(value: Any) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- amendments.yaml ---------------------------------------------------------------------------------
def load_amendments(path: str | Path) -> list[Amendment]:
    """Read and validate an amendments file (the scenario's YAML limits: size, depth, aliases, duplicate keys);
    every mistake is one `UserError` naming file, line and field."""
    from sim.scenario_errors import format_errors
    from sim.yaml_loader import load_yaml_file

    data, lines = load_yaml_file(path, "amendments file")
    if isinstance(data, list):  # a bare list of amendments
        data, lines = {"amendments": data}, {("amendments", *k): v for k, v in lines.items()}
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping with 'amendments:' (a list), got {type(data).__name__}")
    try:
        return AmendmentsFile.model_validate(data).amendments
    except ValidationError as exc:
        raise UserError(format_errors(exc, AmendmentsFile, data, str(path), lines, {})) from None


def dump_amendments(amendments: list[Amendment], scenario: str = "", seed: int | None = None) -> str:
    """The text of ``amendments.yaml``: readable, and read back by `load_amendments` to the same amendments."""
    document = AmendmentsFile(scenario=scenario, seed=seed, amendments=amendments)
    body = document.model_dump(mode="json", exclude_defaults=True)
    body["amendments"] = [a.model_dump(mode="json", exclude_defaults=True) for a in amendments]
    head = (f"# Amendments of a run of '{scenario}'. Replay: alignsim run SCENARIO --amendments amendments.yaml"
            + (f" --seed {seed}" if seed is not None else "") + "\n")
    return head + yaml.safe_dump(body, sort_keys=False, allow_unicode=True)
