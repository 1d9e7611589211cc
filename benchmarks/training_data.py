"""Training data: the cost of scoring a candidate, and `alignsim export`'s throughput (decisions/s).

1. Scoring: the commons with a fined quota (norms, official monitoring, a central fine), N LLM fishers answered
   by a fake engine (the engine is not what is measured), ``candidates: 4`` with four different catches per
   decision, three months. Monitoring by an official, not by neighbours: in a complete network every act seen by
   every neighbour is O(N^2) a step, and a counterfactual step costs what a step costs. Reported: the time spent
   copying the components and resolving counterfactual steps, per scored candidate, at each N; beside it, side by
   side in the same process, one `copy.deepcopy` of the same components against the `Forker` copy that scoring
   makes per candidate.
2. Export: a run of the same commons (talk on, so talk decisions too) exported in each format, decisions/s from
   the run directory to the written dataset folder (reading the transcript and tables, ranking, writing Parquet).

    python benchmarks/training_data.py [--agents 5 1000] [--export-agents 100] [--months 3]
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path

from sim.llm.types import ChatRequest
from sim.model import SocietyModel
from sim.runner import run, simulate
from sim.scenario import Scenario, scenario_from_dict
from sim.training import candidates
from sim.training.export import decisions, export, run_dirs
from sim.training.sandbox import Forker, Sandbox
from tests.fake_llm import FakeLLMClient


def fined_quota(agents: int, months: int, talk: int, n: int) -> Scenario:
    return scenario_from_dict({
        "name": "bench_training", "seed": 1, "steps": months,
        "population": [{"name": "fishers", "count": agents, "policy": {"kind": "llm", "candidates": n}}],
        "environment": {"kind": "commons", "capacity": 20 * agents},
        "talk": {"rounds": talk},
        "institutions": [
            {"kind": "norms", "rules": [{"name": "quota", "text": "Catch at most 10 tons a month.", "field": "fish",
                                         "op": "<=", "value": 10}]},
            {"kind": "monitoring", "probability": 0.5, "observers": "official"},  # neighbours: O(N^2) a step
            {"kind": "sanctions", "peer": False, "fine": 3},
        ],
        "llm": {"max_model_len": 1 << 20},  # a fake engine: a prompt listing 10,000 fishers' catches fits
        "output": {"plots": False},
    })


def catches(request: ChatRequest) -> str:
    """A fake engine: sample i of agent a asks 5 + 3i + a mod 3 tons (four different actions per decision)."""
    tag = request.tag
    if "fish" in (request.schema or {}).get("properties", {}):
        return json.dumps({"fish": 5 + 3 * tag["sample"] + tag["agent"] % 3})
    return json.dumps({"message": "I will keep to the quota"})


class Timed:
    """Wraps the scoring entry points and adds up their seconds and the counterfactuals resolved."""

    def __init__(self) -> None:
        self.seconds = 0.0  # CPU seconds of this process: other jobs share the machine
        self.counterfactuals = 0
        self._open, self._score, self._credit = (candidates.CandidatePool.open, candidates.CandidatePool.score,
                                                 candidates.Scoring.credit)

    def __enter__(self) -> Timed:
        timed = self

        def clocked(function):
            def call(*args, **kwargs):
                start = time.process_time()
                try:
                    return function(*args, **kwargs)
                finally:
                    timed.seconds += time.process_time() - start
            return call

        def counted(*args, **kwargs):
            timed.counterfactuals += 1
            return self._credit(*args, **kwargs)

        candidates.CandidatePool.open = clocked(self._open)
        candidates.CandidatePool.score = clocked(self._score)
        candidates.Scoring.credit = counted
        return self

    def __exit__(self, *exc: object) -> None:
        candidates.CandidatePool.open, candidates.CandidatePool.score = self._open, self._score
        candidates.Scoring.credit = self._credit


def copies(model: SocietyModel, repeats: int = 20) -> tuple[float, float]:
    """(seconds per Forker copy, seconds per copy.deepcopy) of ``model``'s components as they stand: the fastest of
    ``repeats``, the two interleaved (other jobs share this machine)."""
    sandbox = Sandbox.of(model)
    shared = {id(sandbox.stand_in): sandbox.stand_in, **{id(a): a for a in model.everyone()}}
    forked, deep = [], []
    for _ in range(repeats):
        start = time.process_time()
        Forker({}).fork(sandbox.components)
        forked.append(time.process_time() - start)
        start = time.process_time()
        copy.deepcopy(sandbox.components, dict(shared))
        deep.append(time.process_time() - start)
    return min(forked), min(deep)


def scoring(agents: int, months: int) -> None:
    """CPU seconds: of scoring, per candidate; of the whole run with scoring and with one sample per decision."""
    with Timed() as timed:
        start = time.process_time()
        simulate(fined_quota(agents, months, talk=0, n=4), llm=FakeLLMClient(catches), progress=False)
        total = time.process_time() - start
    start = time.process_time()
    simulate(fined_quota(agents, months, talk=0, n=1), llm=FakeLLMClient(catches), progress=False)
    alone = time.process_time() - start
    model = SocietyModel(fined_quota(agents, months, talk=0, n=1), llm=FakeLLMClient(catches))
    model.step()
    forked, deep = copies(model)
    per = timed.seconds / timed.counterfactuals
    print(f"{agents:>6} agents: {timed.counterfactuals:>6} candidates scored in {timed.seconds:7.2f} s CPU = "
          f"{per * 1e3:8.3f} ms per candidate ({per / agents * 1e6:.2f} us per candidate per agent); "
          f"run with scoring {total:.2f} s, with one sample {alone:.2f} s; one copy of the components: "
          f"Forker {forked * 1e3:.3f} ms, copy.deepcopy {deep * 1e3:.3f} ms ({deep / forked:.1f}x)", flush=True)


def exporting(agents: int, months: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source = run(fined_quota(agents, months, talk=1, n=4), out=Path(folder) / "run",
                     llm=FakeLLMClient(catches), progress=False).path
        count = sum(1 for _ in decisions(run_dirs(source)[0]))
        for fmt in ("sft", "preference", "reward"):
            start = time.perf_counter()
            info, _ = export(source, fmt, "institutional", Path(folder) / fmt, progress=False)
            seconds = time.perf_counter() - start
            print(f"export {fmt:>10}: {count} decisions ({info.rows} rows) in {seconds:.2f} s = "
                  f"{count / seconds:,.0f} decisions/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[5, 1000], help="populations to score")
    parser.add_argument("--export-agents", type=int, default=100, help="fishers in the exported run")
    parser.add_argument("--months", type=int, default=3)
    args = parser.parse_args()
    for agents in args.agents:
        scoring(agents, args.months)
    exporting(args.export_agents, args.months)


if __name__ == "__main__":
    main()
