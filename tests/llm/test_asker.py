"""The asker: one route to the LLM for decisions, summaries, verdicts and plans (scripted engine, no vLLM)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field, model_validator

from sim.llm.asker import TAG_FIELDS, Answer, Asker, Question
from sim.llm.client import LLMClient
from sim.llm.config import LLMConfig, SamplingOverrides
from sim.llm.prompts import ContextBudget, FixedPrompt
from sim.llm.types import ChatRequest, derive_seed
from sim.runner import run
from sim.scenario import load_scenario
from sim.transcript import read_transcript, show
from tests.fake_llm import FakeLLMClient
from tests.llm.fakes import FakeBackend

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"


def fill(request: ChatRequest) -> str:
    """A valid answer to any flat schema: the first choice of an anyOf, the first enum value, the minimum, true,
    an empty string or list."""
    reply: dict[str, Any] = {}
    for name, spec in (request.schema or {}).get("properties", {}).items():
        spec = spec.get("anyOf", [spec])[0]
        kind = spec.get("type")
        if "enum" in spec:
            reply[name] = spec["enum"][0]
        elif kind in ("integer", "number"):
            reply[name] = spec.get("minimum", 0)
        elif kind == "boolean":
            reply[name] = True
        elif kind == "array":
            reply[name] = []
        else:
            reply[name] = ""
    return json.dumps(reply)


class Choice(BaseModel):
    pick: int = Field(ge=0, le=3)


class Echo(BaseModel):
    """Reads FakeBackend's non-JSON echo: any text is valid."""

    text: str

    @model_validator(mode="before")
    @classmethod
    def _wrap(cls, data: Any) -> Any:
        return {"text": data} if isinstance(data, str | bytes) else data

    @classmethod
    def model_validate_json(cls, text: str | bytes, **_: Any) -> Echo:
        return cls(text=text if isinstance(text, str) else text.decode())


def question(agent: int, **extra: Any) -> Question:
    fields: dict[str, Any] = {"fallback": Choice(pick=0), **extra}
    return Question(
        purpose="decision", step=1, phase="act", schema=Choice, prompt=FixedPrompt("rules", f"agent {agent}"),
        agent=agent, **fields,
    )


def test_one_batch_then_one_reask_batch_then_the_fallback_all_counted():
    def answer(request: ChatRequest) -> str:
        agent, attempt = request.tag["agent"], request.tag["attempt"]
        return {1: '{"pick": 2}', 2: '{"pick": 9}' if attempt == 0 else '{"pick": 1}'}.get(agent, "no")

    client = FakeLLMClient(answer)
    asker = Asker(client, LLMConfig(), run_seed=3)
    answers = asker.ask([question(1), question(2), question(3)])
    assert [len(b) for b in client.sent] == [3, 2]
    assert [a.value.pick for a in answers] == [2, 1, 0]
    assert [(a.invalid, a.reasked, a.fell_back) for a in answers] == [
        (False, False, False), (True, True, False), (True, True, True)
    ]
    reask = client.sent[1][0]
    assert reask.tag["attempt"] == 1 and "less than or equal to 3" in reask.messages[1]["content"]
    stats = asker.stats["decision"]
    assert (stats.asked, stats.invalid, stats.reasks, stats.fallbacks) == (3, 2, 2, 1)


def test_no_reask_when_declined_and_no_fallback_means_no_answer():
    client = FakeLLMClient(lambda r: "no")
    [answer] = Asker(client, LLMConfig(), 0).ask([question(1, reask=False, fallback=None)])
    assert answer.value is None and answer.fell_back and len(client.sent) == 1


def test_sampling_is_the_llm_blocks_merged_with_the_questions_overrides():
    client = FakeLLMClient(lambda r: '{"pick": 1}')
    asker = Asker(client, LLMConfig(temperature=0.9, max_tokens=40), 0)
    overrides = (SamplingOverrides(temperature=0.0), SamplingOverrides(max_tokens=99))
    asker.ask([question(1), question(2, sampling=overrides)])
    plain, custom = client.sent[0]
    assert (plain.sampling.temperature, plain.sampling.max_tokens) == (0.9, 40)
    assert (custom.sampling.temperature, custom.sampling.max_tokens) == (0.0, 99)


def test_k_samples_of_one_decision_are_reproducible_and_sample_0_is_what_ask_answers():
    def answer(request: ChatRequest) -> str:
        return json.dumps({"pick": request.seed % 4})

    client = FakeLLMClient(answer)
    asker = Asker(client, LLMConfig(), run_seed=5)
    [candidates] = asker.sample([question(7)], k=4)
    [single] = Asker(client, LLMConfig(), run_seed=5).ask([question(7)])
    [again] = Asker(FakeLLMClient(answer), LLMConfig(), run_seed=5).sample([question(7)], k=4)
    first, *rest = client.sent[0]
    assert [r.seed for r in client.sent[0]] == [first.seed + i for i in range(4)]
    assert [r.tag["sample"] for r in client.sent[0]] == [0, 1, 2, 3]
    assert all(r.messages == first.messages and r.sampling == first.sampling for r in rest)
    assert [a.value.pick for a in candidates] == [(first.seed + i) % 4 for i in range(4)]
    assert single.value == candidates[0].value and client.sent[1][0].seed == first.seed
    assert [a.value for a in again] == [a.value for a in candidates]
    assert asker.stats["decision"].asked == 4


def test_each_sample_is_reasked_and_falls_back_on_its_own():
    def answer(request: ChatRequest) -> str:
        return "no" if request.tag["sample"] == 1 else '{"pick": 3}'

    client = FakeLLMClient(answer)
    [candidates] = Asker(client, LLMConfig(), 0).sample([question(1)], k=3)
    assert [a.value.pick for a in candidates] == [3, 0, 3]
    assert [r.tag["sample"] for r in client.sent[1]] == [1] and client.sent[1][0].tag["attempt"] == 1
    with pytest.raises(ValueError, match="at least 1"):
        Asker(client, LLMConfig(), 0).sample([question(1)], k=0)


def test_identical_questions_get_consecutive_seeds_and_the_same_answers_with_dedup_on_or_off():
    def run_with(dedup: bool) -> tuple[list[Answer], FakeBackend]:
        backend = FakeBackend(samples=True)
        client = LLMClient(backend, dedup=dedup)
        same = [Question(purpose="verdict", step=2, phase="verdict", schema=Echo, prompt=FixedPrompt("judge", "{}"),
                         about=(a, a + 10)) for a in (1, 2, 3)]
        other = Question(purpose="verdict", step=2, phase="verdict", schema=Echo, prompt=FixedPrompt("judge", "[]"),
                         about=(4, 14))
        return Asker(client, LLMConfig(), 9).ask([*same[:2], other, same[2]]), backend

    on, merged = run_with(True)
    off, plain = run_with(False)
    seeds = [r.seed for r in plain.batches[0]]
    first = derive_seed(9, 2, "verdict", "verdict", 1)
    assert seeds == [first, first + 1, derive_seed(9, 2, "verdict", "verdict", 4), first + 2]
    assert [(r.seed, r.n) for r in merged.batches[0]] == [(first, 3), (seeds[2], 1)]
    assert [a.value for a in on] == [a.value for a in off]
    assert [a.value.text for a in on] == [f"echo:{{}}:{s}" if s != seeds[2] else f"echo:[]:{s}" for s in seeds]


def test_questions_whose_schemas_are_equal_but_built_apart_are_identical_requests():
    def schema() -> dict[str, Any]:  # a fresh dict each time, as a per-agent narrowed schema is
        return {"type": "object", "properties": {"pick": {"type": "integer", "minimum": 0, "maximum": 3}}}

    backend = FakeBackend(samples=True)
    asked = [Question(purpose="verdict", step=2, phase="verdict", schema=Echo, json_schema=schema(),
                      prompt=FixedPrompt("judge", "{}"), about=(a, a + 10)) for a in (1, 2)]
    Asker(LLMClient(backend), LLMConfig(), 9).ask(asked)
    first = derive_seed(9, 2, "verdict", "verdict", 1)
    assert [(r.seed, r.n) for r in backend.batches[0]] == [(first, 2)]


def test_a_prompt_too_long_for_the_context_says_which_setting_to_raise():
    asker = Asker(FakeLLMClient(), LLMConfig(max_model_len=300, max_tokens=64), 0)
    long = Question(purpose="plan", step=0, phase="plan", schema=Choice, prompt=FixedPrompt("x " * 200, "{}"))
    with pytest.raises(Exception, match=r"raise llm\.max_model_len"):
        asker.ask([long])
    assert ContextBudget(300, 64).prompt_tokens == 300 - 64 - 192


def court_run(tmp_path: Path):
    scenario = load_scenario(
        SCENARIOS / "contracts.yaml",
        ["steps=4", "output.plots=false", "institutions.0.judge=llm", "institutions.0.error_rate=0"],
    )
    client = FakeLLMClient(fill)
    return run(scenario, out=tmp_path / "run", llm=client, progress=False), client


def test_verdicts_are_in_the_transcript_under_the_one_tag_schema_and_in_the_parties_view(tmp_path: Path):
    result, _ = court_run(tmp_path)
    records = read_transcript(result.path)
    assert all(set(TAG_FIELDS) <= set(r) for r in records)
    assert {tuple(sorted(set(r) - set(TAG_FIELDS))) for r in records} == {
        ("adapter", "adapter_digest", "cached", "completion_tokens", "finish_reason", "messages", "prompt_tokens",
         "reply", "sampling", "schema", "seed")
    }
    verdicts = [r for r in records if r["purpose"] == "verdict"]
    lawsuits = result.events[result.events["kind"] == "lawsuit"]
    assert len(verdicts) == len(lawsuits) > 0
    first = verdicts[0]
    assert first["agent"] is None and first["phase"] == "verdict" and len(first["about"]) == 2
    principal, contractor = first["about"]
    for party in (principal, contractor):
        assert "· institution about " in show(result.path, agent=party, phase="verdict")
    assert "You are the judge" in show(result.path, agent=principal, phase="verdict", system=True)


def test_no_two_requests_of_a_run_share_a_seed(tmp_path: Path):
    _, client = court_run(tmp_path)
    seeds = [r.seed for batch in client.sent for r in batch]
    kinds = {r.tag["purpose"] for batch in client.sent for r in batch}
    assert kinds == {"decision", "verdict"}
    assert len(seeds) == len(set(seeds)) > 50


def test_the_plan_is_in_every_agents_view_of_the_transcript(tmp_path: Path):
    scenario = load_scenario(SCENARIOS / "welfare.yaml", ["steps=1", "output.plots=false"])
    result = run(scenario, out=tmp_path / "run", llm=FakeLLMClient(fill), progress=False)
    plans = [r for r in read_transcript(result.path) if r["purpose"] == "plan"]
    assert len(plans) == 1 and plans[0]["agent"] is None and plans[0]["about"] == []
    assert "· institution · plan · plan round 0" in show(result.path, agent=1)
    assert "· agent 1 (" in show(result.path, agent=1)


def test_only_the_asker_builds_chat_requests_and_only_the_config_merges_sampling():
    sources = [p for folder in ("sim", "agents") for p in (ROOT / folder).rglob("*.py")]
    builds = {p.relative_to(ROOT).as_posix() for p in sources if re.search(r"\bChatRequest\(", p.read_text())}
    merges = {p.relative_to(ROOT).as_posix() for p in sources if re.search(r"\bSampling\(", p.read_text())}
    assert builds == {"sim/llm/asker.py"}
    assert merges == {"sim/llm/config.py"}
