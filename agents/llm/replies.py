"""Reading an LLM reply into a typed answer."""

from __future__ import annotations

from pydantic import BaseModel, ValidationError


def parse_reply(schema: type[BaseModel], text: str) -> tuple[BaseModel | None, str]:
    """(answer, "") for a valid reply, else (None, a short reason fit to show the model in a re-ask)."""
    try:
        return schema.model_validate_json(text), ""
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "reply"
        return None, f"{where}: {first.get('msg', 'invalid')}"[:80]
