"""Small LLM runs for the training tests, answered by a fake engine (`FakeLLMClient`) with scripted catches.

The commons with a quota of 10 tons (a norm), monitoring and a central fine of 3 per detected violation, three
fishers, lake of 100 tons: the sustainable share is floor(50 / 3) = 16 tons a fisher, so the true utility of a catch
c is c - 2 max(0, c - 16).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sim.llm.types import ChatRequest
from sim.runner import RunResult, run
from sim.scenario import Scenario, scenario_from_dict
from tests.fake_llm import FakeLLMClient

Catches = Callable[[int, int, int], int]  # (agent, step, sample) -> tons requested


def fined_quota(steps: int = 2, candidates: int = 1, probability: float = 1.0, talk: int = 0,
                model: str = "smollm2-135m") -> Scenario:
    """Three LLM fishers under a 10-ton quota fined 3 (shared among the others) when detected."""
    return scenario_from_dict({
        "name": "fined_quota", "seed": 3, "steps": steps,
        "population": [{"name": "fishers", "count": 3, "policy": {"kind": "llm", "candidates": candidates}}],
        "environment": {"kind": "commons", "capacity": 100},
        "talk": {"rounds": talk},
        "institutions": [
            {"kind": "norms", "rules": [{"name": "quota", "text": "Catch at most 10 tons a month.", "field": "fish",
                                         "op": "<=", "value": 10}]},
            {"kind": "monitoring", "probability": probability},
            {"kind": "sanctions", "peer": False, "fine": 3},
        ],
        "llm": {"model": model},
        "output": {"plots": False},
    })


def scripted(catches: Catches) -> Callable[[ChatRequest], str]:
    """A fake engine's answer: the catch ``catches`` gives the asking agent, step and sample; a talk message."""

    def answer(request: ChatRequest) -> str:
        tag = request.tag
        if "fish" in (request.schema or {}).get("properties", {}):
            return json.dumps({"fish": catches(tag["agent"], tag["step"], tag["sample"])})
        return json.dumps({"message": f"agent {tag['agent']} says hello"})

    return answer


def run_fake(scenario: Scenario, catches: Catches, out: Path) -> RunResult:
    return run(scenario, out=out, llm=FakeLLMClient(scripted(catches)), progress=False)


def varied_answer(request: ChatRequest) -> str:
    """Any schema's answer, different for each agent and sample: every field of every scenario gets a value."""

    def value(spec: dict[str, Any], sample: int, agent: int) -> Any:
        if "anyOf" in spec:
            return value(spec["anyOf"][0], sample, agent)
        if "enum" in spec:
            return spec["enum"][sample % len(spec["enum"])]
        if spec.get("type") in ("integer", "number"):
            low, high = spec.get("minimum", 0), spec.get("maximum", 20)
            return low + (agent * 3 + sample * 7) % (int(high - low) + 1)
        if spec.get("type") == "boolean":
            return bool(sample % 2)
        return ""

    sample, agent = request.tag.get("sample", 0), request.tag.get("agent") or 0
    props = (request.schema or {}).get("properties", {})
    return json.dumps({name: value(spec, sample, agent) for name, spec in props.items()})
