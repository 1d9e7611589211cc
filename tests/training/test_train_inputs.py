"""`alignsim train` on bad input, and a training stopped midway: a message and exit 2 (130 when interrupted), no
traceback, nothing registered; the same command again resumes. The trainer itself is replaced by a fake here
(no model is loaded); test_real_lora trains for real."""

from __future__ import annotations

import fcntl
import json
from pathlib import Path
from typing import Any

import pytest

from sim.cli import main
from sim.training import train as train_module
from sim.training.adapters import adapters_home, list_adapters, load_adapter
from sim.training.dataset import DATA_FILE as PARQUET
from tests.training.fake_adapters import register_fake_adapter
from tests.training.tiny_datasets import empty_dataset, preference_rows, sft_rows, write_dataset


def train_cli(dataset: Path, *more: str, method: str = "sft", out: str = "fisher-v1") -> list[str]:
    return ["train", str(dataset), "--method", method, "--out", out, "-q", *more]


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The message of a refused command (exit 2), after checking it left no adapter and no traceback."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and err.startswith("alignsim: error: ")
    assert not any(a.name != "taken" for a in list_adapters())
    return err


def test_a_folder_that_is_no_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(train_cli(tmp_path / "nowhere"), capsys)
    assert "nowhere is not a dataset folder: it has no dataset.json" in err and "alignsim export" in err


def test_a_dataset_of_the_wrong_format_for_the_method(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pairs = write_dataset(tmp_path / "pairs", "preference", preference_rows(4))
    err = refused(train_cli(pairs), capsys)
    assert "is a 'preference' dataset, but --method sft trains on a 'sft' dataset" in err
    replies = write_dataset(tmp_path / "replies", "sft", sft_rows(4))
    assert "is a 'sft' dataset, but --method dpo" in refused(train_cli(replies, method="dpo"), capsys)


def test_an_empty_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = empty_dataset(tmp_path / "empty", "sft")
    assert "has no rows: nothing to train on" in refused(train_cli(empty), capsys)


def test_a_dataset_changed_after_export_or_missing_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    changed = write_dataset(tmp_path / "changed", "sft", sft_rows(4))
    write_dataset(tmp_path / "other", "sft", sft_rows(5))
    (changed / PARQUET).write_bytes((tmp_path / "other" / PARQUET).read_bytes())
    assert "the dataset was changed after export" in refused(train_cli(changed), capsys)
    mislabelled = write_dataset(tmp_path / "mislabelled", "sft", sft_rows(4))
    meta = json.loads((mislabelled / "dataset.json").read_text())
    (mislabelled / "dataset.json").write_text(json.dumps({**meta, "format": "preference"}))
    assert "a preference dataset needs the columns chosen, rejected" in refused(
        train_cli(mislabelled, method="dpo"), capsys)


def test_names_epochs_a_base_and_a_taken_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_dataset(tmp_path / "data", "sft", sft_rows(4))
    assert "--base" in refused(train_cli(data, "--base", str(tmp_path / "no-model")), capsys)
    assert "adapter name '../x'" in refused(train_cli(data, out="../x"), capsys)
    assert "--epochs must be positive" in refused(train_cli(data, "--epochs", "0"), capsys)
    register_fake_adapter("taken")
    assert "adapter 'taken' is already registered" in refused(train_cli(data, out="taken"), capsys)
    assert load_adapter("taken").lineage["method"] == "sft"


def test_a_second_training_of_the_same_name_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_dataset(tmp_path / "data", "sft", sft_rows(4))
    adapters_home().mkdir(parents=True)
    with open(adapters_home() / ".fisher-v1.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert "being trained by another process" in refused(train_cli(data), capsys)


class StopsOnce:
    """A stand-in for the trainer: saves a checkpoint at step 2 and is interrupted there the first time; when
    resumed it finishes and writes the adapter's files."""

    def __init__(self) -> None:
        self.resumed_from: list[Path | None] = []

    def __call__(self, rows: Any, base: str, settings: Any, staging: Path, checkpoint: Path | None,
                 progress: bool) -> dict[str, Any]:
        self.resumed_from.append(checkpoint)
        if checkpoint is None and len(self.resumed_from) == 1:
            saved = staging / "checkpoints" / "checkpoint-2"
            saved.mkdir(parents=True)
            (saved / "trainer_state.json").write_text("{}")
            (staging / "checkpoints" / "checkpoint-3").mkdir()  # killed while saving: no trainer_state.json
            raise KeyboardInterrupt
        (staging / "adapter").mkdir()
        (staging / "adapter" / "adapter_config.json").write_text(json.dumps({"r": settings.lora_rank}))
        (staging / "adapter" / "adapter_model.safetensors").write_bytes(b"trained")
        return {"examples": rows.info.rows, "train_s": 1.0, "examples_per_s": 4.0, "device": "cpu", "first_loss": 2.0,
                "last_loss": 0.1}


def test_an_interrupted_training_registers_nothing_and_the_same_command_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_dataset(tmp_path / "data", "sft", sft_rows(4))
    fit = StopsOnce()
    monkeypatch.setattr(train_module, "_fit", fit)
    assert main(train_cli(data)) == 130
    assert "registered nothing; the same command resumes" in capsys.readouterr().err
    assert list_adapters() == [] and (adapters_home() / ".fisher-v1.training" / "plan.json").is_file()
    assert main(train_cli(data)) == 0
    assert fit.resumed_from[1] == adapters_home() / ".fisher-v1.training" / "checkpoints" / "checkpoint-2"
    assert "resuming the interrupted training from checkpoint-2" in capsys.readouterr().err
    adapter = load_adapter("fisher-v1")
    assert adapter.lineage["resumed_from"] == "checkpoint-2"
    assert adapter.lineage["dataset"]["rows"] == 4 and adapter.lineage["hyperparameters"]["lora_rank"] == 16
    assert sorted(p.name for p in adapters_home().iterdir()) == [".fisher-v1.lock", "fisher-v1"]


def test_a_training_left_with_other_settings_starts_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_dataset(tmp_path / "data", "sft", sft_rows(4))
    fit = StopsOnce()
    monkeypatch.setattr(train_module, "_fit", fit)
    assert main(train_cli(data)) == 130
    assert main(train_cli(data, "--epochs", "3")) == 0
    assert fit.resumed_from == [None, None]
    assert "with other settings was discarded" in capsys.readouterr().err
    assert load_adapter("fisher-v1").lineage["hyperparameters"]["epochs"] == 3
