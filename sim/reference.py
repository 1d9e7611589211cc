"""The reference of every component, from the classes themselves: ``alignsim kinds``, ``alignsim describe`` and the
parameter tables of docs/components.md.

Everything comes from what the code declares: each registered class, its docstring, its ``Params`` model (names,
types with their bounds, defaults, descriptions) and what it declares it works with (``environments``, ``needs``,
``after``, a decision ``phase``). So the docs cannot fall behind the code: ``python -m sim.reference
docs/components.md`` rewrites the page, and a test fails when the page differs from what it would write.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from sim.errors import UserError
from sim.registry import Registry, closest

DOC_PAGE = Path(__file__).resolve().parent.parent / "docs" / "components.md"
_BOUNDS = {annotated_types.Ge: ("≥", "ge"), annotated_types.Gt: (">", "gt"), annotated_types.Le: ("≤", "le"),
           annotated_types.Lt: ("<", "lt")}


def registries() -> dict[str, Registry]:
    """Each kind of component, by what it is called in the plural, in the order a scenario file lists them."""
    from agents.policy import POLICIES
    from sim.environments.base import ENVIRONMENTS
    from sim.institutions.base import INSTITUTIONS

    return {"environments": ENVIRONMENTS, "institutions": INSTITUTIONS, "policies": POLICIES}


@dataclass(frozen=True)
class Parameter:
    """One scenario key of a component: its name, type (with bounds), default and description."""

    name: str
    type: str
    default: str
    description: str


def type_name(annotation: Any) -> str:
    """A readable type: ``float``, ``'a' | 'b'``, ``list[Norm]``, ``file`` for a path named in the scenario."""
    from sim.scenario_files import ScenarioFile

    if annotation == ScenarioFile:
        return "file"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        component = _component_union(args)
        return component or " | ".join("null" if a is type(None) else type_name(a) for a in args)
    if origin in (list, tuple, set):
        return f"list[{type_name(args[0])}]"
    if origin is dict:
        return f"dict[{type_name(args[0])}, {type_name(args[1])}]"
    return getattr(annotation, "__name__", str(annotation))


def _component_union(members: tuple[Any, ...]) -> str | None:
    """'environment', 'institution' or 'policy' for the tagged union of a registry's parameter models."""
    kinds = set()
    for member in members:
        field = getattr(member, "model_fields", {}).get("kind")
        if field is None:
            return None
        kinds.update(typing.get_args(field.annotation))
    for what, registry in registries().items():
        if kinds == set(registry.names()):
            return "policy" if what == "policies" else what[:-1]
    return None


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _bounds(info: FieldInfo) -> str:
    found = []
    for item in info.metadata:
        for kind, (sign, attr) in _BOUNDS.items():
            if isinstance(item, kind):
                found.append(f"{sign} {_number(getattr(item, attr))}")
        if isinstance(item, annotated_types.MinLen) and item.min_length:
            found.append(f"at least {item.min_length}")
    return ", ".join(found)


def _default(info: FieldInfo) -> str:
    if info.default is PydanticUndefined and info.default_factory is None:
        return "required"
    value = info.default_factory() if info.default_factory is not None else info.default  # type: ignore[call-arg]
    if isinstance(value, BaseModel):
        return "(defaults)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, str) else str(value)


def parameters(model: type[BaseModel]) -> list[Parameter]:
    """The scenario keys of ``model``: a component's ``Params`` or a section of the scenario."""
    rows = []
    for name, info in model.model_fields.items():
        bounds = _bounds(info)
        kind = type_name(info.annotation)
        rows.append(Parameter(name, f"{kind}, {bounds}" if bounds else kind, _default(info),
                              " ".join((info.description or "").split())))
    return rows


def nested_models(model: type[BaseModel]) -> list[type[BaseModel]]:
    """Models used inside ``model``'s fields (e.g. the norms' ``Norm``), which get tables of their own."""
    found: list[type[BaseModel]] = []

    def visit(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp not in found:
                found.append(tp)
            return
        for arg in typing.get_args(tp):
            visit(arg)

    for info in model.model_fields.values():
        visit(info.annotation)
    return found


def summary(cls: type) -> str:
    """The first paragraph of a class's docstring, on one line."""
    doc = inspect.getdoc(cls) or ""
    return " ".join(doc.split("\n\n")[0].split())


def works_with(cls: type) -> list[str]:
    """What a component declares it needs: environments, institutions before it, its decision phase, the LLM."""
    notes = []
    environments = getattr(cls, "environments", ())
    notes.append(f"environment {' or '.join(environments)}" if environments else "any environment")
    if getattr(cls, "needs", ()):
        notes.append(f"needs {', '.join(cls.needs)} listed before it")
    after = [k for k in getattr(cls, "after", ()) if k not in getattr(cls, "needs", ())]
    if after:
        notes.append(f"reads {', '.join(after)} when listed (list them before it)")
    if getattr(cls, "phase", None):
        notes.append(f"decision phase '{cls.phase}'")
    return notes


def find(kind: str) -> list[tuple[str, type]]:
    """Every component called ``kind`` (an environment and a policy may share a name), with what it is."""
    found = [(what, registry.get(kind)) for what, registry in registries().items() if kind in registry]
    if not found:
        names = sorted({n for r in registries().values() for n in r.names()})
        raise UserError(f"no component of kind '{kind}'{closest(kind, names)}; `alignsim kinds` lists them all")
    return found


def compatible(cls: type, environment: str | None) -> bool:
    environments = getattr(cls, "environments", ())
    return environment is None or not environments or environment in environments


# -- text for the terminal ---------------------------------------------------------------------------
def kinds_text(environment: str | None = None) -> str:
    """Every component (or those that work with ``environment``), one line each, grouped by what it is."""
    if environment is not None:
        registries()["environments"].get(environment)  # a UserError with a suggestion if unknown
    out = []
    for what, registry in registries().items():
        rows = [(n, registry.get(n)) for n in registry.names() if what == "environments" or compatible(
            registry.get(n), environment)]
        if what == "environments" and environment is not None:
            rows = [(n, c) for n, c in rows if n == environment]
        width = max(len(n) for n, _ in rows)
        out.append(what)
        for name, cls in rows:
            needs = "" if what == "environments" else f" [{'; '.join(works_with(cls))}]"
            out.append(f"  {name:<{width}}  {summary(cls)}{needs}")
    return "\n".join(out)


def describe_text(kind: str) -> str:
    """One component in full: what it is, what it works with, and every parameter."""
    out = []
    for what, cls in find(kind):
        out.append(f"{kind} ({what[:-1] if what != 'policies' else 'policy'}, {cls.__module__})")
        out.append(f"  {summary(cls)}")
        if what != "environments":
            out.append(f"  works with: {'; '.join(works_with(cls))}")
        for model in (cls.Params, *nested_models(cls.Params)):
            rows = parameters(model)
            title = "parameters" if model is cls.Params else f"each {model.__name__}"
            out.append(f"  {title}:" if rows else f"  {title}: none")
            widths = [max((len(getattr(r, f)) for r in rows), default=0) for f in ("name", "type", "default")]
            for r in rows:
                cells = (r.name, r.type, r.default)
                out.append("    " + "  ".join(f"{c:<{w}}" for c, w in zip(cells, widths, strict=True))
                           + f"  {r.description}")
    return "\n".join(out)


# -- the docs page -----------------------------------------------------------------------------------
def _table(model: type[BaseModel]) -> list[str]:
    rows = parameters(model)
    if not rows:
        return ["No parameters."]
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    return ["| key | type | default | description |", "|---|---|---|---|",
            *(f"| `{r.name}` | {cell(r.type)} | {cell(r.default)} | {cell(r.description)} |" for r in rows)]


def markdown() -> str:
    """docs/components.md: the scenario's sections, then every component, each with its parameter table."""
    from sim.scenario import GroupSpec, NetworkSpec, OutputSpec, Scenario, TalkSpec

    lines = [
        "# Components and their parameters",
        "",
        "<!-- Generated by `python -m sim.reference docs/components.md` from the code; do not edit by hand. -->",
        "",
        "Every key a scenario file may use, with its type, bounds and default. `alignsim kinds` lists the",
        "components, `alignsim kinds --environment KIND` those that work with one environment, and",
        "`alignsim describe KIND` prints one of them as below. See [scenarios.md](scenarios.md) for how a file is",
        "laid out and checked.",
        "",
        "## The scenario file",
        "",
    ]
    from sim.llm.config import GroupLLM, LLMConfig, SamplingOverrides
    from sim.sweeps.spec import SampleSpec, SweepSpec

    sections = [("top level", Scenario), ("`population:` each group", GroupSpec),
                ("`sampling:` of a group", SamplingOverrides), ("`llm:` of a group", GroupLLM),
                ("`network:`", NetworkSpec), ("`talk:`", TalkSpec), ("`output:`", OutputSpec),
                ("`llm:`", LLMConfig), ("`sweep:`", SweepSpec), ("`sweep.sample:`", SampleSpec)]
    for title, model in sections:
        lines += [f"### {title}", "", *_table(model), ""]
    for what, registry in registries().items():
        lines += [f"## {what.capitalize()}", ""]
        for name in registry.names():
            cls = registry.get(name)
            lines += [f"### `{name}`", "", summary(cls), ""]
            if what != "environments":
                lines += [f"Works with: {'; '.join(works_with(cls))}.", ""]
            lines += _table(cls.Params)
            for model in nested_models(cls.Params):
                lines += ["", f"Each `{model.__name__}`:", "", *_table(model)]
            lines.append("")
    return "\n".join(lines)


def add_parsers(commands: Any) -> None:
    kinds = commands.add_parser("kinds", help="list the environments, institutions and policies")
    kinds.add_argument("--environment", metavar="KIND", help="only what works with this environment")
    kinds.set_defaults(func=lambda args: _print(kinds_text(args.environment)))
    describe = commands.add_parser("describe", help="one component: what it works with, its parameters")
    describe.add_argument("kind", help="an environment, institution or policy kind, e.g. sanctions")
    describe.set_defaults(func=lambda args: _print(describe_text(args.kind)))


def _print(text: str) -> int:
    print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write docs/components.md from the components' declarations.")
    parser.add_argument("path", nargs="?", default=str(DOC_PAGE))
    path = Path(parser.parse_args(argv).path)
    path.write_text(markdown(), encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
