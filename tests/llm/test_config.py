"""The llm: block of a scenario."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from sim.llm.config import LLMConfig, SamplingOverrides
from sim.llm.types import SEED_SPAN, ChatRequest, Sampling, derive_seed

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


def test_sampling_overrides_merge_in_order_and_unset_fields_keep_the_defaults() -> None:
    config = LLMConfig(temperature=0.7, top_p=0.9, max_tokens=64)
    group, longer = SamplingOverrides(temperature=0.0), SamplingOverrides(max_tokens=200)
    assert config.sampling(group) == Sampling(0.0, 0.9, 64)
    assert config.sampling(group, longer) == Sampling(0.0, 0.9, 200)
    assert config.sampling(None, SamplingOverrides(temperature=1.0), group) == Sampling(0.0, 0.9, 64)
    assert ChatRequest(messages=(), seed=0).sampling == LLMConfig().sampling()  # one home for the defaults


def test_every_field_is_described_and_documented() -> None:
    docs = DOCS.read_text()
    for name, field in LLMConfig.model_fields.items():
        assert field.description, name
        assert f"| `{name}` |" in docs, f"docs/llm.md does not document llm.{name}"


def test_derived_seeds_are_stable_distinct_and_in_range() -> None:
    assert derive_seed(1, 2, "act", "decision", 3) == derive_seed(1, 2, "act", "decision", 3)
    seeds = {derive_seed(1, step, phase, purpose, agent, attempt, round_)
             for step in range(5) for phase in ("talk", "act") for purpose in ("decision", "verdict")
             for agent in range(20) for attempt in (0, 1) for round_ in (0, 1)}
    assert len(seeds) == 5 * 2 * 2 * 20 * 2 * 2
    assert all(s >= 0 and s + SEED_SPAN < 2**31 - 1 for s in seeds)
