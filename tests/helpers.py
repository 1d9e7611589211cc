"""Small builders shared by the tests."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import pytest

from sim import cli
from sim.scenario import Scenario, scenario_from_dict


def main_running(body: Callable[[], None], monkeypatch: pytest.MonkeyPatch) -> tuple[int, list[str]]:
    """`cli.main` with ``body`` as its command: the exit status, and ["engine closed"] once the command's
    ``finally`` ran (where a real command closes its engine)."""
    cleaned: list[str] = []

    def command(args: argparse.Namespace) -> int:
        try:
            body()
            return 0
        finally:
            cleaned.append("engine closed")

    parser = argparse.ArgumentParser()
    parser.set_defaults(func=command)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    return cli.main([]), cleaned


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
