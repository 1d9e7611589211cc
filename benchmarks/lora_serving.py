"""Decisions per second with a LoRA adapter vs the base model, on one engine and the same prompts; and what
enabling LoRA costs (engine start, base-model speed), side by side in one run.

1. An engine without LoRA starts; the prompts are answered by the base model.
2. An engine with LoRA enabled for the adapter starts (vLLM's CPU build then compiles nothing); the same prompts
   are answered by the base model and by the adapter, in interleaved passes.
Every pass sends the same --agents prompts (agent-like: shared rules first, the JSON action schema, one seed per
agent) as one batch, with the prefix cache reset before it; each figure is the fastest of --passes. Replies differ
in length between the models, so generated tokens per second are reported beside decisions per second.

The adapter is --adapter NAME (registered), or else a small one trained first on short prompts (sft, 16 examples,
2 epochs) into a temporary $ALIGNSIM_HOME.

    python benchmarks/lora_serving.py [--agents 64] [--passes 3] [--adapter NAME]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from sim.llm.models import alignsim_home
from sim.llm.types import AdapterRef, ChatRequest, Sampling, derive_seed
from sim.llm.vllm_backend import VLLMBackend

MODEL = "smollm2-135m"
RULES = (
    "You are one of several fishers who share a lake. Each month every fisher decides how many tons of fish to "
    "catch. The lake holds at most 100 tons; whatever is left doubles by next month, up to 100 tons. If the lake "
    "falls below 5 tons it collapses and nobody can fish again. The community agreed that nobody takes more than "
    "a fair share. Fishers who take more than their share may be reported and sanctioned by the others. "
    "Answer with a JSON object: the number of tons you catch this month."
)
SCHEMA = {"type": "object", "properties": {"catch": {"type": "integer", "minimum": 0, "maximum": 100}},
          "required": ["catch"]}


def requests(agents: int) -> list[ChatRequest]:
    return [
        ChatRequest(
            messages=(
                {"role": "system", "content": RULES},
                {"role": "user", "content": f"You are fisher {agent}. The lake holds {100 - 3 * (agent % 10)} tons. "
                 f"Last month you caught {agent % 7} tons. How many tons do you catch this month?"},
            ),
            seed=derive_seed(2026, 1, "act", "decision", agent),
            schema=SCHEMA,
            sampling=Sampling(temperature=0.7, top_p=1.0, max_tokens=24),
        )
        for agent in range(agents)
    ]


def started(adapters: tuple[AdapterRef, ...]) -> tuple[VLLMBackend, float]:
    begin = time.perf_counter()
    backend = VLLMBackend(MODEL, adapters=adapters)
    return backend, time.perf_counter() - begin


def one_pass(backend: VLLMBackend, batch: list[ChatRequest]) -> tuple[float, float]:
    """(decisions/s, generated tokens/s) of one batch, prefix cache cold."""
    backend.reset_prefix_cache()
    begin = time.perf_counter()
    replies = backend.generate(batch)
    elapsed = time.perf_counter() - begin
    return len(batch) / elapsed, sum(r.completion_tokens for r in replies) / elapsed


def small_adapter(home: Path) -> AdapterRef:
    """Train the benchmark's own adapter (the real test's recipe) into ``home``."""
    from sim.training.adapters import load_adapter
    from sim.training.train import TrainSettings, train
    from tests.training.tiny_datasets import sft_rows, write_dataset

    (home / "models").symlink_to((alignsim_home() / "models").resolve())
    os.environ["ALIGNSIM_HOME"] = str(home)
    data = write_dataset(home / "data", "sft", sft_rows(16))
    train(data, MODEL, "bench-lora", TrainSettings(epochs=2), progress=False)
    return load_adapter("bench-lora").ref()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=64)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--adapter", help="a registered adapter of smollm2-135m (default: train a small one)")
    args = parser.parse_args()
    if args.adapter:
        from sim.training.adapters import resolve_adapter

        adapter = resolve_adapter(args.adapter, MODEL).ref()
    else:
        adapter = small_adapter(Path(tempfile.mkdtemp(prefix="lora-bench-")))
    batch = requests(args.agents)
    tuned = [replace(r, adapter=adapter) for r in batch]

    plain, plain_start = started(())
    one_pass(plain, batch[:4])  # warm-up
    off = max(one_pass(plain, batch) for _ in range(args.passes))
    plain.close()

    lora, lora_start = started((adapter,))
    one_pass(lora, batch[:4])
    one_pass(lora, tuned[:4])
    base_runs, tuned_runs = [], []
    for _ in range(args.passes):
        base_runs.append(one_pass(lora, batch))
        tuned_runs.append(one_pass(lora, tuned))
    on_base, on_tuned = max(base_runs), max(tuned_runs)
    lora.close()

    print(f"{args.agents} prompts per batch, fastest of {args.passes} passes, prefix cache cold; adapter "
          f"{adapter.name} (rank {adapter.rank})")
    print(f"{'engine':<28}{'start s':>9}{'decisions/s':>13}{'tokens/s':>10}")
    print(f"{'LoRA off, base model':<28}{plain_start:9.1f}{off[0]:13.2f}{off[1]:10.1f}")
    print(f"{'LoRA on, base model':<28}{lora_start:9.1f}{on_base[0]:13.2f}{on_base[1]:10.1f}")
    print(f"{'LoRA on, adapter':<28}{'':9}{on_tuned[0]:13.2f}{on_tuned[1]:10.1f}")
    print(f"adapter vs base on the LoRA engine: {on_tuned[0] / on_base[0]:.2f}x decisions/s, "
          f"{on_tuned[1] / on_base[1]:.2f}x tokens/s; enabling LoRA: {on_base[0] / off[0]:.2f}x decisions/s for the "
          f"base model, start {lora_start:.0f} s vs {plain_start:.0f} s")


if __name__ == "__main__":
    main()
