"""The results table: one row per run, with its parameters, seed, summary metrics, status and error.

Written as Parquet beside its final name and renamed into place, so a reader never sees half a table.
The sweep's parameter names travel in the file's metadata, so `alignsim plot` needs nothing else.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.errors import UserError
from sim.sweeps.cell import CellResult
from sim.sweeps.plan import Cell

RESULTS = "results.parquet"
META_KEY = b"alignsim.sweep"
# Columns that measure the machine, not the model: they differ between otherwise identical sweeps.
TIMING_COLUMNS = ("elapsed_s",)
# Every column that is neither a swept parameter nor a summary metric.
BOOKKEEPING = ("cell_id", "replication", "seed", "status", "error", *TIMING_COLUMNS, "run_dir")


def metric_columns(frame: pd.DataFrame, parameters: list[str]) -> list[str]:
    """The summary-metric columns of a results table, in table order."""
    return [c for c in frame.columns if c not in BOOKKEEPING and c not in parameters]


def _scalar(value: Any) -> Any:
    """Parquet wants one type per column: lists and mappings are stored as their JSON text."""
    return value if value is None or isinstance(value, bool | int | float | str) else json.dumps(value)


def results_frame(parameters: list[str], cells: list[Cell], outcomes: dict[str, CellResult]) -> pd.DataFrame:
    """Rows in plan order for the cells that have an outcome; metric columns in order of first appearance."""
    rows = []
    for cell in cells:
        outcome = outcomes.get(cell.cell_id)
        if outcome is None:
            continue
        rows.append({
            "cell_id": cell.cell_id,
            **{p: _scalar(cell.value(p)) for p in parameters},
            "replication": cell.replication,
            "seed": cell.seed,
            "status": outcome.status,
            "error": outcome.error,
            **outcome.summary,
            "elapsed_s": outcome.elapsed_s,
            "run_dir": f"runs/{cell.cell_id}",
        })
    columns = ["cell_id", *parameters, "replication", "seed", "status", "error"]
    metrics = list(dict.fromkeys(k for row in rows for k in row if k not in BOOKKEEPING and k not in parameters))
    frame = pd.DataFrame(rows, columns=[*columns, *metrics, "elapsed_s", "run_dir"])
    for parameter in parameters:
        kinds = {type(v) for v in frame[parameter] if v is not None}
        if str in kinds and len(kinds) > 1:
            frame[parameter] = frame[parameter].map(lambda v: v if v is None else str(v))
    frame["error"] = frame["error"].astype("string")
    return frame


def write_results(frame: pd.DataFrame, path: Path, meta: dict[str, Any]) -> None:
    """Write the table atomically, with the sweep's description (parameters, metrics, name) as metadata."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY: json.dumps(meta).encode()})
    partial = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pq.write_table(table, partial)
    os.replace(partial, path)


def read_results(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A results table and its metadata, from the Parquet file or the sweep directory holding it."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS
    if not path.is_file():
        raise UserError(f"no sweep results at {path} (give a results.parquet or a sweep directory)")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise UserError(f"{path}: not a readable Parquet file ({exc})") from None
    raw = (table.schema.metadata or {}).get(META_KEY)
    meta = json.loads(raw) if raw else {}
    return table.to_pandas(), meta
