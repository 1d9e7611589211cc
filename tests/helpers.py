"""Small builders shared by the tests."""

from __future__ import annotations

from typing import Any

from sim.scenario import Scenario, scenario_from_dict


def commons(groups: list[tuple[str, int]], steps: int = 12, **environment: Any) -> Scenario:
    """A commons scenario with rule-based groups given as (policy, count) pairs."""
    return scenario_from_dict(
        {
            "name": "test_commons",
            "seed": 3,
            "steps": steps,
            "population": [{"name": f"g{i}", "count": n, "policy": p} for i, (p, n) in enumerate(groups)],
            "environment": {"kind": "commons", **environment},
        }
    )
