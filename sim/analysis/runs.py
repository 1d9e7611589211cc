"""Reading runs and sweeps back: a sweep's results table, each run's manifest and tables, each file that a run or a
sweep wrote refused with its name when it is missing or damaged (never a traceback from json or pyarrow)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from sim.errors import UserError
from sim.sweeps.results import read_results


def sweep_dir(path: str | Path) -> Path:
    """The sweep directory named by ``path`` (the directory itself or its results.parquet)."""
    path = Path(path)
    return path.parent if path.name.endswith(".parquet") else path


def ok_runs(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The successful rows of a sweep's results table, and its metadata; an error if there are none."""
    frame, meta = read_results(path)
    ok = frame[frame["status"] == "ok"].reset_index(drop=True)
    if ok.empty:
        raise UserError(f"{path}: the sweep has no successful runs yet")
    return ok, meta


def read_json(path: Path, folder: str = "run directory") -> dict[str, Any]:
    """A JSON object that a run or sweep wrote (manifest.json, an error record); a `UserError` naming the file
    when it is missing or damaged. ``folder`` says what it belongs to, for the message."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: missing; the {folder} is incomplete") from None
    except (OSError, ValueError) as exc:  # unreadable, not UTF-8, not JSON
        raise UserError(f"{path}: damaged ({exc}); the {folder} cannot be read") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: damaged (not a JSON object); the {folder} cannot be read")
    return data


def read_table(path: Path, folder: str = "run directory") -> pd.DataFrame:
    """A Parquet table that a run wrote; a `UserError` naming the file when it is missing or damaged."""
    import pyarrow as pa

    try:
        return pd.read_parquet(path)
    except FileNotFoundError:
        raise UserError(f"{path}: missing; the {folder} is incomplete") from None
    except (pa.ArrowInvalid, OSError) as exc:
        raise UserError(f"{path}: not a readable Parquet file ({exc}); the {folder} cannot be read") from None


def run_manifest(path: str | Path, row: pd.Series) -> dict[str, Any]:
    """The manifest of the run of one results row (scenario, seed, summary)."""
    return read_json(sweep_dir(path) / row["run_dir"] / "manifest.json", "sweep directory")


def agent_table(path: str | Path, row: pd.Series) -> pd.DataFrame:
    """The agents table of the run of one results row."""
    return read_table(sweep_dir(path) / row["run_dir"] / "agents.parquet", "sweep directory")


def deciders(scenario: dict[str, Any]) -> str:
    """Who decides in a run, for a table's row label: the LLM's model name, or the rule-based policies of the
    groups present from the start (a newcomer is a treatment, not the population)."""
    founders = [g["policy"] for g in scenario["population"] if g.get("join_step", 1) <= 1]
    if any(p["kind"] == "llm" or p.get("base") == "llm" for p in founders):
        return str(scenario["llm"]["model"])
    return "rules: " + "+".join(dict.fromkeys(p["kind"] for p in founders))
