"""A real training whose adapter the real vLLM engine serves (LoRA, in-process): it answers what it was taught,
where the base model on the same engine, in the same batch, does not; a society mixing both replays bit for bit.

Training and engine are shared by this package's real tests (`lora_home`, `vllm_lora_backend` in conftest.py).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from sim.llm.cache import ReplyCache
from sim.llm.client import LLMClient, make_client
from sim.llm.config import LLMConfig
from sim.llm.types import ChatRequest, Sampling
from sim.runner import simulate
from sim.scenario import scenario_from_dict
from sim.training.adapters import load_adapter
from tests.training.conftest import TRAINED_ANSWER
from tests.training.tiny_datasets import SYSTEM, chat, month

pytestmark = [pytest.mark.llm, pytest.mark.slow]
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
CATCH = {"type": "object", "properties": {"catch": {"type": "integer"}}, "required": ["catch"]}


@pytest.fixture
def trained(lora_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ALIGNSIM_HOME", str(lora_home))
    return lora_home


def held_out(count: int) -> list[ChatRequest]:
    """Prompts like the training's, for months it never saw, greedy, with the JSON schema a run would send."""
    return [ChatRequest(messages=tuple(chat(SYSTEM, month(40 + i))), seed=i, schema=CATCH,
                        sampling=Sampling(temperature=0.0, top_p=1.0, max_tokens=16)) for i in range(count)]


def test_the_training_learned_its_reply_and_its_lineage_says_how(trained: Path) -> None:
    adapter = load_adapter("fisher-v1")
    metrics = adapter.lineage["metrics"]
    assert adapter.lineage["resumed_from"] == "checkpoint-2"
    assert adapter.lineage["dataset"]["rows"] == 16 and adapter.lineage["method"] == "sft"
    assert metrics["last_loss"] < metrics["first_loss"] / 10
    assert metrics["last_mean_token_accuracy"] == pytest.approx(1.0)
    assert not list((trained / "adapters").glob(".fisher-v1.training"))


def test_the_served_adapter_answers_as_trained_and_the_base_model_does_not(trained: Path,
                                                                          vllm_lora_backend) -> None:
    ref = load_adapter("fisher-v1").ref()
    base = held_out(6)
    tuned = [replace(r, adapter=ref) for r in base]
    replies = LLMClient(vllm_lora_backend).chat([*base, *tuned])  # one batch: the engine mixes them
    base_texts, tuned_texts = [r.text for r in replies[:6]], [r.text for r in replies[6:]]
    assert [json.loads(t) for t in tuned_texts] == [json.loads(TRAINED_ANSWER)] * 6
    assert sum(json.loads(t) == json.loads(TRAINED_ANSWER) for t in base_texts) <= 1
    unconstrained = [replace(r, schema=None) for r in tuned[:2]]
    assert [r.text for r in vllm_lora_backend.generate(unconstrained)] == [TRAINED_ANSWER] * 2


def test_a_society_of_base_and_trained_agents_replays_bit_identically(trained: Path, tmp_path: Path,
                                                                      vllm_lora_backend) -> None:
    data = yaml.safe_load((SCENARIOS / "commons.yaml").read_text())
    data["population"].append({**data["population"][0], "name": "trained", "llm": {"adapter": "fisher-v1"}})
    cache = str(tmp_path / "cache.sqlite")
    scenario = scenario_from_dict(data, ["steps=1", "talk.rounds=0", "population.0.count=2",
                                         "population.1.count=2", "llm.temperature=0", f"llm.cache={cache}"])
    records: list[dict] = []
    live = simulate(scenario, llm=LLMClient(vllm_lora_backend, ReplyCache(cache), transcript=records.append),
                    progress=False)
    assert {(r["group"], r["adapter"]) for r in records} == {("fishers", None), ("trained", "fisher-v1")}
    with make_client(LLMConfig(backend="replay", cache=cache)) as replay:
        again = simulate(scenario, llm=replay, progress=False)
        assert replay.cache_hits == replay.requests > 0
    assert again.agents.equals(live.agents) and again.model.equals(live.model)


def test_alignsim_serve_with_the_adapter_answers_by_model_name(trained: Path, tmp_path: Path) -> None:
    """The server `alignsim serve --adapter fisher-v1` starts (its own: LoRA on), in one batch of concurrent
    requests: those naming the adapter answer as trained, those naming the model do not."""
    from sim.llm.openai_backend import OpenAIBackend
    from sim.llm.server import VLLMServer

    ref = load_adapter("fisher-v1").ref()
    base = held_out(4)
    with VLLMServer("smollm2-135m", adapters=[ref], log_path=tmp_path / "server.log",
                    startup_timeout_s=900) as server:
        replies = LLMClient(OpenAIBackend(server.url, "smollm2-135m")).chat(
            [*base, *(replace(r, adapter=ref) for r in base)])
    texts = [json.loads(r.text) for r in replies]
    assert texts[4:] == [json.loads(TRAINED_ANSWER)] * 4
    assert sum(t == json.loads(TRAINED_ANSWER) for t in texts[:4]) <= 1
