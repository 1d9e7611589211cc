"""What the page shows: immutable pictures of a run (`View`), built from a live model or a run directory's tables.

The page only ever reads `View`s, so it never reads a model while the worker thread changes it.
"""

from __future__ import annotations

import logging
from dataclasses import astuple, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.amendments import Amendment
from sim.network import CompleteNetwork, Network

if TYPE_CHECKING:
    from sim.environments.base import Environment
    from sim.model import SocietyModel

log = logging.getLogger(__name__)

MAX_NODES = 200  # the network panel draws at most this many agents (a sample of larger populations)
MAX_EVENTS = 500  # the events feed keeps the latest this many
HEADLINE_MAX_ROWS = 200_000  # the headline figure reads the whole agent table: drawn up to this many rows
EVENT_COLUMNS = ["step", "kind", "agent_id", "target_id", "value", "detail"]


@dataclass(frozen=True)
class Progress:
    """The LLM batch in flight: requests answered (from the cache, then by the backend), requests in it, and
    what it is (its phase, e.g. ``act``, or its purpose, e.g. ``summary``)."""

    done: int = 0
    total: int = 0
    what: str = ""


@dataclass(frozen=True)
class Message:
    level: str  # "success", "error" or "info"
    text: str


@dataclass(frozen=True)
class ComponentView:
    """One amendable component: its target name (``environment``, ``tax``, ``institutions.2``) and parameters."""

    target: str
    kind: str
    params: dict[str, Any]  # flattened: 'rules.0.text' -> value
    descriptions: dict[str, str]


@dataclass(frozen=True)
class NetworkView:
    """A drawable part of the social network: at most `MAX_NODES` agents, their links among them, positions."""

    nodes: list[int]
    edges: list[tuple[int, int]]
    positions: dict[int, tuple[float, float]]
    total: int
    complete: bool


@dataclass(frozen=True)
class View:
    """The run as the page shows it at one moment."""

    name: str
    seed: int
    step: int
    steps: int
    running: bool  # more steps can run
    read_only: bool
    model_table: pd.DataFrame
    agents: pd.DataFrame  # one row per agent, at `step`
    events: pd.DataFrame  # the latest `MAX_EVENTS` up to `step`, oldest first
    event_counts: dict[str, int]
    amendments: list[Amendment] = field(default_factory=list)
    components: list[ComponentView] = field(default_factory=list)
    network: NetworkView | None = None
    headline: bytes | None = None  # the environment's headline figure (PNG), shared with the run's plots/
    playing: bool = False
    busy: bool = False  # a step is being computed
    progress: Progress = Progress()
    message: Message | None = None
    saved: str | None = None  # the run directory last written


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested parameters as dotted leaves: {'rules': [{'text': 'x'}]} -> {'rules.0.text': 'x'}."""
    if isinstance(value, dict) and value:
        items = value.items()
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, child in items:
        out.update(flatten(child, f"{prefix}.{key}" if prefix else str(key)))
    return out


def components_of(model: SocietyModel) -> list[ComponentView]:
    """Each component in force with its current parameters, named as an amendment's ``target``."""
    kinds = [i.kind for i in model.institutions]
    out = [_component_view("environment", model.environment)]
    for index, institution in enumerate(model.institutions):
        target = institution.kind if kinds.count(institution.kind) == 1 else f"institutions.{index}"
        out.append(_component_view(target, institution))
    return out


def _component_view(target: str, component: Any) -> ComponentView:
    params = component.params.model_dump(mode="json")
    params.pop("kind", None)
    described = {name: f.description or "" for name, f in type(component.params).model_fields.items()}
    return ComponentView(target, component.kind, flatten(params), described)


def sample_network(network: Network) -> NetworkView:
    """At most `MAX_NODES` agents, evenly spread over the ids, with their links among them and a fixed layout.

    Only the sampled agents' neighbour lists are read, so a network of 100,000 agents costs what 200 do."""
    import networkx as nx

    ids = sorted(network.nodes)
    nodes = ids if len(ids) <= MAX_NODES else [ids[i] for i in np.linspace(0, len(ids) - 1, MAX_NODES).astype(int)]
    complete = isinstance(network, CompleteNetwork)
    graph = nx.Graph()
    graph.add_nodes_from(nodes)
    if not complete:
        chosen = set(nodes)
        graph.add_edges_from((a, b) for a in nodes for b in network.neighbors(a) if b in chosen and a < b)
    positions = nx.circular_layout(nodes) if complete else nx.spring_layout(graph, seed=0, iterations=50)
    return NetworkView(nodes, list(graph.edges), {n: (float(x), float(y)) for n, (x, y) in positions.items()},
                       len(ids), complete)


def agent_rows(model: SocietyModel) -> pd.DataFrame:
    """The agent table's rows of the latest recorded step (its tail, not the whole history: `ColumnarCollector`
    appends one value per agent and reporter at every step)."""
    collector = model.datacollector
    columns = collector.agent_columns
    recorded = bool(columns["Step"]) and columns["Step"][-1] == model.steps
    n = len(model.agents) if recorded else 0
    names = ["Step", "AgentID", *collector.agent_reporters]
    table = pd.DataFrame({name: columns.get(name, [])[len(columns["Step"]) - n:] for name in names}, columns=names)
    return table.rename(columns={"Step": "step", "AgentID": "agent_id"})


def latest_events(events: list[Any]) -> pd.DataFrame:
    """The feed: the latest `MAX_EVENTS` events, oldest first."""
    return pd.DataFrame([astuple(e) for e in events[-MAX_EVENTS:]], columns=EVENT_COLUMNS)


def headline_png(environment: Environment, model_table: pd.DataFrame, agent_table: pd.DataFrame,
                 events: pd.DataFrame) -> bytes | None:
    """The environment's headline figure (the one its run directory's plots/ hold), as PNG bytes; None before the
    first step, past `HEADLINE_MAX_ROWS` agent rows, or if the figure cannot be drawn (logged)."""
    import io

    import matplotlib.pyplot as plt

    if not len(model_table) or len(agent_table) > HEADLINE_MAX_ROWS:
        return None
    try:
        figure = environment.headline_figure(model_table, agent_table, events)
    except Exception:
        log.exception("the headline figure of %s could not be drawn", environment.kind)
        return None
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()


def status(view: View) -> str:
    """The status line: step, seed, state and, during an LLM batch, what it is and how far it got."""
    state = "playing" if view.playing else ("running a step" if view.busy else "paused")
    if not view.running:
        state = "at the last recorded step" if view.read_only else "finished"
    text = f"step {view.step} of {view.steps} · seed {view.seed} · {state}"
    if view.busy and view.progress.total:
        batch = f"LLM batch ({view.progress.what})" if view.progress.what else "LLM batch"
        text += f" · {batch}: {view.progress.done}/{view.progress.total} requests answered"
    return text
