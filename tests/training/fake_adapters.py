"""Registered adapters whose weight files are stand-ins: for the registry, scenario checks and request plumbing
(no engine loads them)."""

from __future__ import annotations

import json
from pathlib import Path

from sim.training.adapters import adapters_home


def register_fake_adapter(name: str, base: str = "smollm2-135m", weights: bytes = b"weights", rank: int = 16) -> Path:
    """A complete adapter folder under ``$ALIGNSIM_HOME/adapters/NAME`` with ``weights`` as its weight file."""
    folder = adapters_home() / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text(json.dumps({"r": rank, "lora_alpha": 2 * rank}))
    (folder / "adapter_model.safetensors").write_bytes(weights)
    lineage = {"name": name, "base": base, "method": "sft", "seed": 0, "created": "2026-12-09T00:00:00+00:00",
               "dataset": {"path": "/data/tiny", "digest": "sha256:0", "rows": 4, "reward": "institutional"},
               "hyperparameters": {"epochs": 2, "lora_rank": rank}}
    (folder / "lineage.json").write_text(json.dumps(lineage))
    return folder
