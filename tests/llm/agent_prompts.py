"""Agent-like prompts shared by the real-engine tests and the batching benchmark."""

from __future__ import annotations

from pydantic import BaseModel, Field

from sim.llm.types import ChatRequest, Sampling, derive_seed

RULES = (
    "You are one of several fishers who share a lake. Each month every fisher decides how many tons of fish to "
    "catch. The lake holds at most 100 tons; whatever is left doubles by next month, up to 100 tons. If the lake "
    "falls below 5 tons it collapses and nobody can fish again. The community agreed that nobody takes more than "
    "a fair share. Fishers who take more than their share may be reported and sanctioned by the others. "
    "Think about the long run: a lake that survives feeds everyone for years, a lake that collapses feeds no one. "
    "Answer with a JSON object: the number of tons you catch this month and one short sentence saying why."
)


class Catch(BaseModel):
    """The decision every fisher returns."""

    catch: int = Field(ge=0, le=20)
    reason: str = Field(max_length=60)


SCHEMA = Catch.model_json_schema()


def fisher_requests(count: int, run_seed: int = 7, step: int = 0, max_tokens: int = 96) -> list[ChatRequest]:
    """One decision request per fisher: shared rules first (prefix cache), then the agent's own state."""
    return [
        ChatRequest(
            messages=(
                {"role": "system", "content": RULES},
                {
                    "role": "user",
                    "content": f"You are fisher {agent}. The lake holds {100 - 3 * (agent % 10)} tons. "
                    f"Last month you caught {agent % 7} tons. How many tons do you catch this month?",
                },
            ),
            seed=derive_seed(run_seed, step, "decide", "decision", agent),
            schema=SCHEMA,
            sampling=Sampling(temperature=0.7, top_p=1.0, max_tokens=max_tokens),
            tag={"agent": agent, "step": step, "phase": "decide"},
        )
        for agent in range(count)
    ]
