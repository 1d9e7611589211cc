"""`alignsim export` on bad input: one message naming the problem, a non-zero exit, no traceback, nothing written."""

from __future__ import annotations

import errno
from pathlib import Path

import pandas as pd
import pytest

from sim.cli import main
from sim.runner import run
from tests.helpers import commons
from tests.training_runs import fined_quota, run_fake


def fives(agent: int, step: int, sample: int) -> int:
    return 5


@pytest.fixture(scope="module")
def llm_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_fake(fined_quota(steps=1), fives, tmp_path_factory.mktemp("errors") / "run").path


def export_cli(source: Path, out: Path, *extra: str, fmt: str = "sft", reward: str = "true") -> int:
    return main(["export", str(source), "--format", fmt, "--reward", reward, "--out", str(out), "-q", *extra])


def nothing_at(path: Path) -> bool:
    return not path.exists() and not list(path.parent.glob(f".{path.name}.partial-*"))


def test_a_rule_based_run_has_no_llm_decisions_to_export(tmp_path: Path, capsys: pytest.CaptureFixture):
    rules = run(commons([("sustainable", 3)], steps=2), out=tmp_path / "rules", progress=False).path
    assert export_cli(rules, tmp_path / "ds") == 2
    err = capsys.readouterr().err
    assert f"no LLM decisions in {rules}" in err and "Traceback" not in err
    assert nothing_at(tmp_path / "ds")


@pytest.mark.parametrize(("option", "value"), [("--format", "dpo"), ("--reward", "profit")])
def test_an_unknown_format_or_reward_names_the_choices(llm_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                                       option: str, value: str):
    args = {"--format": "sft", "--reward": "true", option: value}
    assert main(["export", str(llm_run), "--format", args["--format"], "--reward", args["--reward"],
                 "--out", str(tmp_path / "ds")]) == 2
    err = capsys.readouterr().err
    assert f"invalid choice: '{value}'" in err and "Traceback" not in err
    assert nothing_at(tmp_path / "ds")


def test_a_folder_that_is_neither_a_run_nor_a_sweep_is_named(tmp_path: Path, capsys: pytest.CaptureFixture):
    assert export_cli(tmp_path, tmp_path / "ds") == 2
    assert "neither a run directory (manifest.json) nor a sweep directory" in capsys.readouterr().err
    assert export_cli(tmp_path / "missing", tmp_path / "ds") == 2
    assert "no such directory" in capsys.readouterr().err


def test_a_sweep_of_two_base_models_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture):
    sweep = tmp_path / "sweep"
    for name, model in (("a", "smollm2-135m"), ("b", "qwen2.5-0.5b")):
        run_fake(fined_quota(steps=1, model=model), fives, sweep / "runs" / name)
    pd.DataFrame({"status": ["ok", "ok"], "run_dir": ["runs/a", "runs/b"]}).to_parquet(sweep / "results.parquet")
    assert export_cli(sweep, tmp_path / "ds") == 2
    err = capsys.readouterr().err
    assert "mixes base models: smollm2-135m (in runs/a), qwen2.5-0.5b (in runs/b)" in err
    assert nothing_at(tmp_path / "ds")


def test_a_sweep_of_one_model_exports_every_run(tmp_path: Path):
    sweep = tmp_path / "sweep"
    for name in ("a", "b"):
        run_fake(fined_quota(steps=1), fives, sweep / "runs" / name)
    pd.DataFrame({"status": ["ok", "ok"], "run_dir": ["runs/a", "runs/b"]}).to_parquet(sweep / "results.parquet")
    assert export_cli(sweep, tmp_path / "ds") == 0
    rows = pd.read_parquet(tmp_path / "ds" / "data" / "train-00000-of-00001.parquet")
    assert sorted(set(rows["run"])) == ["runs/a", "runs/b"] and len(rows) == 6


def test_an_existing_out_is_kept_unless_overwrite(llm_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    out = tmp_path / "ds"
    assert export_cli(llm_run, out) == 0
    before = (out / "dataset.json").read_bytes()
    assert export_cli(llm_run, out, reward="specified") == 2
    assert "dataset folder already exists" in capsys.readouterr().err
    assert (out / "dataset.json").read_bytes() == before
    assert export_cli(llm_run, out, "--overwrite", reward="specified") == 0
    assert b'"specified"' in (out / "dataset.json").read_bytes()


def test_an_out_below_a_file_is_a_user_error(llm_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    (tmp_path / "file").write_text("x")
    assert export_cli(llm_run, tmp_path / "file" / "ds") == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_a_full_disk_leaves_nothing_half_written(llm_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                                 monkeypatch: pytest.MonkeyPatch):
    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("sim.training.dataset.pq.write_table", full)
    out = tmp_path / "new" / "ds"
    assert export_cli(llm_run, out) == 4
    err = capsys.readouterr().err
    assert "cannot write the dataset folder" in err and "No space left on device" in err
    assert nothing_at(out) and not out.parent.exists()


def test_preference_pairs_need_samples_that_differ(llm_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    assert export_cli(llm_run, tmp_path / "ds", fmt="preference") == 2
    err = capsys.readouterr().err
    assert "no preference rows" in err and "candidates: n" in err
    assert nothing_at(tmp_path / "ds")


def test_overwrite_replaces_only_a_dataset_folder(llm_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "thesis.tex").write_text("x")
    assert export_cli(llm_run, precious, "--overwrite") == 2
    assert "this folder is not one (no dataset.json); nothing was deleted" in capsys.readouterr().err
    assert (precious / "thesis.tex").read_text() == "x"
