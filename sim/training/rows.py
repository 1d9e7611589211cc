"""What a training reads of a dataset folder: its rows for one method, checked before any model is loaded.

The folder's format (``dataset.json`` and one Parquet file, written by `alignsim export`) is described in
docs/training.md. A method trains on one format: ``sft`` on ``sft`` datasets (prompt, completion), ``dpo`` on
``preference`` datasets (prompt, chosen, rejected).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.errors import UserError

FORMAT_OF = {"sft": "sft", "dpo": "preference"}
COLUMNS = {"sft": ("prompt", "completion"), "dpo": ("prompt", "chosen", "rejected")}
META = "dataset.json"


@dataclass(frozen=True)
class TrainingRows:
    """A checked dataset folder: what ``dataset.json`` says, and its Parquet file with the method's columns."""

    folder: Path
    method: str
    format: str
    reward: str | None
    base_model: str | None
    adapter: str | None
    rows: int
    digest: str
    parquet: Path

    def dataset(self, max_examples: int | None = None, seed: int = 0) -> Any:
        """The method's columns as a Hugging Face `datasets.Dataset` (in memory), at most ``max_examples`` rows
        drawn with ``seed``."""
        import pyarrow.parquet as pq
        from datasets import Dataset
        from datasets.table import InMemoryTable

        table = pq.read_table(self.parquet, columns=list(COLUMNS[self.method]))
        data = Dataset(InMemoryTable(table))
        if max_examples is not None and max_examples < len(data):
            data = data.shuffle(seed=seed).select(range(max_examples))
        return data


def training_rows(folder: Path, method: str) -> TrainingRows:
    """The rows of ``folder`` for ``method``, or a UserError naming what is wrong and how to get it right."""
    meta_path = folder / META
    if not meta_path.is_file():
        raise UserError(f"{folder} is not a dataset folder (no {META}): make one with `alignsim export RUN_DIR "
                        f"--format {FORMAT_OF[method]}`")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{meta_path}: not readable JSON ({exc})") from None
    fmt = meta.get("format")
    if fmt != FORMAT_OF[method]:
        raise UserError(f"{folder} is a {fmt!r} dataset, but --method {method} trains on a {FORMAT_OF[method]!r} "
                        f"dataset: export one with `alignsim export RUN_DIR --format {FORMAT_OF[method]}`")
    files = sorted((folder / "data").glob("*.parquet"))
    if len(files) != 1:
        raise UserError(f"{folder}/data holds {len(files)} Parquet files; a dataset folder has exactly one")
    parquet = files[0]
    digest = "sha256:" + hashlib.sha256(parquet.read_bytes()).hexdigest()
    if meta.get("digest") != digest:
        raise UserError(f"{parquet} changed after export ({META} says {meta.get('digest')}, the file is {digest}): "
                        "export the dataset again")
    import pyarrow.parquet as pq

    rows = pq.read_metadata(parquet).num_rows
    if rows == 0:
        raise UserError(f"{folder} has no rows: nothing to train on (export runs with LLM decisions)")
    columns = pq.read_schema(parquet).names
    missing = [c for c in COLUMNS[method] if c not in columns]
    if missing:
        raise UserError(f"{parquet} lacks column(s) {', '.join(missing)} that --method {method} needs")
    return TrainingRows(folder, method, fmt, meta.get("reward"), meta.get("base_model"), meta.get("adapter"), rows,
                        digest, parquet)
