"""Turning validation failures into messages that name the file, the line and the field."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from sim.registry import closest

Path_ = tuple[Any, ...]


def _strip_tags(loc: Path_, data: Any) -> Path_:
    """Drop the union tags pydantic puts in locations ('environment', 'commons', 'x' -> 'environment', 'x')."""
    out: list[Any] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part not in node and node.get("kind") == part:
            continue
        out.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(out)


def _unwrap(tp: Any, part: Any) -> Any:
    """The type found at ``part`` inside type ``tp`` (a model field, a list item or a tagged member)."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        for member in members:
            kind = getattr(member, "model_fields", {}).get("kind")
            if kind is not None and typing.get_args(kind.annotation) == (part,):
                return member
        for member in members:
            found = _unwrap(member, part)
            if found is not None:
                return found
        return None
    if origin in (list, tuple) and isinstance(part, int):
        return typing.get_args(tp)[0]
    if isinstance(tp, type) and issubclass(tp, BaseModel) and part in tp.model_fields:
        return tp.model_fields[part].annotation
    return None


def _fields_at(model: type[BaseModel], loc: Path_) -> list[str]:
    tp: Any = model
    for part in loc:
        tp = _unwrap(tp, part)
        if tp is None:
            return []
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        tp = next((a for a in typing.get_args(tp) if isinstance(a, type) and issubclass(a, BaseModel)), None)
    return list(tp.model_fields) if isinstance(tp, type) and issubclass(tp, BaseModel) else []


def _dotted(loc: Path_) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _describe(error: dict[str, Any], model: type[BaseModel]) -> str:
    kind, loc, ctx = error["type"], error["loc"], error.get("ctx") or {}
    if kind == "extra_forbidden":
        known = _fields_at(model, loc[:-1])
        hint = closest(str(loc[-1]), known)
        listing = f"; valid keys: {', '.join(known)}" if known and not hint else ""
        return f"unknown key '{loc[-1]}'{hint}{listing}"
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_invalid":
        tags = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
        tag = str(ctx.get("tag"))
        return f"unknown kind '{tag}'{closest(tag, tags)}; expected one of: {', '.join(tags)}"
    if kind == "literal_error" and loc and loc[-1] == "kind":
        tags = [t.strip(" '") for t in str(ctx.get("expected", "")).replace(" or ", ",").split(",") if t.strip()]
        given = str(error.get("input"))
        return f"unknown kind '{given}'{closest(given, tags)}; expected one of: {', '.join(tags)}"
    if kind == "union_tag_not_found":
        return "needs a 'kind:' key naming what it is"
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    if "input" in error and kind not in ("model_type", "dict_type", "list_type", "value_error"):
        shown = repr(error["input"])
        message += f" (got {shown if len(shown) < 60 else shown[:57] + '...'})"
    return message


@dataclass(frozen=True)
class Places:
    """Where a scenario came from, to name the place of each problem: its source, the line of every path in the
    file, and the ``--set`` overrides applied to it (path -> assignment)."""

    source: str
    lines: dict[Path_, int] = field(default_factory=dict)
    overrides: dict[Path_, str] = field(default_factory=dict)

    def locate(self, loc: Path_) -> str:
        """``--set PATH=V`` for an overridden field, else ``FILE, line N`` of the nearest path in the file."""
        override = next((o for p, o in self.overrides.items() if loc[: len(p)] == p or p[: len(loc)] == loc), None)
        if override and loc:
            return f"--set {override}"
        line = next((self.lines[loc[:n]] for n in range(len(loc), -1, -1) if loc[:n] in self.lines), None)
        return self.source if line is None else f"{self.source}, line {line}"

    def line(self, loc: Path_, message: str) -> str:
        return f"{self.locate(loc)}: {_dotted(loc)}: {message}"

    def report(self, lines: list[str], what: str = "problem") -> str:
        """One message for all of a scenario's problems, with a count when there are several."""
        if len(lines) == 1:
            return lines[0]
        return "\n".join([f"{self.source}: {len(lines)} {what}s in the scenario", *(f"  {line}" for line in lines)])


def format_errors(
    exc: ValidationError,
    model: type[BaseModel],
    data: Any,
    source: str,
    lines: dict[Path_, int],
    overrides: dict[Path_, str],
) -> str:
    """One message for all the problems of one scenario: file, line, field path, what was expected."""
    places = Places(source, lines, overrides)
    return places.report([places.line(_strip_tags(tuple(e["loc"]), data), _describe(e, model)) for e in exc.errors()])
