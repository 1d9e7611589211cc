"""Simulation efficiency: decisions/s of the full simulation ÷ decisions/s of the raw engine on the same prompts.

One in-process vLLM engine serves three passes over the same scenario and seed, with the reply cache off:

1. warm-up: the simulation runs once and every batch it sends to the engine is recorded;
2. raw engine: the recorded batches go straight to the engine, back to back;
3. simulation: the simulation runs again (seeded sampling: the same prompts, batches and replies).

vLLM's prefix cache is emptied before each measured pass, so neither inherits the other's prompts. The ratio
is raw seconds ÷ simulation seconds: what share of the engine's throughput survives prompt building,
validation, memory, the Mesa model and the data collection. Target: >= 0.8.

    python benchmarks/simulation_efficiency.py [--scenario scenarios/commons.yaml] [--set steps=6 ...]
"""

from __future__ import annotations

import argparse
import time

from sim.llm.client import LLMClient
from sim.llm.types import Backend, ChatReply, ChatRequest
from sim.llm.vllm_backend import VLLMBackend
from sim.runner import simulate
from sim.scenario import Scenario, load_scenario


class RecordingBackend:
    """Passes batches to the engine and keeps a copy of each, in order."""

    def __init__(self, engine: Backend) -> None:
        self.engine = engine
        self.model = engine.model
        self.batches: list[list[ChatRequest]] = []

    def generate(self, requests: list[ChatRequest]) -> list[ChatReply]:
        self.batches.append(list(requests))
        return self.engine.generate(requests)

    def close(self) -> None:
        pass


def simulate_recorded(scenario: Scenario, engine: VLLMBackend) -> tuple[float, RecordingBackend, int]:
    """(seconds, the recorded batches, decisions made by all agents) of one simulation without the reply cache."""
    recorder = RecordingBackend(engine)
    client = LLMClient(recorder, cache=None, backend_name="vllm")
    start = time.perf_counter()
    result = simulate(scenario, llm=client, progress=False)
    seconds = time.perf_counter() - start
    decisions = int(result.agents["active"].sum()) * (1 + scenario.talk.rounds)
    return seconds, recorder, decisions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="scenarios/commons.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE")
    args = parser.parse_args()
    scenario = load_scenario(args.scenario, [*args.overrides, "llm.cache=null", "output.plots=false"])
    config = scenario.llm
    engine = VLLMBackend(
        config.model,
        max_num_batched_tokens=config.max_num_batched_tokens,
        kv_cache_gib=config.kv_cache_gib,
        max_model_len=config.max_model_len,
    )
    try:
        _, warm, _ = simulate_recorded(scenario, engine)
        requests = sum(len(b) for b in warm.batches)
        engine.reset_prefix_cache()
        start = time.perf_counter()
        for batch in warm.batches:
            engine.generate(batch)
        raw_s = time.perf_counter() - start
        engine.reset_prefix_cache()
        sim_s, measured, decisions = simulate_recorded(scenario, engine)
    finally:
        engine.close()
    same = [[r.cache_key(engine.model) for r in b] for b in measured.batches] == [
        [r.cache_key(engine.model) for r in b] for b in warm.batches
    ]
    print(f"scenario {scenario.name}: {decisions} agent decisions, {requests} LLM requests in {len(warm.batches)} "
          f"batches (identical in both passes: {same})")
    print(f"raw engine:  {raw_s:8.2f} s  {requests / raw_s:7.2f} requests/s")
    print(f"simulation:  {sim_s:8.2f} s  {requests / sim_s:7.2f} requests/s")
    print(f"simulation efficiency = {raw_s / sim_s:.3f}  (target >= 0.8)")


if __name__ == "__main__":
    main()
