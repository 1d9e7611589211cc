"""Running one cell, in whatever process an executor chose, and finding what an earlier sweep recorded.

A finished cell is its run directory (complete or absent, see `sim.runner`); a failed cell is a small JSON
record beside the run directories. Both live on disk, so a killed sweep loses only the cells in flight.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sim.errors import OutputError
from sim.sweeps.source import ScenarioSource


@dataclass(frozen=True)
class CellTask:
    """What a worker needs to run one cell; plain data, so it pickles for process pools and Ray."""

    cell_id: str
    source: ScenarioSource
    overrides: tuple[str, ...]
    seed: int
    run_dir: str
    error_path: str
    server_url: str | None = None


@dataclass
class CellResult:
    """How a cell ended: ``ok`` with its summary metrics, ``error`` with the exception's message, or ``stopped``
    by a fault outside the cell, an LLM that went away (`LLMUnavailable`, ``fault="llm"``) or an output that
    could not be written (`OutputError`, ``fault="output"``): not recorded, so the next sweep runs it again."""

    cell_id: str
    status: str
    summary: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    elapsed_s: float = 0.0
    fault: str = ""


def run_cell(task: CellTask) -> CellResult:
    """Run one cell into its run directory; any exception becomes an ``error`` outcome, recorded on disk."""
    from sim.runner import run

    started = time.perf_counter()
    try:
        scenario = task.source.resolve(task.overrides)
        result = run(scenario, seed=task.seed, out=task.run_dir, server_url=task.server_url, progress=False,
                     overwrite=True)
    except Exception as exc:
        elapsed = time.perf_counter() - started
        if getattr(exc, "resumable", False):  # the LLM or the disk failed, not the cell: no record
            fault = "output" if isinstance(exc, OutputError) else "llm"
            return CellResult(task.cell_id, "stopped", error=str(exc), elapsed_s=elapsed, fault=fault)
        outcome = CellResult(task.cell_id, "error", error=f"{type(exc).__name__}: {exc}", elapsed_s=elapsed)
        write_json_atomic(Path(task.error_path), {**asdict(outcome), "traceback": traceback.format_exc()})
        return outcome
    Path(task.error_path).unlink(missing_ok=True)
    return CellResult(task.cell_id, "ok", dict(result.summary), elapsed_s=result.manifest["timings"]["total_s"])


def recorded(cell_id: str, run_dir: Path, error_path: Path) -> CellResult | None:
    """The outcome an earlier sweep left on disk for this cell, or None if it never finished."""
    from sim.analysis.runs import read_json

    manifest = run_dir / "manifest.json"
    if manifest.is_file():
        data = read_json(manifest, "sweep directory")
        if data.get("complete"):
            return CellResult(cell_id, "ok", data["summary"], elapsed_s=data["timings"]["total_s"])
    if error_path.is_file():
        data = read_json(error_path, "sweep directory")
        return CellResult(cell_id, "error", error=data["error"], elapsed_s=data["elapsed_s"])
    return None


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON beside its final name, then rename: readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    partial.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    os.replace(partial, path)
