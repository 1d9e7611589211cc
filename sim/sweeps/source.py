"""The scenario a sweep varies, kept as raw data so that any worker process can rebuild each cell's scenario."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.errors import UserError
from sim.scenario import Scenario, apply_override, validate_scenario
from sim.yaml_loader import load_yaml_file


@dataclass(frozen=True)
class ScenarioSource:
    """Raw scenario data (``--set`` overrides applied, ``sweep:`` removed); picklable for process pools and Ray."""

    data: dict[str, Any]
    source: str
    base_dir: str
    lines: dict[tuple, int] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, scenario: str | Path | Scenario | dict[str, Any], overrides: Sequence[str] = ()) -> ScenarioSource:
        """From a scenario file, a dict (as `scenario_from_dict` takes) or an already built Scenario."""
        if isinstance(scenario, Scenario):
            data, source, base_dir, lines = scenario.model_dump(mode="json"), "<scenario>", ".", {}
        elif isinstance(scenario, dict):
            data, source, base_dir, lines = copy.deepcopy(scenario), "<dict>", ".", {}
        else:
            path = Path(scenario)
            data, lines = load_yaml_file(path)
            data, source, base_dir = {} if data is None else data, str(path), str(path.parent.resolve())
        if not isinstance(data, dict):
            raise UserError(f"{source}: a scenario must be a mapping of keys to values, got {type(data).__name__}")
        applied = {apply_override(data, o): o for o in overrides}
        validate_scenario(data, source, base_dir, lines, applied)
        return cls(data, source, base_dir, lines)

    def base(self) -> Scenario:
        """The scenario before any sweep value, its ``sweep:`` block included."""
        return validate_scenario(self.data, self.source, self.base_dir, self.lines)

    def without_sweep(self) -> ScenarioSource:
        """The same data minus the ``sweep:`` block, which cells do not need."""
        data = {k: v for k, v in self.data.items() if k != "sweep"}
        return ScenarioSource(data, self.source, self.base_dir, self.lines)

    def resolve(self, overrides: Sequence[str], label: str | None = None) -> Scenario:
        """The scenario with ``path=value`` overrides applied; errors are reported against ``label``."""
        data = copy.deepcopy(self.data)
        for assignment in overrides:
            try:
                apply_override(data, assignment)
            except UserError as exc:
                raise UserError(f"{label or self.source}: {str(exc).removeprefix('--set ')}") from None
        return validate_scenario(data, label or self.source, self.base_dir)

    def line_of(self, loc: tuple) -> str:
        """``file, line N`` for a location in the file, or just the source when unknown."""
        line = self.lines.get(loc)
        return f"{self.source}, line {line}" if line else self.source
