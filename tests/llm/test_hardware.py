"""Engine settings by machine: small KV blocks on vLLM's CPU build, float32 and eager mode only on CPUs without
AVX-512."""

from __future__ import annotations

from pathlib import Path

from sim.llm.hardware import cpu_flags, engine_overrides, server_flags


def test_cpu_build_without_avx512_runs_float32_eager_in_small_blocks() -> None:
    overrides = engine_overrides(on_cpu_build=True, flags={"sse4_2", "avx2", "fma"})
    assert overrides == {"block_size": 32, "dtype": "float32", "enforce_eager": True}
    assert server_flags(overrides) == ["--block-size", "32", "--dtype", "float32", "--enforce-eager"]


def test_avx512_and_unknown_cpus_keep_vllms_dtype_and_gpu_builds_everything() -> None:
    assert engine_overrides(on_cpu_build=True, flags={"avx2", "avx512f", "avx512_bf16"}) == {"block_size": 32}
    assert engine_overrides(on_cpu_build=False, flags={"avx2"}) == {}
    assert server_flags({}) == []


def test_cpu_flags_reads_the_flags_line(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 fma\n\nprocessor\t: 1\n")
    assert cpu_flags(cpuinfo) == {"fpu", "avx2", "fma"}
    assert cpu_flags(tmp_path / "missing") is None
