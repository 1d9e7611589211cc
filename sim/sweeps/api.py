"""`sweep(...)`: run every cell of a sweep into one sweep directory and return the results table.

    <out>/sweep.json        the spec and every cell (id, parameters, replication, seed)
    <out>/runs/<cell_id>/   one run directory per finished cell (see sim.runner)
    <out>/errors/<id>.json  one record per failed cell (message and traceback)
    <out>/results.parquet   one row per run

Rerunning the same sweep into the same directory runs only the cells that have neither a run directory
nor an error record (``retry_failed`` reruns the failed ones too).
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError
from tqdm.auto import tqdm

from sim.errors import OutputError, UserError, storage_error
from sim.llm.errors import LLMUnavailable
from sim.resources import memory_problem
from sim.runner import missing_folders, remove_if_empty
from sim.scenario import Scenario
from sim.scenario_errors import format_errors
from sim.sweeps import llm
from sim.sweeps.cell import CellResult, CellTask, recorded, write_json_atomic
from sim.sweeps.executors import Executor, LocalExecutor, make_executor
from sim.sweeps.plan import Cell, Plan, build_plan
from sim.sweeps.results import RESULTS, metric_columns, results_frame, write_results
from sim.sweeps.source import ScenarioSource
from sim.sweeps.spec import SweepSpec

WRITE_EVERY_S = 5.0


def sweep(
    scenario: str | Path | Scenario | dict[str, Any],
    *,
    grid: dict[str, list[Any]] | None = None,
    sample: dict[str, Any] | None = None,
    replications: int | None = None,
    seed: int | None = None,
    overrides: Sequence[str] = (),
    workers: int | None = 1,
    executor: str = "local",
    address: str | None = None,
    server: str | None = None,
    out: str | Path | None = None,
    retry_failed: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Run a sweep and return its results table (one row per run).

    The spec is the scenario's ``sweep:`` block with ``grid`` entries added, ``sample`` merged in and
    ``replications``/``seed`` replaced. ``workers=1`` runs in this process; more start local processes
    (``executor="local"``) or Ray tasks (``executor="ray"``, on the cluster at ``address`` if given).
    ``server`` is a vLLM server URL every cell shares. The sweep directory is ``out`` or
    ``<sweep.dir>/<scenario name>``.
    """
    source = ScenarioSource.load(scenario, overrides)
    base = source.base()
    spec = merge_spec(base.sweep, grid=grid, sample=sample, replications=replications, seed=seed)
    plan = build_plan(source, spec)
    pool = make_executor(executor, workers, address)
    if pool.name != "ray":  # on a cluster, the memory of other machines counts
        at_once = pool.workers if isinstance(pool, LocalExecutor) else 1
        problem = memory_problem([plan.scenario_of(c) for c in plan.cells], at_once)
        if problem:
            raise UserError(f"{source.source}: a sweep of {len(plan.cells)} runs: {problem}")
    out_dir = Path(out) if out is not None else Path(spec.dir) / base.name
    return SweepRun(source.without_sweep(), spec, plan, out_dir, pool, server, progress).run(retry_failed)


def merge_spec(
    base: SweepSpec | None,
    grid: dict[str, list[Any]] | None = None,
    sample: dict[str, Any] | None = None,
    replications: int | None = None,
    seed: int | None = None,
) -> SweepSpec:
    """The file's sweep spec with the given parts merged in; a spec that varies nothing is an error."""
    data: dict[str, Any] = base.model_dump(mode="json", exclude_unset=True) if base else {}
    if grid:
        data["grid"] = {**data.get("grid", {}), **grid}
    if sample:
        merged = {**data.get("sample", {}), **sample}
        merged["ranges"] = {**data.get("sample", {}).get("ranges", {}), **sample.get("ranges", {})}
        data["sample"] = merged
    if replications is not None:
        data["replications"] = replications
    if seed is not None:
        data["seed"] = seed
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise UserError(format_errors(exc, SweepSpec, data, "sweep arguments", {}, {})) from None
    if not spec.cases and not spec.grid and spec.sample is None and spec.replications == 1:
        raise UserError("nothing to sweep: give a sweep: block with cases, grid, sample or replications > 1 "
                        "(or --grid PATH=V1,V2, --range PATH=LOW,HIGH with --samples N, --replications N)")
    return spec


class SweepLock:
    """An exclusive lock on a sweep directory: two sweeps writing the same cells would race."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / ".lock"
        self._file: Any = None

    def __enter__(self) -> SweepLock:
        self._file = self.path.open("w")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            raise UserError(f"another sweep is running in {self.path.parent} (it holds {self.path})") from None
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._file, fcntl.LOCK_UN)
        self._file.close()


class SweepRun:
    """Runs a plan's missing cells into one sweep directory and keeps its results table current."""

    def __init__(
        self, source: ScenarioSource, spec: SweepSpec, plan: Plan, out: Path, executor: Executor,
        server: str | None, progress: bool,
    ) -> None:
        self.source, self.spec, self.plan, self.executor = source, spec, plan, executor
        self.out = out.resolve()
        self.server = server
        self.progress = progress

    def run(self, retry_failed: bool = False) -> pd.DataFrame:
        url = model = None
        if self._todo(self._recorded(), retry_failed):  # check and connect before anything is written
            llm.check_caches(self.plan.scenarios)
            url = llm.server_url(self.plan.scenarios, self.server)
            model = llm.own_server_model(self.plan.scenarios, url)
            self.executor.start()
        created = missing_folders(self.out)
        try:
            try:
                self.out.mkdir(parents=True, exist_ok=True)
            except OSError:
                remove_if_empty(created)  # a name too long, say: no empty parents left behind
                raise
            with SweepLock(self.out):
                self._clean_partials()
                write_json_atomic(self.out / "sweep.json", self._description())
                outcomes = self._recorded()
                todo = self._todo(outcomes, retry_failed)
                if todo:
                    with self._server(url, model, todo) as shared:
                        self._execute(todo, outcomes, shared)
                return self._write(outcomes)
        except OSError as exc:
            full = storage_error(exc, f"sweep directory {self.out}")
            if full is None:
                raise
            raise full from exc
        finally:
            self.executor.close()

    def _recorded(self) -> dict[str, CellResult]:
        found = {c.cell_id: recorded(c.cell_id, self._run_dir(c), self._error_path(c)) for c in self.plan.cells}
        return {k: v for k, v in found.items() if v is not None}

    def _todo(self, outcomes: dict[str, CellResult], retry_failed: bool) -> list[Cell]:
        def done(cell: Cell) -> bool:
            outcome = outcomes.get(cell.cell_id)
            return outcome is not None and not (retry_failed and outcome.status == "error")

        return [c for c in self.plan.cells if not done(c)]

    def _run_dir(self, cell: Cell) -> Path:
        return self.out / "runs" / cell.cell_id

    def _error_path(self, cell: Cell) -> Path:
        return self.out / "errors" / f"{cell.cell_id}.json"

    def _clean_partials(self) -> None:
        """Remove what killed workers left half-written (safe: the lock says no one else writes here)."""
        for partial in (self.out / "runs").glob(".*.partial-*"):
            shutil.rmtree(partial, ignore_errors=True)
        for partial in [*self.out.glob(".*.tmp-*"), *(self.out / "errors").glob(".*.tmp-*")]:
            partial.unlink(missing_ok=True)

    def _server(
        self, url: str | None, model: str | None, todo: list[Cell]
    ) -> contextlib.AbstractContextManager[str | None]:
        if model is not None:
            decisions = sum(self.plan.scenario_of(c).llm_decisions() for c in todo)
            return llm.shared_server(self.plan.scenarios, model, self.out / "vllm-server.log", decisions)
        return contextlib.nullcontext(url)

    def _task(self, cell: Cell, url: str | None) -> CellTask:
        scenario = self.plan.scenario_of(cell)
        plumbing = [f"output.plots={'true' if self.spec.run_plots else 'false'}", *llm.cache_override(scenario)]
        return CellTask(cell.cell_id, self.source, (*cell.overrides(), *plumbing), cell.seed,
                        str(self._run_dir(cell)), str(self._error_path(cell)), url)

    def _execute(self, todo: list[Cell], outcomes: dict[str, CellResult], url: str | None) -> None:
        tasks = [self._task(c, url) for c in todo]
        failed = sum(o.status == "error" for o in outcomes.values())
        bar = tqdm(total=len(self.plan.cells), initial=len(self.plan.cells) - len(todo), unit="cell",
                   desc=f"sweep {self.out.name}", disable=not self.progress)
        written = time.monotonic()
        try:
            for outcome in self.executor.run(tasks):
                if outcome.status == "stopped":
                    raise self._stopped(outcome)
                outcomes[outcome.cell_id] = outcome
                failed += outcome.status == "error"
                bar.update(1)
                bar.set_postfix(failed=failed, refresh=False)
                if time.monotonic() - written > WRITE_EVERY_S:
                    self._write(outcomes)
                    written = time.monotonic()
        finally:
            bar.close()
            self._write(outcomes)

    def _stopped(self, outcome: CellResult) -> LLMUnavailable | OutputError:
        """The whole sweep stops when the LLM is gone or the disk full: every later cell would fail the same way."""
        message = f"sweep stopped by cell {outcome.cell_id}: {outcome.error}"
        if outcome.fault == "output":
            return OutputError(message)
        err = LLMUnavailable(message)
        scenario = self.plan.scenario_of(next(c for c in self.plan.cells if c.cell_id == outcome.cell_id))
        err.cache = str(Path(scenario.llm.cache).resolve()) if scenario.llm.cache else None
        return err

    def _write(self, outcomes: dict[str, CellResult]) -> pd.DataFrame:
        frame = results_frame(self.plan.parameters, self.plan.cells, outcomes)
        write_results(frame, self.out / RESULTS, self._meta(frame))
        frame.attrs["sweep_dir"] = str(self.out)
        return frame

    def _meta(self, frame: pd.DataFrame) -> dict[str, Any]:
        return {
            "name": self.source.data.get("name", self.out.name),
            "scenario": self.source.source,
            "parameters": self.plan.parameters,
            "cases": list(self.spec.cases),
            "grid": list(self.spec.grid),
            "sampled": list(self.spec.sample.ranges) if self.spec.sample else [],
            "replications": self.spec.replications,
            "metrics": metric_columns(frame, self.plan.parameters),
        }

    def _description(self) -> dict[str, Any]:
        return {
            "scenario": self.source.source,
            "spec": self.spec.model_dump(mode="json"),
            "parameters": self.plan.parameters,
            "cells": [{"cell_id": c.cell_id, **({"case": c.case} if c.case is not None else {}), "params": c.params,
                       "replication": c.replication, "seed": c.seed} for c in self.plan.cells],
        }
