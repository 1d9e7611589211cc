"""Paths named inside a scenario file, checked when the scenario is validated.

Kept apart from `sim.scenario` so that component parameter models (which `sim.scenario` imports to build
its tagged unions) can use `ScenarioFile` without an import cycle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, ValidationInfo


def _existing_file(value: str, info: ValidationInfo) -> str:
    """A path named in a scenario, resolved against the scenario file's folder; it must exist."""
    base = Path((info.context or {}).get("base_dir", "."))
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base / path
    if not path.is_file():
        raise ValueError(f"file not found: {value} (looked for {path.resolve()})")
    return str(path.resolve())


ScenarioFile = Annotated[str, AfterValidator(_existing_file)]
