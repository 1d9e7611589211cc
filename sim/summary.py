"""summary.md: what a run was (scenario, seed, the overrides it was made with) and what came of it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.numbers import format_number

if TYPE_CHECKING:
    from sim.runner import RunResult

FIGURES = ("headline", "metrics", "agents")


def summary_markdown(result: RunResult) -> str:
    """The run's summary page: how to make it again, how it went, its metrics and its figures."""
    s = result.scenario
    overrides = " ".join(f"`--set {o}`" for o in s.overrides) or "none"
    ending = result.environment.figure_frame(result.model).ending(result.model)
    lines = [
        f"# {s.name}",
        "",
        s.description.strip(),
        "",
        f"- seed: {result.seed}",
        f"- overrides: {overrides}",
        f"- steps run: {len(result.model)} of {s.steps}" + (f" ({ending})" if ending else ""),
        f"- agents: {', '.join(f'{g.count} {g.name} ({g.policy.kind})' for g in s.population)}",
        f"- environment: {s.environment.kind}; institutions: "
        + (", ".join(i.kind for i in s.institutions) or "none"),
        "",
        "| metric | value |",
        "|---|---|",
        *[f"| {k} | {format_number(v)} |" for k, v in result.summary.items()],
        "",
        *([f"![{name}](plots/{name}.png)" for name in FIGURES] if s.output.plots else []),
        "",
    ]
    return "\n".join(lines)
