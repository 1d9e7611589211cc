"""Run directories: complete, reproducible, and never half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from sim.errors import UserError
from sim.runner import run, simulate
from sim.scenario import load_scenario, scenario_from_dict
from tests.helpers import commons

ROOT = Path(__file__).resolve().parent.parent


def test_run_directory_is_complete(tmp_path: Path) -> None:
    result = run(load_scenario(ROOT / "scenarios/commons_rules.yaml"), out=tmp_path / "r", progress=False)
    folder = tmp_path / "r"
    assert result.path == folder
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["complete"] is True
    assert manifest["seed"] == 7
    assert manifest["scenario"]["environment"]["kind"] == "commons"
    assert "mesa" in manifest["versions"]
    for name in ("model", "agents", "events"):
        assert not pd.read_parquet(folder / f"{name}.parquet").columns.empty
    assert (folder / "plots" / "metrics.png").stat().st_size > 1000
    assert "survival_time" in (folder / "summary.md").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["r"]


def test_same_scenario_and_seed_give_identical_tables() -> None:
    scenario = commons([("random", 3), ("conditional", 2)])
    first, second = simulate(scenario, progress=False), simulate(scenario, progress=False)
    pd.testing.assert_frame_equal(first.model, second.model)
    pd.testing.assert_frame_equal(first.agents, second.agents)
    pd.testing.assert_frame_equal(first.events, second.events)
    other = simulate(scenario, seed=99, progress=False)
    assert not other.agents["act_fish"].equals(first.agents["act_fish"])


def test_a_crashed_run_leaves_no_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sim.environments.commons import Commons

    calls = {"n": 0}
    original = Commons.resolve

    def failing_resolve(self, actions):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("simulated crash")
        return original(self, actions)

    monkeypatch.setattr(Commons, "resolve", failing_resolve)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(commons([("sustainable", 5)]), out=tmp_path / "r", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_run_refused_before_its_first_step_leaves_no_folder(tmp_path: Path) -> None:
    """The default run directory is <output.dir>/<name>/<stamp>: a refusal removes the folders it made, and only
    those (an existing output.dir stays, with whatever it held)."""
    keep = tmp_path / "runs" / "other"
    keep.mkdir(parents=True)
    data = commons([("sustainable", 2)]).model_dump(mode="json")
    data["population"][0]["policy"] = "llm"
    data["llm"] = {"backend": "openai", "cache": None}
    data["output"]["dir"] = str(tmp_path / "runs")
    with pytest.raises(UserError, match="needs a server"):
        run(scenario_from_dict(data), progress=False)
    assert [p.relative_to(tmp_path).as_posix() for p in sorted(tmp_path.rglob("*"))] == ["runs", "runs/other"]
    data["output"]["dir"] = str(tmp_path / "new" / "runs")
    with pytest.raises(UserError, match="needs a server"):
        run(scenario_from_dict(data), progress=False)
    assert not (tmp_path / "new").exists()


def test_an_existing_run_directory_is_not_overwritten(tmp_path: Path) -> None:
    scenario = commons([("sustainable", 5)], steps=2)
    run(scenario, out=tmp_path / "r", progress=False)
    with pytest.raises(UserError, match="already exists"):
        run(scenario, out=tmp_path / "r", progress=False)
    run(scenario, out=tmp_path / "r", progress=False, overwrite=True)
    assert json.loads((tmp_path / "r" / "manifest.json").read_text())["complete"] is True


def test_notebook_api_returns_dataframes_and_figures() -> None:
    from sim import load_scenario as api_load
    from sim import simulate as api_simulate

    result = api_simulate(api_load(ROOT / "scenarios/commons_rules.yaml", ["population.2.policy=sustainable"]),
                          progress=False)
    assert isinstance(result.model, pd.DataFrame) and len(result.model) == 12
    assert {"step", "stock", "alignment_gap"} <= set(result.model.columns)
    figure = result.plot(["stock"])
    assert figure.axes[0].get_title() == "stock"
