"""An in-process engine's start: a line of its own in the progress display, kept out of decisions per second,
and recorded (mode, dtype, seconds) in the manifest beside the machine the run ran on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sim.llm.client import LazyBackend, LLMClient, make_client
from sim.llm.config import LLMConfig
from sim.llm.hardware import engine_settings
from sim.runner import _llm_progress, run
from sim.scenario import load_scenario
from tests.fake_llm import ScriptedBackend, commons_answer

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


class StartedEngine(ScriptedBackend):
    """A scripted engine that says how long its start took, as `VLLMBackend.engine_info` does."""

    def __init__(self, start_s: float) -> None:
        super().__init__(commons_answer, model="smollm2-135m")
        self.start_s = start_s

    def engine_info(self) -> dict[str, object]:
        return {"mode": "eager", "dtype": "float32", "start_s": self.start_s}


def test_decisions_per_second_count_the_llms_time_without_the_engines_start() -> None:
    client = LLMClient(StartedEngine(start_s=30.0))
    assert client.decisions_per_s() is None and _llm_progress(client)["dec/s"] == "-"
    client.requests, client.cache_hits, client.llm_seconds = 12, 2, 35.0  # 10 computed in 5 s after the start
    assert client.decisions_per_s() == pytest.approx(2.0)
    assert _llm_progress(client)["dec/s"] == "2.00"
    assert client.stats()["requests_per_s"] == 2.0 and client.stats()["engine"]["start_s"] == 30.0


def test_the_engines_start_is_announced_on_lines_of_its_own_and_recorded_in_the_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    engine = StartedEngine(start_s=19.0)
    lazy = LazyBackend("smollm2-135m", lambda: engine, label="vLLM engine (eager, float32)")
    scenario = load_scenario(SCENARIOS / "commons.yaml", ["steps=2", "talk.rounds=0", "output.plots=false"])
    result = run(scenario, out=tmp_path / "run", llm=LLMClient(lazy), progress=True)
    err = capsys.readouterr().err
    assert err.count("starting vLLM engine (eager, float32) for smollm2-135m ...") == 1
    assert err.count("vLLM engine (eager, float32) started in ") == 1
    assert lazy.on_start is None  # the display's hook does not outlive the run
    saved = json.loads((result.path / "manifest.json").read_text())
    assert saved["llm"]["engine"] == {"mode": "eager", "dtype": "float32", "start_s": 19.0}
    assert saved["timings"]["engine_start_s"] == 19.0
    assert set(saved["machine"]) == {"cpu", "avx512", "cores"} and saved["machine"]["cores"] >= 1


def test_quiet_runs_announce_nothing_and_an_unstarted_engine_is_not_in_the_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    lazy = LazyBackend("smollm2-135m", lambda: StartedEngine(1.0))
    scenario = load_scenario(SCENARIOS / "commons.yaml", ["steps=1", "talk.rounds=0", "output.plots=false"])
    result = run(scenario, out=tmp_path / "run", llm=LLMClient(lazy), progress=False)
    assert "vLLM engine" not in capsys.readouterr().err
    assert result.manifest["llm"]["engine"]["start_s"] == 1.0
    assert "engine" not in LLMClient(LazyBackend("m", lambda: StartedEngine(1.0))).stats()


def test_a_run_chooses_its_engine_mode_by_the_decisions_it_will_ask() -> None:
    demo = load_scenario(SCENARIOS / "commons.yaml")
    label = make_client(demo.llm.model_copy(update={"cache": None}), expected_decisions=demo.llm_decisions())
    assert label.backend.label == f"vLLM engine ({engine_settings('auto', demo.llm_decisions()).describe()})"
    asked = make_client(LLMConfig(cache=None, engine_mode="compiled"), expected_decisions=1)
    assert asked.backend.label.startswith("vLLM engine (compiled")
