"""The adapter registry: LoRA adapters made by `alignsim train`, each a folder ``$ALIGNSIM_HOME/adapters/NAME``.

A folder holds PEFT's files (``adapter_config.json``, ``adapter_model.safetensors``) and ``lineage.json``: the
base model, the dataset (path, digest, format), the method, the hyperparameters, the seed, the time and the
training's metrics. It appears by one rename once complete (`publish`), so a folder that exists is whole: a
training killed midway leaves nothing registered.

An adapter is named in scenarios by its name and identified in caches, transcripts and manifests by its
``digest``: a hash of its files, so an adapter trained again under the same name recomputes what it answers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sim.errors import UserError
from sim.llm.models import REGISTRY, alignsim_home, model_dir
from sim.llm.types import AdapterRef

if TYPE_CHECKING:
    from sim.scenario import Scenario

LINEAGE = "lineage.json"
PEFT_FILES = ("adapter_config.json", "adapter_model.safetensors")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def adapters_home() -> Path:
    """Where registered adapters live: ``$ALIGNSIM_HOME/adapters``."""
    return alignsim_home() / "adapters"


def check_name(name: str) -> str:
    """``name`` if it can name an adapter (a folder, and the model name a vLLM server serves it under)."""
    if not NAME.match(name):
        raise UserError(f"adapter name {name!r}: use 1 to 64 letters, digits, '_', '-' or '.', starting with a "
                        "letter or digit")
    return name


def adapter_dir(name: str) -> Path:
    return adapters_home() / check_name(name)


@dataclass(frozen=True)
class Adapter:
    """A registered adapter: where it is, how it was made (``lineage``, read-only) and the digest of its files."""

    name: str
    path: Path
    lineage: Mapping[str, Any]
    digest: str

    @property
    def base(self) -> str:
        """The base model it was trained on, as named to `alignsim train --base`."""
        return str(self.lineage.get("base", ""))

    @property
    def rank(self) -> int:
        """Its LoRA rank (vLLM's ``max_lora_rank`` must be at least this)."""
        return int(json.loads((self.path / "adapter_config.json").read_text(encoding="utf-8")).get("r", 0))

    def ref(self) -> AdapterRef:
        """What a chat request carries to be answered with this adapter."""
        return AdapterRef(self.name, self.digest, str(self.path), self.rank)

    def describe(self) -> str:
        """One line for `alignsim models list`: base, method, dataset, training size and when."""
        lineage = self.lineage
        dataset = lineage.get("dataset") or {}
        hyper = lineage.get("hyperparameters") or {}
        return (f"adapter of {self.base} by {lineage.get('method', '?')} on {dataset.get('rows', '?')} rows of "
                f"{dataset.get('path', '?')} ({dataset.get('reward', '?')} reward), {hyper.get('epochs', '?')} "
                f"epoch(s), rank {hyper.get('lora_rank', '?')}, seed {lineage.get('seed', '?')}, "
                f"{lineage.get('created', '?')}, {self.digest[:19]}")


def files_digest(folder: Path) -> str:
    """``sha256:...`` of the lineage and PEFT files of an adapter folder, names and bytes."""
    stamp = tuple((name, *_stat(folder / name)) for name in (LINEAGE, *PEFT_FILES))
    return _digest(folder, stamp)


def _stat(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_size, info.st_mtime_ns


@lru_cache(maxsize=64)
def _digest(folder: Path, stamp: tuple) -> str:
    """Hashed once per folder and file sizes and times (``stamp``): a rewritten file is hashed again."""
    hasher = hashlib.sha256()
    for name, *_ in stamp:
        hasher.update(name.encode() + b"\0")
        with open(folder / name, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                hasher.update(block)
    return f"sha256:{hasher.hexdigest()}"


def load_adapter(name: str) -> Adapter:
    """The registered adapter ``name``, or a UserError naming the registry and what is there."""
    folder = adapter_dir(name)
    if not (folder / LINEAGE).is_file():
        known = ", ".join(a.name for a in list_adapters()) or "none"
        raise UserError(f"unknown adapter {name!r}: no {folder} (registered: {known}); `alignsim train` makes "
                        "one, `alignsim models list` lists them")
    missing = [f for f in PEFT_FILES if not (folder / f).is_file()]
    if missing:
        raise UserError(f"adapter {name!r} at {folder} lacks {', '.join(missing)}: train it again with "
                        f"`alignsim train ... --out {name} --overwrite`")
    try:
        lineage = json.loads((folder / LINEAGE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"adapter {name!r}: {folder / LINEAGE} is unreadable ({exc})") from None
    return Adapter(name, folder, MappingProxyType(lineage), files_digest(folder))


def list_adapters() -> list[Adapter]:
    """Every registered adapter, by name (hidden folders, trainings in progress, are not adapters yet)."""
    home = adapters_home()
    names = sorted(p.name for p in home.iterdir() if NAME.match(p.name) and (p / LINEAGE).is_file()) \
        if home.is_dir() else []
    return [load_adapter(name) for name in names]


def same_model(a: str, b: str) -> bool:
    """Whether two model names are one model: equal names, or a registry name and its prepared folder."""
    def where(name: str) -> str:
        return str(model_dir(name)) if name in REGISTRY else str(Path(name).expanduser())

    return a == b or where(a) == where(b)


def resolve_adapter(name: str, model: str) -> Adapter:
    """The adapter ``name`` for serving on ``model``; a UserError if it is unknown or was trained on another."""
    adapter = load_adapter(name)
    if not same_model(adapter.base, model):
        raise UserError(f"adapter {name!r} was trained on base model {adapter.base!r}, but the LLM here is "
                        f"{model!r}: a LoRA adapter only fits the model it was trained on (set llm.model: "
                        f"{adapter.base} or train an adapter on {model})")
    return adapter


def scenario_adapters(scenario: Scenario) -> tuple[AdapterRef, ...]:
    """The distinct adapters a scenario's groups name (``population[i].llm.adapter``), in group order: what its
    engine or server must serve."""
    names = dict.fromkeys(g.llm.adapter for g in scenario.population if g.llm.adapter)
    return tuple(resolve_adapter(name, scenario.llm.model).ref() for name in names)


def adapter_lineage(scenario: Scenario) -> dict[str, dict[str, Any]]:
    """What a run's manifest records of each group's adapter: its name, digest and lineage (empty: none)."""
    adapters = {}
    for group in scenario.population:
        if group.llm.adapter:
            adapter = load_adapter(group.llm.adapter)
            adapters[group.name] = {"adapter": adapter.name, "digest": adapter.digest, "lineage": dict(adapter.lineage)}
    return adapters


def publish(staging: Path, name: str, overwrite: bool = False) -> Path:
    """Move a complete adapter folder ``staging`` into the registry as ``name`` (one rename: whole or absent).

    An adapter already registered under ``name`` is replaced only with ``overwrite``.
    """
    target = adapter_dir(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        if not overwrite:
            raise UserError(f"adapter {name!r} is already registered at {target} (choose another --out or pass "
                            "--overwrite)")
        retired = target.with_name(f".{name}.replaced-{os.getpid()}")
        os.replace(target, retired)
        os.replace(staging, target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(staging, target)
    return target
