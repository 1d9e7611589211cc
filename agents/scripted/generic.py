"""Policies that work in any environment, because they only read the action schema."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from agents.policy import POLICIES, ScriptedPolicy
from sim.component import Params
from sim.step import Decision


class RandomParams(Params):
    high: float = Field(1.0, gt=0, le=1, description="Draw numbers from the lowest `high` share of each range.")


@POLICIES.register("random")
class RandomPolicy(ScriptedPolicy):
    """Acts uniformly at random within the act-phase schema's bounds: a null model to compare against.

    Integer and number fields are drawn between their ``minimum`` and ``maximum`` (scaled by
    ``high``); booleans are fair coins; choices (enums) uniform; other fields keep the fallback's value.
    """

    Params = RandomParams
    reads_institutions = False

    def on_act(self, decision: Decision) -> BaseModel:
        schema = decision.json_schema()
        values: dict[str, Any] = decision.fallback.model_dump()
        for name, spec in schema.get("properties", {}).items():
            drawn = self._draw(spec)
            if drawn is not None:
                values[name] = drawn
        return decision.schema.model_validate(values)

    def _draw(self, spec: dict[str, Any]) -> Any:
        rng = self.model.rng
        kind = spec.get("type")
        if kind in ("integer", "number") and "maximum" in spec:
            low = spec.get("minimum", 0)
            high = low + (spec["maximum"] - low) * self.params.high
            return int(rng.integers(low, int(high) + 1)) if kind == "integer" else float(rng.uniform(low, high))
        if kind == "boolean":
            return bool(rng.integers(2))
        if "enum" in spec:
            return spec["enum"][int(rng.integers(len(spec["enum"])))]
        return None
