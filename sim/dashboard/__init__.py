"""`alignsim dashboard`: a live run in the browser, amended mid-run, or a finished run directory read-only."""

from __future__ import annotations

import argparse
from pathlib import Path

from sim.cli import port_argument, seed_argument


def add_dashboard_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "dashboard", help="watch and amend a scenario in the browser, or step through a run directory")
    parser.add_argument("target", help="a scenario YAML file, or a run directory (runs/<name>/<run>) to browse")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                        help="override a scenario field, e.g. --set environment.regrowth=1.5 (repeatable)")
    parser.add_argument("--seed", type=seed_argument,
                        help="run seed (default: the scenario's); the page can reset with another")
    parser.add_argument("--port", type=port_argument, default=8765, help="port to serve on (default 8765)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to serve on (default 127.0.0.1: this machine only); anyone who reaches it "
                             "controls the run")
    parser.add_argument("--server", metavar="URL", help="use this OpenAI-compatible vLLM server for LLM agents")
    parser.add_argument("--out", help="run directory the page saves to (default: a new one under output.dir)")
    parser.set_defaults(func=cmd_dashboard)


def cmd_dashboard(args: argparse.Namespace) -> int:
    from sim.dashboard.server import serve
    from sim.dashboard.session import LiveSession, RunSession, Session

    target = Path(args.target)
    llm = None
    session: Session
    if target.is_dir():
        session = RunSession(target)
    else:
        from sim.scenario import load_scenario

        scenario = load_scenario(target, args.overrides)
        if scenario.uses_llm():
            from sim.llm.client import make_client
            from sim.training.adapters import scenario_adapters

            llm = make_client(scenario.llm, server_url=args.server, adapters=scenario_adapters(scenario))
        session = LiveSession(scenario, seed=args.seed, llm=llm, out=args.out)
    try:
        serve(session, args.host, args.port)
    finally:
        session.close()
        if llm is not None:
            llm.close()
    return 0
