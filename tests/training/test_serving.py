"""Adapters on their way to vLLM: engine and server arguments, the request that names an adapter, `alignsim
serve --adapter` and `alignsim models list`. No engine (a fake chat server; the real one is in test_real_lora)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from sim.cli import main
from sim.llm import client as client_module
from sim.llm.config import LLMConfig
from sim.llm.errors import LLMError
from sim.llm.openai_backend import OpenAIBackend
from sim.llm.server import VLLMServer
from sim.llm.types import AdapterRef, ChatRequest
from sim.llm.vllm_backend import lora_engine_args
from sim.training.adapters import load_adapter
from tests.llm.fakes import FakeChatServer
from tests.training.fake_adapters import register_fake_adapter

ASK = ChatRequest(messages=({"role": "user", "content": "catch?"},), seed=5)


def ref(name: str, rank: int = 16) -> AdapterRef:
    return AdapterRef(name, f"sha256:{name}", f"/adapters/{name}", rank)


def test_lora_is_enabled_only_for_adapters_with_room_for_all_of_them() -> None:
    assert lora_engine_args([]) == {}
    assert lora_engine_args([ref("a", 8), ref("b", 16), ref("b", 16)], on_cpu_build=False) == {
        "enable_lora": True, "max_lora_rank": 16, "max_loras": 2, "max_cpu_loras": 2}
    assert lora_engine_args([ref("a", 20)])["max_lora_rank"] == 32
    # the CPU build's kernels read "no adapter" as the last slot: one more slot, left empty
    assert lora_engine_args([ref("a")], on_cpu_build=True)["max_loras"] == 2


def test_the_server_serves_each_adapter_under_its_name() -> None:
    plain = VLLMServer("smollm2-135m", port=1).command()
    assert "--enable-lora" not in plain and "--lora-modules" not in plain
    command = VLLMServer("smollm2-135m", port=1, adapters=[ref("a"), ref("b", 32)]).command()
    assert command[command.index("--max-lora-rank") + 1] == "32"
    modules = [json.loads(m) for m in command[command.index("--lora-modules") + 1:]]
    assert modules == [{"name": "a", "path": "/adapters/a", "base_model_name": "smollm2-135m"},
                       {"name": "b", "path": "/adapters/b", "base_model_name": "smollm2-135m"}]


def test_a_request_with_an_adapter_names_it_as_the_model() -> None:
    with FakeChatServer().running() as server:
        OpenAIBackend(server.url, "smollm2-135m").generate([ASK, replace(ASK, adapter=ref("fisher-v1"))])
    assert sorted(body["model"] for body in server.bodies) == ["fisher-v1", "smollm2-135m"]


def test_a_server_without_the_adapter_says_how_to_serve_it() -> None:
    with FakeChatServer(default="404").running() as server, pytest.raises(LLMError) as caught:
        OpenAIBackend(server.url, "smollm2-135m", retries=0).generate([replace(ASK, adapter=ref("fisher-v1"))])
    assert "alignsim serve --model smollm2-135m --adapter fisher-v1" in str(caught.value)


def test_the_in_process_engine_is_built_with_the_scenario_adapters(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[dict] = []
    monkeypatch.setattr("sim.llm.vllm_backend.VLLMBackend", lambda model, **kwargs: built.append(kwargs))
    client = client_module.make_client(LLMConfig(cache=None), adapters=(ref("a"),))
    client.backend._build()  # type: ignore[attr-defined]
    assert built[0]["adapters"] == (ref("a"),)


def test_serve_refuses_an_unknown_adapter_or_one_of_another_base(capsys: pytest.CaptureFixture[str]) -> None:
    register_fake_adapter("big", base="HuggingFaceTB/SmolLM2-360M-Instruct")
    assert main(["serve", "--adapter", "nope"]) == 2
    assert "unknown adapter 'nope'" in capsys.readouterr().err
    assert main(["serve", "--adapter", "big"]) == 2
    assert "trained on base model" in capsys.readouterr().err


def test_models_list_shows_adapters_with_their_lineage(capsys: pytest.CaptureFixture[str]) -> None:
    register_fake_adapter("fisher-v1")
    assert main(["models", "list"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("fisher-v1"))
    assert "adapter of smollm2-135m by sft on 4 rows" in line and load_adapter("fisher-v1").digest[:19] in line


def test_an_adapter_gone_from_disk_is_an_error_not_a_dead_engine(tmp_path) -> None:
    from sim.llm.vllm_backend import VLLMBackend

    engine = object.__new__(VLLMBackend)  # its engine never starts: the check comes before vLLM sees the request
    engine.model, engine._engine_args, engine._lora_ids = "smollm2-135m", {"enable_lora": True}, {}
    with pytest.raises(LLMError, match=r"adapter 'fisher-v1' is gone from /adapters/fisher-v1"):
        engine._lora_request(ref("fisher-v1"))
    engine._engine_args = {}
    with pytest.raises(LLMError, match="started without LoRA"):
        engine._lora_request(ref("fisher-v1"))
