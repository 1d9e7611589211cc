"""What the scenario, the sweep spec, amendments and component parameters share: their base model, files named in
a scenario, seeds.

Kept apart from `sim.scenario` so that component parameter models (which `sim.scenario` imports to build
its tagged unions) can use them without an import cycle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo

MAX_SEED = 2**63 - 1


class StrictModel(BaseModel):
    """Base of every model a user fills in (scenario, component parameters, ``llm:``, sweep, amendments): an unknown
    key is an error, not silently ignored, and every float field refuses inf, -inf and NaN, which bounds alone do
    not (``ge=0`` lets inf through) and which would run and poison every number after them."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _existing_file(value: str, info: ValidationInfo) -> str:
    """A path named in a scenario, resolved against the scenario file's folder; it must exist."""
    base = Path((info.context or {}).get("base_dir", "."))
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base / path
    if not path.is_file():
        raise ValueError(f"file not found: {value} (looked for {path.resolve()})")
    return str(path.resolve())


ScenarioFile = Annotated[str, AfterValidator(_existing_file)]

Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
"""A run seed: a non-negative integer that fits the int64 columns of the results tables."""
