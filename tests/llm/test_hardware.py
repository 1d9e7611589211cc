"""Engine settings by machine and by work: small KV blocks on vLLM's CPU build, float32 only on CPUs without
AVX-512, and the engine mode rule (eager unless the engine is long-lived on an AVX-512 CPU or a GPU)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.llm.hardware import COMPILE_PAYS_OFF_DECISIONS, EngineSettings, cpu_flags, engine_settings, machine
from sim.scenario import load_scenario

AVX2 = {"sse4_2", "avx2", "fma"}
AVX512 = {"avx2", "avx512f", "avx512_bf16"}
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def test_cpu_build_without_avx512_runs_float32_eager_in_small_blocks_whatever_the_work() -> None:
    for decisions in (0, COMPILE_PAYS_OFF_DECISIONS, None):
        settings = engine_settings("auto", decisions, on_cpu_build=True, flags=AVX2)
        assert settings == EngineSettings("eager", "float32", 32)
    assert settings.engine_args() == {"enforce_eager": True, "dtype": "float32", "block_size": 32}
    assert settings.server_flags() == ["--enforce-eager", "--dtype", "float32", "--block-size", "32"]
    assert settings.describe() == "eager, float32"


def test_avx512_compiles_only_an_engine_that_will_answer_enough_decisions_to_pay_for_it() -> None:
    def mode(decisions: int | None) -> str:
        return engine_settings("auto", decisions, on_cpu_build=True, flags=AVX512).mode

    assert mode(0) == mode(COMPILE_PAYS_OFF_DECISIONS - 1) == "eager"
    assert mode(COMPILE_PAYS_OFF_DECISIONS) == "compiled"
    assert mode(None) == "compiled"  # alignsim serve: long-lived by intent
    compiled = engine_settings("auto", None, on_cpu_build=True, flags=AVX512)
    assert compiled == EngineSettings("compiled", None, 32)  # vLLM's dtype (bf16 there)
    assert compiled.server_flags() == ["--block-size", "32"]
    assert compiled.engine_args() == {"enforce_eager": False, "block_size": 32}


def test_an_asked_for_mode_is_obeyed_and_gpus_keep_vllms_defaults() -> None:
    assert engine_settings("compiled", 0, on_cpu_build=True, flags=AVX2) == EngineSettings("compiled", "float32", 32)
    assert engine_settings("eager", None, on_cpu_build=True, flags=AVX512) == EngineSettings("eager", None, 32)
    assert engine_settings("auto", 0, on_cpu_build=False, flags=AVX2) == EngineSettings("compiled")
    assert engine_settings("eager", 0, on_cpu_build=False).server_flags() == ["--enforce-eager"]
    with pytest.raises(ValueError, match="expected one of auto, eager, compiled"):
        engine_settings("fast")


def test_an_engine_serving_adapters_is_recorded_eager_on_the_cpu_build_which_compiles_nothing_with_lora() -> None:
    for requested in ("auto", "compiled"):
        assert engine_settings(requested, None, on_cpu_build=True, flags=AVX512, lora=True) == EngineSettings(
            "eager", None, 32)
    assert engine_settings("auto", None, on_cpu_build=False, lora=True) == EngineSettings("compiled")


def test_a_run_expects_one_decision_per_llm_agent_and_step_and_none_without_llm_agents() -> None:
    demo = load_scenario(SCENARIOS / "commons.yaml")
    llm_agents = sum(g.count for g in demo.population if g.policy.kind == "llm")
    assert llm_agents > 0 and demo.llm_decisions() == demo.steps * llm_agents
    assert load_scenario(SCENARIOS / "commons.yaml", ["steps=2"]).llm_decisions() == 2 * llm_agents
    assert load_scenario(SCENARIOS / "commons_rules.yaml").llm_decisions() == 0


def test_cpu_flags_and_machine_read_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 fma\n\nprocessor\t: 1\n"
                       "model name\t: AMD EPYC\nflags\t\t: fpu avx2 fma avx512f\n")
    assert cpu_flags(cpuinfo) == {"fpu", "avx2", "fma"}
    assert cpu_flags(tmp_path / "missing") is None
    found = machine(cpuinfo)
    assert found["cpu"] == "AMD EPYC" and found["avx512"] is False and found["cores"] >= 1
    assert machine(tmp_path / "missing")["avx512"] is None
