"""The dataset folder: what `alignsim export` writes and `alignsim train` reads (docs/training.md).

```
DIR/dataset.json                            what the rows are (`DatasetInfo`)
DIR/data/train-00000-of-00001.parquet       the rows: datasets.load_dataset("parquet", data_files=...) reads them
```
Columns are conversational, as TRL reads them without a mapping (`FORMAT_COLUMNS`): a chat is a list of
``{role, content}`` messages. Every format also carries where each row came from and its credit under each reward
(`COMMON_COLUMNS`). The folder appears whole or not at all (written beside, renamed into place), and its
``digest`` is the SHA-256 of the Parquet file's bytes, which `read_dataset` checks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, ValidationError

from sim.errors import UserError, storage_error
from sim.runner import into_place

FORMATS = ("sft", "preference", "reward")
REWARDS = ("specified", "institutional", "true")
INFO_FILE = "dataset.json"
DATA_FILE = "data/train-00000-of-00001.parquet"

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
CHAT = pa.list_(MESSAGE)

COMMON_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("run", pa.string()),  # the run directory, relative to what was exported
    ("seed", pa.int64()),  # the run's seed
    ("agent", pa.int64()),
    ("group", pa.string()),
    ("step", pa.int64()),
    ("phase", pa.string()),  # act, talk, sanction, ...
    ("round", pa.int64()),  # which talk round (0 for other phases)
    ("sample", pa.int64()),  # which of the decision's candidates the completion (or `chosen`) is; 0: the one acted on
    ("candidates", pa.int64()),  # how many samples of the decision were scored (1: only the one acted on)
    ("valid", pa.bool_()),  # whether that sample's reply matched the answer's schema (else the fallback acted)
    ("reward_specified", pa.float64()),  # the credit of that sample under each reward (sim/training/credit.py)
    ("reward_institutional", pa.float64()),
    ("reward_true", pa.float64()),
    ("model", pa.string()),  # the base model that answered
    ("adapter", pa.string()),  # the adapter it answered with; null: the base model alone
)
FORMAT_COLUMNS: dict[str, tuple[tuple[str, pa.DataType], ...]] = {
    "sft": (("prompt", CHAT), ("completion", CHAT), ("messages", CHAT)),
    "preference": (("prompt", CHAT), ("chosen", CHAT), ("rejected", CHAT), ("rejected_sample", pa.int64()),
                   ("reward_rejected", pa.float64())),
    "reward": (("prompt", CHAT), ("completion", CHAT), ("reward", pa.float64())),
}

Format = Literal["sft", "preference", "reward"]
Reward = Literal["specified", "institutional", "true"]


def schema(fmt: str) -> pa.Schema:
    """The Parquet schema of a dataset of format ``fmt``: its own columns first, then the common ones."""
    return pa.schema([pa.field(name, kind) for name, kind in (*FORMAT_COLUMNS[fmt], *COMMON_COLUMNS)])


class Source(BaseModel):
    """One run a dataset was exported from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_dir: str
    scenario: str
    seed: int


class DatasetInfo(BaseModel):
    """``dataset.json``: what a dataset folder holds and where it came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Format
    reward: Reward
    base_model: str
    adapter: str | None
    rows: int
    digest: str
    sources: tuple[Source, ...]
    alignsim: str


def alignsim_version() -> str:
    try:
        return metadata.version("alignsim")
    except metadata.PackageNotFoundError:
        return "unknown"


def digest_of(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            sha.update(block)
    return f"sha256:{sha.hexdigest()}"


def write_dataset(
    out: str | Path, fmt: Format, reward: Reward, rows: Sequence[dict[str, Any]], base_model: str,
    adapter: str | None, sources: Sequence[Source], overwrite: bool = False,
) -> DatasetInfo:
    """Write ``rows`` (dicts with every column of `schema(fmt)`) as a dataset folder at ``out``, atomically.

    An empty dataset is refused: a training run on nothing would fail later and further from the cause.
    """
    if not rows:
        raise UserError(f"no rows to write to {out}")
    table = pa.Table.from_pylist(list(rows), schema=schema(fmt))
    final = Path(out)
    with into_place(final, overwrite, what="dataset folder", marker=INFO_FILE) as partial:
        data = partial / DATA_FILE
        data.parent.mkdir()
        pq.write_table(table, data)
        info = DatasetInfo(format=fmt, reward=reward, base_model=base_model, adapter=adapter, rows=table.num_rows,
                           digest=digest_of(data), sources=tuple(sources), alignsim=alignsim_version())
        (partial / INFO_FILE).write_text(info.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return info


def read_info(path: str | Path) -> DatasetInfo:
    """``dataset.json`` of the dataset folder ``path``, checked: a clear message for anything else."""
    folder = Path(path)
    info_path = folder / INFO_FILE
    if not info_path.is_file():
        raise UserError(f"{folder} is not a dataset folder: it has no {INFO_FILE} (make one with alignsim export)")
    try:
        return DatasetInfo.model_validate(json.loads(info_path.read_text(encoding="utf-8")))
    except (ValueError, ValidationError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else None
        where = ".".join(map(str, first["loc"])) + ": " + first["msg"] if first else str(exc)
        raise UserError(f"{info_path}: not a valid dataset description ({where})") from None


def read_dataset(path: str | Path) -> tuple[DatasetInfo, Path]:
    """The description and the Parquet file of the dataset folder ``path``, after checking that the file is the
    one described (its digest) and has the columns of its format."""
    info = read_info(path)
    data = Path(path) / DATA_FILE
    if not data.is_file():
        raise UserError(f"{path}: {DATA_FILE} is missing; the dataset folder is incomplete")
    if digest_of(data) != info.digest:
        raise UserError(f"{data}: its bytes do not match the digest in {INFO_FILE}; the dataset was changed after "
                        "export (export it again)")
    try:
        found = pq.read_schema(data)
    except (OSError, pa.ArrowException) as exc:
        raise UserError(f"{data}: not a readable Parquet file ({exc})") from None
    missing = [f.name for f in schema(info.format) if f.name not in found.names]
    if missing:
        raise UserError(f"{data}: a {info.format} dataset needs the columns {', '.join(missing)}")
    return info, data


def load_dataset(path: str | Path) -> Any:
    """The rows of a dataset folder as a Hugging Face ``datasets.Dataset`` (the ``train`` split), checked first."""
    _, data = read_dataset(path)
    try:
        import datasets
    except ImportError:
        raise UserError("reading a dataset needs Hugging Face datasets: pip install 'alignsim[train]'") from None

    try:
        return datasets.load_dataset("parquet", data_files={"train": str(data)}, split="train")
    except OSError as exc:
        error = storage_error(exc, f"datasets cache for {data}")
        raise (error or exc) from exc
