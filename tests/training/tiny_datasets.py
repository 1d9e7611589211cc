"""Dataset folders in the format of the training contract (docs/training.md), written by hand for tests.

The export side (`sim.training.dataset`) owns the format; this writes the same folder from plain rows, so training
can be tested on examples whose right answer is known.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

PARQUET = "data/train-00000-of-00001.parquet"


def chat(system: str, user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def reply(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def write_dataset(folder: Path, fmt: str, rows: list[dict[str, Any]], base_model: str = "smollm2-135m") -> Path:
    """``folder`` as export writes it: ``dataset.json`` and one Parquet file of ``rows`` plus the bookkeeping
    columns every format carries."""
    full = []
    for i, row in enumerate(rows):
        extra = {"messages": [*row["prompt"], *row["completion"]]} if fmt == "sft" else {}
        full.append({**row, **extra, "run": "tiny", "seed": 0, "agent": i, "group": "fishers", "step": 1,
                     "phase": "act", "sample": 0, "reward_specified": 1.0, "reward_institutional": 1.0,
                     "reward_true": 1.0, "model": base_model, "adapter": None})
    (folder / "data").mkdir(parents=True)
    table = pa.Table.from_pylist(full) if full else pa.table({"prompt": pa.array([], pa.string())})
    pq.write_table(table, folder / PARQUET)
    digest = "sha256:" + hashlib.sha256((folder / PARQUET).read_bytes()).hexdigest()
    meta = {"format": fmt, "reward": "institutional", "base_model": base_model, "adapter": None, "rows": len(rows),
            "digest": digest, "sources": [{"run_dir": "runs/tiny", "scenario": "tiny", "seed": 0}],
            "alignsim": "0.1.0"}
    (folder / "dataset.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return folder


SYSTEM = "You fish in a shared lake. Answer with JSON only."


def month(i: int) -> str:
    return f"Month {i}. The lake holds {100 - 3 * i} tons. How many tons do you catch?"


def sft_rows(n: int, answer: str = '{"catch": 13}') -> list[dict[str, Any]]:
    """``n`` short prompts all labelled with the same ``answer``: what a trained adapter should then say."""
    return [{"prompt": chat(SYSTEM, month(i)), "completion": reply(answer)} for i in range(n)]


def preference_rows(n: int, chosen: str = '{"catch": 13}', rejected: str = '{"catch": 40}') -> list[dict[str, Any]]:
    return [{"prompt": chat(SYSTEM, month(i)), "chosen": reply(chosen), "rejected": reply(rejected)} for i in range(n)]
