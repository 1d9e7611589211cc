"""Small dataset folders whose right answer is known, written with export's own writer (`sim.training.dataset`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from sim.training.dataset import DATA_FILE, INFO_FILE, Source, digest_of, schema
from sim.training.dataset import write_dataset as write_folder

SYSTEM = "You fish in a shared lake. Answer with JSON only."


def chat(system: str, user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def reply(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def month(i: int) -> str:
    return f"Month {i}. The lake holds {100 - 3 * i} tons. How many tons do you catch?"


def sft_rows(n: int, answer: str = '{"catch": 13}') -> list[dict[str, Any]]:
    """``n`` short prompts all labelled with the same ``answer``: what a trained adapter should then say."""
    return [{"prompt": chat(SYSTEM, month(i)), "completion": reply(answer)} for i in range(n)]


def preference_rows(n: int, chosen: str = '{"catch": 13}', rejected: str = '{"catch": 40}') -> list[dict[str, Any]]:
    return [{"prompt": chat(SYSTEM, month(i)), "chosen": reply(chosen), "rejected": reply(rejected)} for i in range(n)]


def write_dataset(folder: Path, fmt: str, rows: list[dict[str, Any]], base_model: str = "smollm2-135m") -> Path:
    """``folder`` as `alignsim export` writes it, from ``rows`` (their format's chat columns), with the bookkeeping
    columns every format carries filled in."""
    full = []
    for i, row in enumerate(rows):
        extra = {"messages": [*row["prompt"], *row["completion"]]} if fmt == "sft" else {}
        full.append({**row, **extra, "run": "tiny", "seed": 0, "agent": i, "group": "fishers", "step": 1,
                     "phase": "act", "round": 0, "sample": 0, "candidates": 1, "valid": True,
                     "reward_specified": 1.0, "reward_institutional": 1.0, "reward_true": 1.0, "model": base_model,
                     "adapter": None})
    write_folder(folder, fmt, "institutional", full, base_model, None,  # type: ignore[arg-type]
                 [Source(run_dir="runs/tiny", scenario="tiny", seed=0)])
    return folder


def empty_dataset(folder: Path, fmt: str) -> Path:
    """A dataset folder of ``fmt`` with no rows (export refuses to write one; a hand-made folder can be)."""
    write_dataset(folder, fmt, sft_rows(1) if fmt == "sft" else preference_rows(1))
    pq.write_table(schema(fmt).empty_table(), folder / DATA_FILE)
    info = json.loads((folder / INFO_FILE).read_text())
    (folder / INFO_FILE).write_text(json.dumps({**info, "rows": 0, "digest": digest_of(folder / DATA_FILE)}))
    return folder
