"""Reading a sweep's runs back: its results table, each run's scenario, and each run's agent table."""

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


def run_manifest(path: str | Path, row: pd.Series) -> dict[str, Any]:
    """The manifest of the run of one results row (scenario, seed, summary)."""
    manifest = sweep_dir(path) / row["run_dir"] / "manifest.json"
    if not manifest.is_file():
        raise UserError(f"{manifest}: missing; the sweep directory is incomplete")
    return json.loads(manifest.read_text(encoding="utf-8"))


def agent_table(path: str | Path, row: pd.Series) -> pd.DataFrame:
    """The agents table of the run of one results row."""
    table = sweep_dir(path) / row["run_dir"] / "agents.parquet"
    if not table.is_file():
        raise UserError(f"{table}: missing; the sweep directory is incomplete")
    return pd.read_parquet(table)


def deciders(scenario: dict[str, Any]) -> str:
    """Who decides in a run, for a table's row label: the LLM's model name, or the rule-based policies of the
    groups present from the start (a newcomer is a treatment, not the population)."""
    founders = [g["policy"] for g in scenario["population"] if g.get("join_step", 1) <= 1]
    if any(p["kind"] == "llm" or p.get("base") == "llm" for p in founders):
        return str(scenario["llm"]["model"])
    return "rules: " + "+".join(dict.fromkeys(p["kind"] for p in founders))
