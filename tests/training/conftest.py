"""Every training test gets its own $ALIGNSIM_HOME (adapters registered there), beside the prepared models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sim.llm.models import alignsim_home
from tests.conftest import require_vllm
from tests.training.tiny_datasets import sft_rows, write_dataset


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ALIGNSIM_HOME whose models/ is the real one (the prepared SmolLM2 folder is not converted again)."""
    models = alignsim_home() / "models"
    folder = tmp_path / "alignsim-home"
    folder.mkdir()
    if models.is_dir():
        (folder / "models").symlink_to(models.resolve())
    monkeypatch.setenv("ALIGNSIM_HOME", str(folder))
    return folder


TRAINED_ANSWER = '{"catch": 13}'
"""What the real test adapter is taught to answer every fishing prompt (the base model never says it)."""


@pytest.fixture(scope="package")
def lora_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An ALIGNSIM_HOME holding one adapter really trained here (`sft`, a handful of short prompts, all labelled
    `TRAINED_ANSWER`), interrupted after its third step and resumed, as a killed training is by a rerun."""
    require_vllm()
    from sim.training.progress import TrainingBar
    from sim.training.train import TrainSettings, train

    folder = tmp_path_factory.mktemp("lora-home")
    (folder / "models").symlink_to((alignsim_home() / "models").resolve())
    data = write_dataset(tmp_path_factory.mktemp("lora-data") / "fishing", "sft", sft_rows(16, TRAINED_ANSWER))
    settings = TrainSettings(epochs=3, batch_size=4, learning_rate=1e-3, save_steps=2, seed=1)
    step_end = TrainingBar.on_step_end

    def stop_at_step_3(self: TrainingBar, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Stops the training as Ctrl-C would, once checkpoint-2 is saved."""
        step_end(self, args, state, control, **kwargs)
        if state.global_step == 3:
            raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ALIGNSIM_HOME", str(folder))
        with pytest.MonkeyPatch.context() as stopping, pytest.raises(KeyboardInterrupt):
            stopping.setattr(TrainingBar, "on_step_end", stop_at_step_3)
            train(data, "smollm2-135m", "fisher-v1", settings)
        train(data, "smollm2-135m", "fisher-v1", settings)
    yield folder


@pytest.fixture(scope="package")
def vllm_lora_backend(lora_home: Path) -> Iterator[object]:
    """An in-process engine with LoRA enabled for the trained adapter, shared by this package's real tests and
    stopped after them (one more engine start: about 20-60 s, LoRA turns compilation off)."""
    from sim.llm.vllm_backend import VLLMBackend
    from sim.training.adapters import adapters_home, load_adapter

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ALIGNSIM_HOME", str(lora_home))
        ref = load_adapter("fisher-v1").ref()
        assert adapters_home() == lora_home / "adapters"
    backend = VLLMBackend("smollm2-135m", max_num_batched_tokens=32768, kv_cache_gib=2, max_model_len=2048,
                          adapters=(ref,))
    yield backend
    backend.close()
