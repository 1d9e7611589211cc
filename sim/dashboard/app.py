"""The dashboard page (Solara, the stack of Mesa's SolaraViz): controls, metrics, network, agents, events,
transcript and amendments, all drawn from the session's latest `View`.

Mesa's SolaraViz steps the model inside the page's own task and applies parameters only on reset by calling the
model class again; here a worker thread owns the model (`sim.dashboard.session`), the page sends it commands and
re-renders when it publishes a view, and parameters change mid-run as amendments. The page evaluates nothing:
typed values are read as YAML data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import solara

from sim.dashboard.figures import metrics_figure, network_figure, numeric_columns
from sim.dashboard.views import View, status
from sim.transcript import format_record

if TYPE_CHECKING:
    from sim.dashboard.session import Session

SESSION: Session | None = None  # set by `sim.dashboard.server.serve` before the server starts


def session() -> Session:
    assert SESSION is not None, "the dashboard page needs a session (run `alignsim dashboard`)"
    return SESSION


@solara.component
def Page() -> None:
    current = session()
    version, set_version = solara.use_state(current.version)

    def follow(cancel: Any) -> None:  # re-render whenever the session publishes a newer view
        seen = version
        while not cancel.is_set():
            newer = current.wait(seen, timeout=0.5)
            if newer != seen:
                seen = newer
                set_version(newer)

    solara.use_thread(follow, dependencies=[])
    view = current.view
    solara.Title(f"alignsim · {view.name}")
    with solara.Column(style={"padding": "12px"}):
        Controls(current, view)
        with solara.Columns([3, 2]):
            with solara.Column():
                Metrics(view)
                Events(view)
            with solara.Column():
                Network(view)
                if not view.read_only:
                    Amendments(current, view)
        with solara.Columns([3, 2]):
            Agents(view)
            Transcript(current, view)


@solara.component
def Controls(current: Session, view: View) -> None:
    seed, set_seed = solara.use_state(view.seed)
    with solara.Card(f"{view.name}" + (" (read-only run directory)" if view.read_only else "")):
        with solara.Row(style={"align-items": "center"}):
            if view.read_only:
                solara.Button("◀ back", on_click=current.back, disabled=view.step <= 0, classes=["alignsim-back"])
                solara.Button("step ▶", on_click=current.step, disabled=not view.running, classes=["alignsim-step"])
                solara.SliderInt("step", value=view.step, min=0, max=view.steps, on_value=current.goto)
            else:
                solara.Button("pause" if view.playing else "play", classes=["alignsim-play"],
                              on_click=current.pause if view.playing else current.play,
                              disabled=not view.running and not view.playing)
                solara.Button("step", on_click=current.step, disabled=view.playing or not view.running,
                              classes=["alignsim-step"])
                solara.InputInt("seed", value=seed, on_value=set_seed, classes=["alignsim-seed"])
                solara.Button("reset", on_click=lambda: current.reset(seed), classes=["alignsim-reset"])
                solara.Button("save run", on_click=current.save, classes=["alignsim-save"])
        solara.Text(status(view), classes=["alignsim-status"])
        if view.busy and view.progress.total:
            solara.ProgressLinear(100 * view.progress.done / view.progress.total)
        if view.message is not None:
            show = {"error": solara.Error, "success": solara.Success}.get(view.message.level, solara.Info)
            show(view.message.text, classes=[f"alignsim-message-{view.message.level}"])
        if view.saved:
            solara.Text(f"run directory: {view.saved}", classes=["alignsim-saved"])


@solara.component
def Metrics(view: View) -> None:
    columns = numeric_columns(view.model_table, exclude={"step"})
    chosen, set_chosen = solara.use_state("")
    own = [c for c in columns if c not in {*_HEADLINE, "active_agents"}]
    chosen = chosen if chosen in columns else (own or columns or [""])[0]
    with solara.Card("Metrics over time"):
        if view.headline is not None:
            solara.Image(view.headline, classes=["alignsim-headline"])
        solara.FigureMatplotlib(metrics_figure(view, _HEADLINE), format="png")
        if columns:
            solara.Select("the environment's and institutions' metric", values=columns, value=chosen,
                          on_value=set_chosen)
            solara.FigureMatplotlib(metrics_figure(view, [chosen]), format="png")


_HEADLINE = ["specified_reward", "true_utility", "alignment_gap"]


@solara.component
def Network(view: View) -> None:
    columns = numeric_columns(view.agents, exclude={"step", "agent_id"})
    chosen, set_metric = solara.use_state("true_utility")
    metric = chosen if chosen in columns else (columns[0] if columns else "")
    with solara.Card("Network"):
        if view.network is None:
            solara.Text("the network could not be rebuilt for this run")
            return
        if columns:
            solara.Select("colour by", values=columns, value=metric, on_value=set_metric)
        solara.FigureMatplotlib(network_figure(view, metric), format="png")


@solara.component
def Agents(view: View) -> None:
    with solara.Card(f"Agents at step {view.step}"):
        solara.DataFrame(view.agents, items_per_page=10)


@solara.component
def Events(view: View) -> None:
    kinds = sorted(view.event_counts)
    kind, set_kind = solara.use_state("all")
    with solara.Card("Events"):
        counts = ", ".join(f"{k}: {n}" for k, n in sorted(view.event_counts.items())) or "none yet"
        solara.Text(counts, classes=["alignsim-event-counts"])
        solara.Select("kind", values=["all", *kinds], value=kind, on_value=set_kind)
        events = view.events if kind == "all" else view.events[view.events["kind"] == kind]
        solara.DataFrame(events.iloc[::-1].reset_index(drop=True), items_per_page=8)


@solara.component
def Transcript(current: Session, view: View) -> None:
    ids = [int(i) for i in view.agents["agent_id"]] if "agent_id" in view.agents else []
    agent, set_agent = solara.use_state(ids[0] if ids else None)
    with solara.Card("Transcript"):
        if not ids:
            solara.Text("no agents yet")
            return
        solara.Select("agent", values=ids, value=agent if agent in ids else ids[0], on_value=set_agent)
        records = current.transcript(agent if agent in ids else ids[0])
        if not records:
            solara.Text("no LLM exchanges of this agent (rule-based, or none yet)")
        for record in records[-5:][::-1]:
            with solara.Div(classes=["alignsim-transcript"]):
                solara.Preformatted(format_record(record))


@solara.component
def Amendments(current: Any, view: View) -> None:
    targets = [c.target for c in view.components]
    target, set_target = solara.use_state(targets[1] if len(targets) > 1 else targets[0])
    target = target if target in targets else targets[0]
    component = next(c for c in view.components if c.target == target)
    edits = solara.use_reactive({})  # reactive, so a click reads what was typed even before a re-render
    new_kind = solara.use_reactive("")
    new_params = solara.use_reactive("")

    def edited(name: str) -> Any:
        return lambda text: edits.set({**edits.value, (target, name): text})

    def amend() -> None:
        changes = {name: text for (t, name), text in edits.value.items() if t == target}
        current.amend(target, set=changes)
        edits.set({})

    with solara.Card("Amend the rules (in force from the next step)"):
        solara.Select("component", values=targets, value=target, on_value=set_target)
        solara.Text(f"kind: {component.kind}")
        for name, value in component.params.items():
            text = edits.value.get((target, name), _as_text(value))
            field = solara.InputTextArea if isinstance(value, str) and len(value) > 40 else solara.InputText
            with solara.Div(classes=[f"alignsim-param-{name.replace('.', '-')}"]):
                field(name, value=text, on_value=edited(name), continuous_update=True,
                      message=component.descriptions.get(name, ""))
        with solara.Row():
            solara.Button("amend", on_click=amend, color="primary", classes=["alignsim-amend"],
                          disabled=not view.running)
            if target != "environment":
                solara.Button(f"remove {target}", on_click=lambda: current.amend(target, remove=True),
                              classes=["alignsim-remove"], disabled=not view.running)
        solara.InputText("add an institution: kind", value=new_kind, continuous_update=True,
                         classes=["alignsim-add-kind"])
        solara.InputText("its parameters, e.g. {probability: 0.5}", value=new_params, continuous_update=True,
                         classes=["alignsim-add-params"])
        solara.Button("add", on_click=lambda: current.amend(new_kind.value.strip(), add=new_params.value),
                      disabled=not new_kind.value.strip() or not view.running, classes=["alignsim-add"])
        if view.amendments:
            with solara.Column():
                solara.Text("amendments so far:")
                for amendment in view.amendments:
                    solara.Text(f"step {amendment.step} · {amendment.who}: {amendment.describe()}",
                                classes=["alignsim-amendment"])


def _as_text(value: Any) -> str:
    """A parameter as the form shows it: YAML text that reads back to the same value."""
    import yaml

    if isinstance(value, str):
        return value
    return yaml.safe_dump(value, default_flow_style=True).removesuffix("\n...\n").strip()

