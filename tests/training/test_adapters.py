"""The adapter registry, and adapters named by scenarios: checked before a run, carried by every request of their
group, keyed in the cache, recorded in the transcript and the manifest. No engine (a scripted one)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from sim.cli import main
from sim.errors import UserError
from sim.llm.cache import ReplyCache
from sim.llm.client import LLMClient, transcript_record
from sim.llm.types import ChatReply, ChatRequest
from sim.runner import run
from sim.scenario import Scenario, scenario_from_dict
from sim.training import adapters
from sim.transcript import read_transcript
from tests.fake_llm import FakeLLMClient, ScriptedBackend
from tests.training.fake_adapters import register_fake_adapter

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def mixed_commons(cache: str | None = None) -> Scenario:
    """The commons with two base fishers and two answered by the adapter fisher-v1."""
    data = yaml.safe_load((SCENARIOS / "commons.yaml").read_text())
    data["population"].append({**data["population"][0], "name": "trained", "llm": {"adapter": "fisher-v1"}})
    overrides = ["steps=2", "output.plots=false", "talk.rounds=0", "population.0.count=2", "population.1.count=2",
                 f"llm.cache={cache}" if cache else "llm.cache=null"]
    return scenario_from_dict(data, overrides)


def test_a_registered_adapter_has_its_lineage_and_a_digest_of_its_files() -> None:
    register_fake_adapter("fisher-v1")
    adapter = adapters.load_adapter("fisher-v1")
    assert (adapter.base, adapter.rank, adapter.lineage["method"]) == ("smollm2-135m", 16, "sft")
    assert adapter.digest.startswith("sha256:") and adapter.ref().digest == adapter.digest
    with pytest.raises(TypeError):
        adapter.lineage["method"] = "dpo"  # type: ignore[index]
    register_fake_adapter("fisher-v1", weights=b"trained again")
    assert adapters.load_adapter("fisher-v1").digest != adapter.digest
    assert [a.name for a in adapters.list_adapters()] == ["fisher-v1"]


def test_unknown_adapter_and_another_base_are_refused_by_name() -> None:
    register_fake_adapter("other-base", base="HuggingFaceTB/SmolLM2-360M-Instruct")
    with pytest.raises(UserError, match=r"unknown adapter 'nope'.*registered: other-base"):
        adapters.load_adapter("nope")
    with pytest.raises(UserError, match=r"trained on base model 'HuggingFaceTB/SmolLM2-360M-Instruct'.*smollm2-135m"):
        adapters.resolve_adapter("other-base", "smollm2-135m")
    with pytest.raises(UserError, match="adapter name"):
        adapters.check_name("../escape")


def test_publish_is_one_rename_and_never_replaces_without_overwrite(tmp_path: Path) -> None:
    first = register_fake_adapter("fisher-v1")
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "lineage.json").write_text("{}")
    with pytest.raises(UserError, match="already registered"):
        adapters.publish(staging, "fisher-v1")
    assert staging.is_dir() and (first / "adapter_model.safetensors").read_bytes() == b"weights"
    assert adapters.publish(staging, "fisher-v1", overwrite=True) == first
    assert not staging.exists() and json.loads((first / "lineage.json").read_text()) == {}
    assert [p.name for p in first.parent.iterdir()] == ["fisher-v1"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("population.0.llm.adapter=nope", "population[0].llm.adapter: unknown adapter 'nope'"),
        ("population.0.llm.adapter=big", "trained on base model 'HuggingFaceTB/SmolLM2-360M-Instruct'"),
        ("population.1.llm.adapter=fisher-v1", "policy 'greedy', which asks no LLM"),
        ("population.0.llm.adapter=a/b", "population[0].llm.adapter"),
    ],
)
def test_validate_refuses_bad_adapters_with_their_place(override: str, message: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    register_fake_adapter("fisher-v1")
    register_fake_adapter("big", base="HuggingFaceTB/SmolLM2-360M-Instruct")
    scenario = str(SCENARIOS / "commons_newcomer.yaml")
    assert main(["validate", scenario, "--set", override]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_mixed_society_asks_with_the_adapter_only_for_its_group(tmp_path: Path) -> None:
    register_fake_adapter("fisher-v1")
    scenario = mixed_commons()
    client = FakeLLMClient()
    result = run(scenario, out=tmp_path / "run", llm=client, progress=False)
    requests = [r for batch in client.sent for r in batch]
    by_group = {(r.tag["group"], r.adapter.name if r.adapter else None) for r in requests}
    assert by_group == {("fishers", None), ("trained", "fisher-v1")}
    digest = adapters.load_adapter("fisher-v1").digest
    records = read_transcript(result.path)
    assert {(r["group"], r["adapter"], r["adapter_digest"]) for r in records} == {
        ("fishers", None, None), ("trained", "fisher-v1", digest)}
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["adapters"]["trained"]["digest"] == digest
    assert manifest["adapters"]["trained"]["lineage"]["base"] == "smollm2-135m"
    assert manifest["scenario"]["population"][1]["llm"] == {"adapter": "fisher-v1"}


def test_the_cache_keys_on_the_adapter_and_keeps_the_keys_of_requests_without_one(tmp_path: Path) -> None:
    register_fake_adapter("fisher-v1")
    ref = adapters.load_adapter("fisher-v1").ref()
    plain = ChatRequest(messages=({"role": "user", "content": "catch?"},), seed=3)
    tuned = ChatRequest(messages=plain.messages, seed=3, adapter=ref)
    # the key of a request without an adapter is the one recorded before adapters existed
    before = {"model": "m", "messages": list(plain.messages), "schema": None, "seed": 3,
              "sampling": [plain.sampling.temperature, plain.sampling.top_p, plain.sampling.max_tokens]}
    blob = json.dumps(before, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert plain.cache_key("m") == hashlib.sha256(blob.encode()).hexdigest()
    assert plain.cache_key("m") != tuned.cache_key("m")
    moved = ChatRequest(messages=plain.messages, seed=3, adapter=type(ref)(ref.name, ref.digest, "/elsewhere", 8))
    assert moved.cache_key("m") == tuned.cache_key("m")
    register_fake_adapter("fisher-v1", weights=b"trained again")
    retrained = ChatRequest(messages=plain.messages, seed=3, adapter=adapters.load_adapter("fisher-v1").ref())
    assert retrained.cache_key("m") != tuned.cache_key("m")

    backend = ScriptedBackend(lambda r: "tuned" if r.adapter else "base")
    client = LLMClient(backend, ReplyCache(tmp_path / "c.sqlite"))
    assert [r.text for r in client.chat([plain, tuned])] == ["base", "tuned"]
    assert [r.text for r in client.chat([tuned, plain])] == ["tuned", "base"]
    assert client.cache_hits == 2
    assert transcript_record(tuned, ChatReply("x"))["adapter"] == "fisher-v1"

