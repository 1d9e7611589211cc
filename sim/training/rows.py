"""What a training reads of a dataset folder (`sim.training.dataset`): the rows for one method, checked before any
model is loaded.

A method trains on one format: ``sft`` on ``sft`` datasets (prompt, completion), ``dpo`` on ``preference`` datasets
(prompt, chosen, rejected).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.errors import UserError
from sim.training.dataset import DatasetInfo, read_dataset

FORMAT_OF = {"sft": "sft", "dpo": "preference"}
COLUMNS = {"sft": ("prompt", "completion"), "dpo": ("prompt", "chosen", "rejected")}


@dataclass(frozen=True)
class TrainingRows:
    """A checked dataset folder: its description and its Parquet file, for ``method``."""

    folder: Path
    method: str
    info: DatasetInfo
    parquet: Path

    def dataset(self, max_examples: int | None = None, seed: int = 0) -> Any:
        """The method's columns as a Hugging Face `datasets.Dataset`, held in memory (nothing written to the
        datasets cache), at most ``max_examples`` rows drawn with ``seed``."""
        import pyarrow.parquet as pq
        from datasets import Dataset
        from datasets.table import InMemoryTable

        data = Dataset(InMemoryTable(pq.read_table(self.parquet, columns=list(COLUMNS[self.method]))))
        if max_examples is not None and max_examples < len(data):
            data = data.shuffle(seed=seed).select(range(max_examples))
        return data


def training_rows(folder: Path, method: str) -> TrainingRows:
    """The rows of ``folder`` for ``method``, or a UserError naming what is wrong and how to get it right."""
    info, parquet = read_dataset(folder)
    wanted = FORMAT_OF[method]
    if info.format != wanted:
        raise UserError(f"{folder} is a {info.format!r} dataset, but --method {method} trains on a {wanted!r} "
                        f"dataset: export one with `alignsim export RUN_DIR --format {wanted}`")
    import pyarrow.parquet as pq

    if info.rows == 0 or pq.read_metadata(parquet).num_rows == 0:
        raise UserError(f"{folder} has no rows: nothing to train on (export runs with LLM decisions)")
    return TrainingRows(folder, method, info, parquet)
