"""Action schemas, built once per distinct set of bounds and shared by every agent and step that has them.

A phase asks for one schema per agent, and creating a pydantic model class costs about a millisecond and a few
kilobytes: at 10,000 agents, per-agent classes were most of a step. So a schema is made by a builder cached on
the *values* of its bounds (a stock, an endowment, a list of options), never on a params object's identity:
amendments may change parameters between steps, and a changed value then simply builds (or finds) another
schema. Bounds that differ for every agent (whom one may punish) stay out of the class: they narrow only the
JSON schema an LLM decodes against (`Decision.json_schema`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel, create_model

SCHEMA_CACHE_SIZE = 512
"""Schemas each builder keeps; a long sweep or dashboard session reuses them and never grows without limit."""
ANSWER_CACHE_SIZE = 4096
"""Shared answers kept (`shared_answer`): scripted policies repeat a few answers across thousands of agents."""

Builder = TypeVar("Builder", bound=Callable[..., Any])


def schema_builder(build: Builder) -> Builder:
    """Decorator: ``build`` (hashable bound values -> a model class, or its JSON schema) runs once per values."""
    return lru_cache(maxsize=SCHEMA_CACHE_SIZE)(build)  # type: ignore[return-value]


@schema_builder
def json_schema_of(schema: type[BaseModel]) -> dict[str, Any]:
    """``schema.model_json_schema()``, computed once per class. Shared: read it, never change it."""
    return schema.model_json_schema()


@dataclass(frozen=True)
class FieldSet:
    """Extra action fields, as ``name -> (type, pydantic Field)``, compared by what they declare."""

    fields: dict[str, tuple[Any, Any]] = field(compare=False, hash=False)
    key: tuple = ()

    @classmethod
    def of(cls, fields: dict[str, tuple[Any, Any]]) -> FieldSet:
        return cls(fields, tuple((name, annotation, repr(info)) for name, (annotation, info) in fields.items()))


@schema_builder
def _extended(base: type[BaseModel], extra: FieldSet) -> type[BaseModel]:
    return create_model("Action", __base__=base, **extra.fields)


def extended(base: type[BaseModel], extra: FieldSet) -> type[BaseModel]:
    """``base`` with the fields of ``extra`` added (the institutions' act-phase fields), built once per pair."""
    return _extended(base, extra) if extra.fields else base


@lru_cache(maxsize=ANSWER_CACHE_SIZE, typed=True)
def shared_answer(schema: type[BaseModel], /, **fields: Any) -> BaseModel:
    """``schema(**fields)``, validated once per distinct answer and shared by every agent that gives it (read it,
    never change it, like every action). Values must be hashable; ``typed``: 1 and 1.0 stay apart where a field
    keeps what it is given."""
    return schema(**fields)
