"""The llm: block of a scenario."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from sim.llm.config import LLMConfig
from sim.llm.types import Sampling, derive_seed

DOCS = Path(__file__).resolve().parents[2] / "docs" / "llm.md"


def test_base_url_implies_the_openai_backend_but_not_over_replay() -> None:
    assert LLMConfig(base_url="http://127.0.0.1:8000").backend == "openai"
    assert LLMConfig(base_url="http://127.0.0.1:8000", backend="replay").backend == "replay"
    assert LLMConfig().backend == "vllm"


def test_rejects_unknown_fields_and_out_of_range_values() -> None:
    with pytest.raises(ValidationError, match="temprature"):
        LLMConfig(temprature=0.5)
    for bad in ({"temperature": -0.1}, {"top_p": 0}, {"top_p": 1.5}, {"max_tokens": 0}, {"backend": "llamacpp"}):
        with pytest.raises(ValidationError):
            LLMConfig(**bad)


def test_sampling_carries_the_configured_values() -> None:
    assert LLMConfig(temperature=0, top_p=0.9, max_tokens=64).sampling() == Sampling(0.0, 0.9, 64)


def test_every_field_is_described_and_documented() -> None:
    docs = DOCS.read_text()
    for name, field in LLMConfig.model_fields.items():
        assert field.description, name
        assert f"| `{name}` |" in docs, f"docs/llm.md does not document llm.{name}"


def test_derived_seeds_are_stable_distinct_and_in_range() -> None:
    assert derive_seed(1, 2, "decide", 3) == derive_seed(1, 2, "decide", 3)
    seeds = {derive_seed(1, step, phase, agent, attempt)
             for step in range(5) for phase in ("talk", "decide") for agent in range(20) for attempt in (0, 1)}
    assert len(seeds) == 5 * 2 * 20 * 2
    assert all(0 <= s < 2**31 - 1 for s in seeds)
