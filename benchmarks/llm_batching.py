"""Decisions per second: 64 agents' prompts submitted as one batch vs one at a time.

The same agent-like prompts (shared rules first, a JSON action schema, one derived seed per agent) go to the
in-process vLLM engine and then to vLLM's OpenAI-compatible server. The cache is off. Each measurement uses
its own month number in the prompts, so no measurement replays another's prompts from the prefix cache.

    python benchmarks/llm_batching.py [--agents 64] [--mode both|engine|server]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from pydantic import BaseModel, Field

from sim.llm.types import Backend, ChatReply, ChatRequest, Sampling, derive_seed

MODEL = "smollm2-135m"
RULES = (
    "You are one of several fishers who share a lake. Each month every fisher decides how many tons of fish to "
    "catch. The lake holds at most 100 tons; whatever is left doubles by next month, up to 100 tons. If the lake "
    "falls below 5 tons it collapses and nobody can fish again. The community agreed that nobody takes more than "
    "a fair share. Fishers who take more than their share may be reported and sanctioned by the others. "
    "Answer with a JSON object: the number of tons you catch this month and one short sentence saying why."
)


class Catch(BaseModel):
    catch: int = Field(ge=0, le=20)
    reason: str = Field(max_length=60)


def requests(agents: int, month: int) -> list[ChatRequest]:
    """One decision request per agent for one month."""
    return [
        ChatRequest(
            messages=(
                {"role": "system", "content": RULES},
                {
                    "role": "user",
                    "content": f"Month {month}. You are fisher {agent}. The lake holds {100 - 3 * (agent % 10)} "
                    f"tons. Last month you caught {agent % 7} tons. How many tons do you catch this month?",
                },
            ),
            seed=derive_seed(2026, month, "decide", "decision", agent),
            schema=Catch.model_json_schema(),
            sampling=Sampling(temperature=0.7, top_p=1.0, max_tokens=96),
            tag={"agent": agent, "step": month},
        )
        for agent in range(agents)
    ]


def timed(run: Callable[[], list[ChatReply]]) -> tuple[float, list[ChatReply]]:
    start = time.perf_counter()
    replies = run()
    return time.perf_counter() - start, replies


def measure(name: str, backend: Backend, agents: int) -> dict[str, float]:
    """Warm up, then time one batch and the same number of requests one at a time."""
    backend.generate(requests(4, month=0))
    batched_s, batched = timed(lambda: backend.generate(requests(agents, month=1)))
    one_by_one = requests(agents, month=2)
    sequential_s, sequential = timed(lambda: [backend.generate([r])[0] for r in one_by_one])
    valid = sum(_valid(r) for r in batched + sequential)
    result = {
        "batched_per_s": agents / batched_s,
        "sequential_per_s": agents / sequential_s,
        "valid_fraction": valid / (2 * agents),
    }
    result["ratio"] = result["batched_per_s"] / result["sequential_per_s"]
    print(
        f"{name:<8} batch of {agents}: {batched_s:6.1f} s = {result['batched_per_s']:5.2f} decisions/s | "
        f"one at a time: {sequential_s:6.1f} s = {result['sequential_per_s']:5.2f} decisions/s "
        f"({sequential_s / agents:.2f} s each) | ratio {result['ratio']:.1f}x | "
        f"valid JSON {result['valid_fraction']:.0%}",
        flush=True,
    )
    return result


def _valid(reply: ChatReply) -> bool:
    try:
        Catch.model_validate_json(reply.text)
    except ValueError:
        return False
    return True


def bench_engine(agents: int) -> dict[str, float]:
    from sim.llm.vllm_backend import VLLMBackend

    backend = VLLMBackend(MODEL)
    try:
        result = measure("engine", backend, agents)
        report_prefix_cache("engine", backend.prefix_cache_counters(), result)
        return result
    finally:
        backend.close()


def bench_server(agents: int) -> dict[str, float]:
    from sim.llm.openai_backend import OpenAIBackend
    from sim.llm.server import VLLMServer

    with VLLMServer(MODEL) as server:
        backend = OpenAIBackend(server.url, MODEL, max_concurrency=agents)
        result = measure("server", backend, agents)
        report_prefix_cache("server", backend.prefix_cache_counters(), result)
    return result


def report_prefix_cache(name: str, counters: tuple[float, float] | None, result: dict[str, float]) -> None:
    """Print (and record) the share of prompt tokens the prefix cache served."""
    if counters and counters[1]:
        result["prefix_cache_hit_rate"] = counters[0] / counters[1]
        print(f"{name} prefix cache: {result['prefix_cache_hit_rate']:.0%} of prompt tokens hit", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=64)
    parser.add_argument("--mode", choices=["both", "engine", "server"], default="both")
    args = parser.parse_args()
    if args.mode in ("both", "engine"):
        bench_engine(args.agents)
    if args.mode in ("both", "server"):
        bench_server(args.agents)


if __name__ == "__main__":
    main()
