"""Reading a run's LLM transcript: what one agent saw and said, step by step.

``transcript.jsonl`` holds one record per LLM request (see `sim.llm.client.transcript_record`), tagged by the asker
in one schema (`sim.llm.asker.TAG_FIELDS`): ``agent`` (who asked; null for an institution such as a court or a
planner), ``about`` (the agents a question concerns, e.g. the parties of a dispute), ``group``, ``step``, ``phase``,
``round``, ``attempt``, ``sample`` and ``purpose`` (decision, summary, verdict, plan, ...).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sim.errors import UserError

TRANSCRIPT = "transcript.jsonl"


def read_transcript(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every record of a run directory's transcript, in the order the requests were made."""
    path = Path(run_dir) / TRANSCRIPT
    if not path.is_file():
        raise UserError(
            f"no {TRANSCRIPT} in {run_dir}: not a run directory, or a run without LLM agents or with "
            "output.transcript off"
        )
    records = []
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except ValueError as exc:
                    raise UserError(f"{path}, line {number}: damaged, not a JSON record ({exc})") from None
    return records


def select(
    records: list[dict[str, Any]], agent: int | None = None, step: int | None = None, phase: str | None = None
) -> list[dict[str, Any]]:
    """The records matching every given filter. An agent's records are the questions it asked, those about it
    (a verdict on its dispute) and those an institution asked about no one in particular (a planner's plan)."""
    wanted = {"step": step, "phase": phase}
    return [
        r for r in records
        if all(v is None or r.get(k) == v for k, v in wanted.items()) and (agent is None or concerns(r, agent))
    ]


def concerns(record: dict[str, Any], agent: int) -> bool:
    """Whether a transcript record belongs in ``agent``'s view."""
    about = record.get("about") or []
    return record.get("agent") == agent or agent in about or (record.get("agent") is None and not about)


def format_record(record: dict[str, Any], system: bool = False) -> str:
    """One exchange as text: a header, (optionally) the shared system prompt, the user message, the reply."""
    messages = record.get("messages", [])
    who = f"agent {record['agent']} ({record.get('group', '?')})" if record.get("agent") is not None else "institution"
    about = f" about {', '.join(map(str, record['about']))}" if record.get("about") else ""
    sample = f" · sample {record['sample']}" if record.get("sample") else ""
    head = (
        f"=== step {record.get('step')} · {who}{about} · {record.get('purpose', 'decision')} · "
        f"{record.get('phase')} round {record.get('round', 0)} · attempt {record.get('attempt', 0)}{sample} · "
        f"seed {record.get('seed')} ==="
    )
    parts = [head]
    for message in messages:
        if message["role"] == "system" and not system:
            parts.append(f"--- system: shared prefix, {len(message['content'])} characters (--system shows it) ---")
            continue
        parts += [f"--- {message['role']} ---", message["content"]]
    cached = ", cached" if record.get("cached") else ""
    parts += [
        f"--- reply ({record.get('completion_tokens', 0)} tokens, {record.get('finish_reason', '?')}{cached}) ---",
        record.get("reply", ""),
    ]
    return "\n".join(parts)


def show(
    run_dir: str | Path,
    agent: int | None = None,
    step: int | None = None,
    phase: str | None = None,
    system: bool = False,
) -> str:
    """What ``agent`` saw and said in ``step`` (any filter may be left out), as readable text."""
    records = read_transcript(run_dir)
    chosen = select(records, agent, step, phase)
    if not chosen:
        agents = sorted({r["agent"] for r in records if r.get("agent") is not None})
        steps = sorted({r["step"] for r in records if "step" in r})
        raise UserError(
            f"no transcript records for agent={agent} step={step} phase={phase} in {run_dir}; "
            f"it has agents {_span(agents)} and steps {_span(steps)}"
        )
    return "\n\n".join(format_record(r, system) for r in chosen)


def _span(values: list[int]) -> str:
    if not values:
        return "none"
    return f"{values[0]}-{values[-1]}" if len(values) > 1 else str(values[0])


def add_transcript_parser(commands: argparse._SubParsersAction) -> None:
    """``alignsim transcript RUN_DIR --agent 3 --step 4``: the CLI face of `show`."""
    parser = commands.add_parser("transcript", help="show what an agent saw and said in a run (LLM transcript)")
    parser.add_argument("run_dir", help="a run directory (it holds transcript.jsonl)")
    parser.add_argument("--agent", type=int, help="agent id")
    parser.add_argument("--step", type=int, help="step (month) number")
    parser.add_argument("--phase", help="phase: talk, act, summary or an institution's phase")
    parser.add_argument("--system", action="store_true", help="also print the shared system prompt")
    parser.set_defaults(func=_cmd_transcript)


def _cmd_transcript(args: argparse.Namespace) -> int:
    print(show(args.run_dir, args.agent, args.step, args.phase, args.system))
    return 0
