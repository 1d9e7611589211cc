"""The dashboard's sessions: a live run stepped by a worker thread, or a finished run directory, read-only.

The page never touches a model. It sends commands (play, pause, step, reset, amend, save) and reads the latest
`View`, which the session publishes after every change; `wait` blocks until there is a newer one. A live
session's worker runs one command or one step at a time, so a slow LLM step never blocks the page, an
amendment sent during a step is applied when the step ends (in force from the next one), and nothing reads the
model while it changes.
"""

from __future__ import annotations

import json
import logging
import queue
import tempfile
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from sim.amendments import AMENDMENTS_FILE, Amendment, load_amendments
from sim.dashboard.views import (
    HEADLINE_MAX_ROWS,
    Message,
    NetworkView,
    Progress,
    View,
    agent_rows,
    components_of,
    headline_png,
    latest_events,
    sample_network,
)
from sim.errors import UserError
from sim.model import SocietyModel
from sim.runner import tables

if TYPE_CHECKING:
    from sim.environments.base import Environment
    from sim.llm.client import LLMClient
    from sim.scenario import Scenario

log = logging.getLogger(__name__)
TRANSCRIPT_PER_AGENT = 50  # exchanges of each agent kept for the transcript panel


class Session:
    """What the page talks to: the latest `View`, change notification, and the transcript of an agent."""

    read_only = False

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.version = 0
        self._view: View | None = None

    @property
    def view(self) -> View:
        assert self._view is not None
        return self._view

    def _publish(self, view: View) -> None:
        with self._changed:
            self._view = view
            self.version += 1
            self._changed.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        """Block until a view newer than version ``seen`` is published (or ``timeout`` seconds pass)."""
        with self._changed:
            self._changed.wait_for(lambda: self.version != seen, timeout)
            return self.version

    def transcript(self, agent_id: int) -> list[dict[str, Any]]:
        return []

    def close(self) -> None:
        """Stop what the session runs (nothing, here)."""


class LiveSession(Session):
    """A scenario run by a worker thread, amended from the page, saved as a run directory."""

    def __init__(
        self, scenario: Scenario, seed: int | None = None, llm: LLMClient | None = None,
        out: str | Path | None = None, play_delay: float = 0.25,
    ) -> None:
        super().__init__()
        self.scenario = scenario
        self.llm = llm
        self.out = out
        self.play_delay = play_delay
        self._commands: queue.Queue[tuple[Callable[..., None], tuple[Any, ...]]] = queue.Queue()
        self._playing = False
        self._closed = False
        self._folder = tempfile.TemporaryDirectory(prefix="alignsim-dashboard-")
        if llm is not None:
            llm.transcript = self._record
            llm.on_progress = self._on_progress
        self._new_model(scenario.seed if seed is None else seed)
        self._worker = threading.Thread(target=self._work, name="alignsim-dashboard-worker", daemon=True)
        self._worker.start()

    # -- commands from the page (any thread) -------------------------------------------------------
    def play(self) -> None:
        self._send(self._set_playing, True)

    def pause(self) -> None:
        self._send(self._set_playing, False)

    def step(self) -> None:
        self._send(self._step)

    def reset(self, seed: int | None = None) -> None:
        self._send(self._reset, self.seed if seed is None else seed)

    def amend(self, target: str, set: dict[str, str] | None = None, add: str | None = None,
              remove: bool = False) -> None:
        """Amend from the page. Values are text, read as YAML (never evaluated as code); only changed ones count."""
        self._send(self._amend, target, set, add, remove)

    def save(self) -> None:
        self._send(self._save)

    def close(self) -> None:
        self._closed = True
        self._send(lambda: None)
        self._worker.join(timeout=60)
        if self.llm is not None:
            self.llm.transcript = None
            self.llm.on_progress = None
        self._folder.cleanup()

    def _send(self, command: Callable[..., None], *args: Any) -> None:
        self._commands.put((command, args))

    def transcript(self, agent_id: int) -> list[dict[str, Any]]:
        return list(self._exchanges.get(agent_id, ()))

    # -- the worker ----------------------------------------------------------------------------------
    def _work(self) -> None:
        while not self._closed:
            try:
                command, args = self._commands.get(block=not self._playing, timeout=None)
            except queue.Empty:
                self._step()
                time.sleep(self.play_delay)
                continue
            try:
                command(*args)
            except UserError as exc:
                self._show(Message("error", str(exc)))
            except Exception as exc:  # a failed step must not kill the worker: the page says what happened
                log.exception("dashboard command failed")
                self._playing = False
                self._show(Message("error", f"{type(exc).__name__}: {exc}"))

    def _set_playing(self, playing: bool) -> None:
        self._playing = playing and self.model.running
        self._show(None)

    def _step(self) -> None:
        if not self.model.running:
            self._playing = False
            self._show(Message("info", "the run has ended: reset to run again"))
            return
        self._show(None, busy=True)
        started = time.perf_counter()
        try:
            self.model.step()
        except Exception:
            self._playing = False
            raise
        finally:
            self.elapsed += time.perf_counter() - started
        self._refresh()
        if not self.model.running and self._autosaved is None:
            self._save()
            self._autosaved = self._last_saved

    def _reset(self, seed: int) -> None:
        self._playing = False
        self._new_model(seed)

    def _amend(self, target: str, changes: dict[str, str] | None, add: str | None, remove: bool) -> None:
        if not self.model.running:
            raise UserError("the run has ended: reset to amend it")
        fields: dict[str, Any] = {"step": self.model.steps + 1, "who": "user", "target": target}
        if changes is not None:
            current = next((c.params for c in self._view.components if c.target == target), {})
            parsed = {key: text if isinstance(current.get(key), str) else _read_value(key, text)
                      for key, text in changes.items()}
            fields["set"] = {k: v for k, v in parsed.items() if k not in current or current[k] != v}
            if not fields["set"]:
                raise UserError(f"amendment: no parameter of {target} changed")
        elif add is not None:
            params = _read_value(target, add) if add.strip() else {}
            if not isinstance(params, dict):
                raise UserError(f"amendment: the parameters of a new '{target}' must be a mapping, e.g. {{rate: 1}}")
            fields["add"] = params
        else:
            fields["remove"] = remove
        try:
            amendment = Amendment(**fields)
        except ValidationError as exc:
            raise UserError(f"amendment: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None
        applied = self.model.amendments.apply(amendment)
        self._refresh(Message("success", f"amended from step {applied.step}: {applied.describe()}"))

    def _save(self) -> None:
        from sim.runner import result_of, save

        llm_seconds = self.llm.llm_seconds - self._llm_before if self.llm is not None else 0.0
        result = result_of(self.model, self.scenario, self.llm, self.elapsed, llm_seconds)
        transcript = Path(self._folder.name) / "transcript.jsonl"
        self._last_saved = str(save(result, self.out, transcript if transcript.exists() else None,
                                    overwrite=self.out is not None))
        self._show(Message("success", f"saved the run directory {self._last_saved}"))

    # -- state ----------------------------------------------------------------------------------------
    def _new_model(self, seed: int) -> None:
        self.seed = seed
        self.model = SocietyModel(self.scenario, seed=seed, llm=self.llm)
        self.elapsed = 0.0
        self._llm_before = self.llm.llm_seconds if self.llm is not None else 0.0
        self._autosaved: str | None = None
        self._last_saved: str | None = None
        self._exchanges: dict[int, deque[dict[str, Any]]] = defaultdict(lambda: deque(maxlen=TRANSCRIPT_PER_AGENT))
        (Path(self._folder.name) / "transcript.jsonl").unlink(missing_ok=True)
        self._progress = Progress()
        self._counted = 0
        self._counts: Counter[str] = Counter()
        self._network: NetworkView | None = sample_network(self.model.network)
        self._refresh(Message("info", f"new run of '{self.scenario.name}' with seed {seed}"))

    def _refresh(self, message: Message | None = None) -> None:
        """Publish a view of the model as it stands (called by the worker only)."""
        model = self.model
        events = model.events
        self._counts.update(e.kind for e in events[self._counted:])
        self._counted = len(events)
        table = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
        headline = None
        if 0 < model.steps * len(model.agents) <= HEADLINE_MAX_ROWS:
            table, agent_table, event_table = tables(model)
            headline = headline_png(model.environment, table, agent_table, event_table)
        self._publish(View(
            name=self.scenario.name, seed=self.seed, step=model.steps, steps=self.scenario.steps,
            running=model.running, read_only=False, model_table=table, agents=agent_rows(model),
            events=latest_events(events), event_counts=dict(self._counts),
            amendments=list(model.amendments.applied), components=components_of(model), network=self._network,
            headline=headline, playing=self._playing, message=message, saved=self._last_saved,
        ))

    def _show(self, message: Message | None, busy: bool = False) -> None:
        """Publish the current view with a new message and flags (cheap: no tables rebuilt)."""
        self._publish(replace(self.view, playing=self._playing, busy=busy, message=message,
                              progress=self._progress, saved=self._last_saved))

    def _on_progress(self, done: int, total: int, what: str) -> None:
        self._progress = Progress(done, total, what)
        self._show(self.view.message, busy=True)

    def _record(self, record: dict[str, Any]) -> None:
        with (Path(self._folder.name) / "transcript.jsonl").open("a", encoding="utf-8") as sink:
            sink.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        if record.get("agent") is not None:
            self._exchanges[int(record["agent"])].append(record)


def _read_value(name: str, text: str) -> Any:
    """A value typed in the page, read as YAML like ``--set``: '0.5' is a number, 'true' a boolean."""
    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError as exc:
        raise UserError(f"amendment: {name}: '{text}' is not a valid value ({exc.problem})") from None


class RunSession(Session):
    """A finished run directory, stepped through read-only: the page shows the run as it stood at a step."""

    read_only = True

    def __init__(self, folder: str | Path) -> None:
        super().__init__()
        folder = Path(folder)
        manifest_path = folder / "manifest.json"
        if not manifest_path.is_file():
            raise UserError(f"{folder}: not a run directory (no manifest.json); open a scenario file or "
                            "runs/<name>/<run>")
        from sim.analysis.runs import read_json, read_table

        self.folder = folder
        self.manifest = read_json(manifest_path)
        self.model_table = read_table(folder / "model.parquet")
        self.agents = read_table(folder / "agents.parquet")
        self.events = read_table(folder / "events.parquet")
        path = folder / AMENDMENTS_FILE
        self.amendments = load_amendments(path) if path.is_file() else []
        self.records = _read_records(folder)
        self.environment = self._rebuild()
        self.network = sample_network(self.environment.model.network) if self.environment is not None else None
        self.last = int(self.model_table["step"].max()) if len(self.model_table) else 0
        self.goto(self.last)

    def _rebuild(self) -> Environment | None:
        """The run's society built again (same scenario and seed) without stepping: for its network, which is not
        stored, and its environment's headline figure."""
        from sim.scenario import validate_scenario

        try:
            scenario = validate_scenario(self.manifest["scenario"], f"{self.folder}/manifest.json")
            return SocietyModel(scenario, seed=self.manifest["seed"]).environment
        except UserError as exc:
            log.warning("no network panel nor headline figure for %s: %s", self.folder, exc)
            return None

    def goto(self, step: int) -> None:
        step = max(0, min(step, self.last))
        events = self.events[self.events["step"] <= step]
        scenario = self.manifest["scenario"]
        model_table = self.model_table[self.model_table["step"] <= step].reset_index(drop=True)
        agents = self.agents[self.agents["step"] <= step]
        headline = None
        if self.environment is not None:
            headline = headline_png(self.environment, model_table, agents, events.reset_index(drop=True))
        self._publish(View(
            name=scenario["name"], seed=self.manifest["seed"], step=step, steps=int(scenario["steps"]),
            running=step < self.last, read_only=True, model_table=model_table, headline=headline,
            agents=agents[agents["step"] == step].reset_index(drop=True),
            events=events.tail(500).reset_index(drop=True), event_counts=events["kind"].value_counts().to_dict(),
            amendments=[a for a in self.amendments if a.step <= step], network=self.network,
            message=Message("info", f"read-only: {self.folder}"),
        ))

    def step(self) -> None:
        self.goto(self.view.step + 1)

    def back(self) -> None:
        self.goto(self.view.step - 1)

    def reset(self, seed: int | None = None) -> None:
        self.goto(0)

    def transcript(self, agent_id: int) -> list[dict[str, Any]]:
        step = self.view.step
        return [r for r in self.records.get(agent_id, []) if (r.get("step") or 0) <= step][-TRANSCRIPT_PER_AGENT:]


def _read_records(folder: Path) -> dict[int, list[dict[str, Any]]]:
    from sim.transcript import TRANSCRIPT, read_transcript

    if not (folder / TRANSCRIPT).is_file():
        return {}
    by_agent: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for record in read_transcript(folder):
        if record.get("agent") is not None:
            by_agent[int(record["agent"])].append(record)
    return by_agent
