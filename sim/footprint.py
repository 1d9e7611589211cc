"""How much memory a rule-based run needs: measured per agent and per agent-step, for refusing what cannot fit.

Measured as the peak RSS of a fresh process running `sim.runner.simulate` (the model, its steps, then the agent
and model tables), December 2026, Python 3.11, Mesa 3.3, at 40,000 agents over 1 and 10 steps:

| scenario | institutions | per agent (first step included) | per agent-step after |
|---|---|---|---|
| commons_rules (no greedy fisher) | 0 | 2.6 KB | 470 B |
| public_goods_rules | 1 (sanctions) | 2.9 KB | 590 B |
| norms_rules | 5 | 4.1 KB | 1.1 KB |

beside about 170 MB for the interpreter and the libraries here, and up to 40 MB more on another machine of the same
kind (CI's clean clone measured 335 MB where this one measured 296 MB for the same run). An agent-step is a row of the
agent table, a memory entry and the step's events; institutions add events and columns. The constants round these up,
so an estimate errs on the safe side; a memory entry stops costing once an agent's memory is full (``memory:``, 20 by
default), so long runs need somewhat less. LLM agents also hold their prompts while a phase is answered: not included.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.scenario import Scenario

BASE_BYTES = 240 * 2**20
"""The interpreter and the libraries a run imports."""

BYTES_PER_AGENT = 3_200
BYTES_PER_AGENT_PER_INSTITUTION = 300
"""One agent once the model is built and has run a step."""

BYTES_PER_AGENT_STEP = 600
BYTES_PER_AGENT_STEP_PER_INSTITUTION = 125
"""What each agent adds each step: a row of the agent table, a memory entry, its share of the events."""


def peak_bytes(agents: int, steps: int, institutions: int = 0) -> int:
    """An upper estimate of the peak memory of a rule-based run of ``agents`` agents over ``steps`` steps under
    ``institutions`` institutions."""
    per_agent = BYTES_PER_AGENT + institutions * BYTES_PER_AGENT_PER_INSTITUTION
    per_step = BYTES_PER_AGENT_STEP + institutions * BYTES_PER_AGENT_STEP_PER_INSTITUTION
    return BASE_BYTES + agents * (per_agent + steps * per_step)


def scenario_peak_bytes(scenario: Scenario) -> int:
    """`peak_bytes` of a scenario: its population, its steps and its institutions."""
    return peak_bytes(scenario.agent_count(), scenario.steps, len(scenario.institutions))
