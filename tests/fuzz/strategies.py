"""Hypothesis strategies: scenario data drawn from the schema itself, then broken in the ways users break files.

`scenarios()` draws an environment, groups of policies that understand it and institutions, each parameter from
its pydantic field (type, bounds, pattern, choices), so every component the registries know is exercised and a new
one is covered without editing this file. `mutated()` then changes a value's type, drops or adds a key, pushes a
number out of range; `file_contents()` adds broken YAML and random bytes.
"""

from __future__ import annotations

import math
import types
import typing
from typing import Any, Literal

import annotated_types
import yaml
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from agents.policy import POLICIES
from sim.environments.base import ENVIRONMENTS
from sim.institutions.base import INSTITUTIONS
from sim.scenario_files import ScenarioFile

GROUP_FIELDS = ("buyers", "sellers", "harm_bearers", "principals")  # parameters that name population groups
SMALL = {"count": 6, "steps": 3, "capacity": 200, "cap": 20, "states": 8, "attributes": 6, "group_size": 4}

names = st.from_regex(r"[a-j][a-j_]{0,7}", fullmatch=True)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=20), names)
junk = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
                    max_leaves=6)


def _bounds(info: FieldInfo) -> dict[str, float]:
    found: dict[str, float] = {}
    for item in info.metadata:
        for attr in ("ge", "gt", "le", "lt"):
            if isinstance(item, getattr(annotated_types, attr.capitalize())):
                found[attr] = getattr(item, attr)
    return found


def _pattern(info: FieldInfo) -> str | None:
    return next((m.pattern for m in info.metadata if getattr(m, "pattern", None)), None)


def number(tp: type, info: FieldInfo, name: str) -> st.SearchStrategy:
    """A number within the field's bounds, of the size a quick run allows."""
    b = _bounds(info)
    low = b.get("ge", b.get("gt", 0))
    high = b.get("le", b.get("lt", max(low, 0) + SMALL.get(name, 50)))
    if tp is int:
        low_i = math.ceil(low) + (1 if "gt" in b and low == math.ceil(low) else 0)
        high_i = math.floor(high) - (1 if "lt" in b and high == math.floor(high) else 0)
        return st.integers(low_i, max(low_i, high_i))
    return st.floats(low, high, exclude_min="gt" in b, exclude_max="lt" in b, allow_nan=False)


def value(annotation: Any, info: FieldInfo, name: str, groups: list[str]) -> st.SearchStrategy:
    """A value the field's type and bounds accept (mostly: the scenario checks across fields may still refuse)."""
    if annotation == ScenarioFile:
        return st.sampled_from(["edges.txt", "missing.txt"])
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return value(args[0], info, name, groups)
    if origin is Literal:
        return st.sampled_from(args)
    if origin in (typing.Union, types.UnionType):
        return st.one_of([value(a, info, name, groups) for a in args])
    if annotation is type(None):
        return st.none()
    if name in GROUP_FIELDS:
        return st.lists(st.sampled_from(groups), min_size=1, max_size=2, unique=True)
    if name == "target":
        return st.sampled_from(["tax", "quota"])
    if name == "setting":
        return st.sampled_from(["rate", "cap", "rebate"])
    if origin in (list, tuple):
        minimum = next((m.min_length for m in info.metadata if isinstance(m, annotated_types.MinLen)), 0)
        item = FieldInfo(annotation=args[0])
        return st.lists(value(args[0], item, name, groups), min_size=minimum, max_size=max(minimum, 3))
    if origin is dict:
        return st.just({})
    if annotation is bool:
        return st.booleans()
    if annotation in (int, float):
        return number(annotation, info, name)
    if annotation is str:
        pattern = _pattern(info)
        return st.from_regex(pattern, fullmatch=True).filter(lambda s: 0 < len(s) < 12) if pattern else names
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return params(annotation, groups)
    return junk


@st.composite
def params(draw: st.DrawFn, model: type[BaseModel], groups: list[str]) -> dict[str, Any]:
    """Parameters of ``model``: every required field, and each optional one half the time."""
    out = {}
    for name, info in model.model_fields.items():
        required = info.default is PydanticUndefined and info.default_factory is None
        if name == "kind" or (not required and draw(st.booleans())):
            continue
        out[name] = draw(value(info.annotation, info, name, groups))
    return out


@st.composite
def institution_kinds(draw: st.DrawFn, environment: str) -> list[str]:
    """Up to three institutions, mostly ones that declare they work with ``environment``, with what they need
    listed before them; now and then any kinds in any order (which the checks must refuse, not crash on)."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.lists(st.sampled_from(INSTITUTIONS.names()), max_size=3))
    fits = [k for k in INSTITUTIONS.names() if environment in (INSTITUTIONS.get(k).environments or (environment,))]
    kinds: list[str] = []
    for kind in draw(st.lists(st.sampled_from(fits), max_size=3, unique=True)):
        _with_needs(kind, kinds)
    return kinds


def _with_needs(kind: str, kinds: list[str]) -> None:
    """Append ``kind`` to ``kinds`` after what it needs (and what that needs)."""
    for needed in INSTITUTIONS.get(kind).needs:
        _with_needs(needed, kinds)
    if kind not in kinds:
        kinds.append(kind)


@st.composite
def scenarios(draw: st.DrawFn, llm: bool = True) -> dict[str, Any]:
    """A scenario drawn from the registries and the components' parameter models."""
    environment = draw(st.sampled_from(ENVIRONMENTS.names()))
    usable = [p for p in POLICIES.names() if (llm or p != "llm")
              and (not POLICIES.get(p).environments or environment in POLICIES.get(p).environments)]
    size = draw(st.integers(1, 3))
    group_names = [f"g{i}" for i in range(size)]
    if environment == "market":
        group_names[:2] = ["buyers", "sellers"][:size]
    population = []
    for name in group_names:
        policy = draw(st.sampled_from(usable))
        group = {"name": name, "count": draw(st.integers(1, 6)), "policy": policy}
        if draw(st.booleans()):
            group["policy"] = {"kind": policy, **draw(params(POLICIES.get(policy).Params, group_names))}
        population.append(group)
    kinds = draw(institution_kinds(environment))
    institutions = [{"kind": k, **draw(params(INSTITUTIONS.get(k).Params, group_names))} for k in kinds]
    network = draw(st.sampled_from([{"kind": "complete"}, {"kind": "ring", "k": 2},
                                    {"kind": "watts_strogatz", "k": 2, "p": 0.3}, {"kind": "erdos_renyi", "p": 0.5}]))
    return {
        "name": "fuzz",
        "seed": draw(st.integers(0, 2**31)),
        "steps": draw(st.integers(1, 3)),
        "population": population,
        "network": network,
        "environment": {"kind": environment, **draw(params(ENVIRONMENTS.get(environment).Params, group_names))},
        "institutions": institutions,
        "output": {"plots": False, "transcript": False},
    }


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside ``node``."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            found += _paths(child, (*prefix, i))
    return found


def _parent(data: Any, path: tuple) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


@st.composite
def mutated(draw: st.DrawFn, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with up to three of: a value of the wrong type, a key removed, an unknown key, a number pushed out
    of its range."""
    import copy

    data = copy.deepcopy(data)
    for _ in range(draw(st.integers(0, 3))):
        paths = _paths(data)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _parent(data, path), path[-1]
        how = draw(st.sampled_from(["type", "remove", "extra", "range"]))
        if how == "type":
            parent[key] = draw(junk)
        elif how == "remove" and isinstance(parent, dict):
            del parent[key]
        elif how == "extra" and isinstance(parent, dict):
            parent[draw(names)] = draw(junk)
        elif how == "range" and isinstance(parent[key], int | float) and not isinstance(parent[key], bool):
            parent[key] = draw(st.sampled_from([-1, -10**9, 10**9, 10**30, -0.5, 1.5, float("inf")]))
    return data


@st.composite
def file_contents(draw: st.DrawFn) -> bytes:
    """What a user might hand ``alignsim``: a scenario, a mutated one, broken YAML, or bytes that are not text."""
    data = draw(scenarios())
    text = yaml.safe_dump(draw(mutated(data)), sort_keys=False, allow_unicode=True)
    kind = draw(st.sampled_from(["yaml", "yaml", "truncated", "spliced", "bytes"]))
    if kind == "truncated":
        text = text[: draw(st.integers(0, len(text)))]
    elif kind == "spliced":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(["[", "{", ": :", "\t", "&a [*a]", "*b", "!!python/object:os.system",
                                                 "---\n", "key: 1\nkey: 2\n", "\x00", "\ufeff", "'"])) + text[at:]
    elif kind == "bytes":
        return draw(st.binary(max_size=300))
    return text.encode("utf-8", errors="surrogatepass")


def _like(current: Any) -> st.SearchStrategy:
    """A plausible new value for a field that now holds ``current``: same type, similar size."""
    if isinstance(current, bool):
        return st.booleans()
    if isinstance(current, int):
        return st.integers(0, max(2 * current, 3))
    if isinstance(current, float):
        return st.floats(0, max(2 * current, 1.0), allow_nan=False)
    return st.just(current)


def overrides(data: dict[str, Any]) -> st.SearchStrategy[list[str]]:
    """``--set`` assignments: real paths of ``data`` with a plausible value, or any value, or invented paths;
    values written as YAML, or broken."""

    def dump(value: Any) -> str:
        return yaml.safe_dump(value, default_flow_style=True).removesuffix("\n...\n").strip()

    leaves = [p for p in _paths(data) if not isinstance(_parent(data, p)[p[-1]], dict | list)]
    plausible = st.sampled_from(leaves).flatmap(
        lambda p: _like(_parent(data, p)[p[-1]]).map(lambda v: f"{'.'.join(map(str, p))}={dump(v)}"))
    real = [".".join(map(str, p)) for p in _paths(data)]
    path = st.one_of(st.sampled_from(real), st.lists(names | st.integers(0, 5).map(str), min_size=1, max_size=3)
                     .map(".".join), st.sampled_from(["", ".", "a..b", "population.99.count", "steps.x"]))
    text = st.one_of(junk.map(dump),
                     st.sampled_from(["", "[", "{a: 1, a: 2}", "&a [*a]", "'x", "1e999", "-4", "null", "~"]))
    anything = st.one_of(st.tuples(path, text).map(lambda pt: f"{pt[0]}={pt[1]}"), names)
    return st.lists(st.one_of(plausible, plausible, anything), min_size=1, max_size=3)
