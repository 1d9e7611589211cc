"""Training examples per second on this machine for SmolLM2-135M with LoRA: sft and dpo, short prompts and the
commons' real act prompts, side by side in one run (what `alignsim train`'s defaults were chosen from).

The commons prompts are the ones a run of scenarios/commons.yaml sends (taken from a run answered by a scripted
fake), labelled with a fixed catch; the short ones are two-sentence fishing questions. Each case trains
--examples rows for --epochs in batches of 8 with `alignsim train`'s defaults into a temporary $ALIGNSIM_HOME;
examples/s is the trainer's own (model loading excluded); the last step's loss and token accuracy (sft) say
whether the defaults taught the label.

    python benchmarks/training_speed.py [--examples 24] [--epochs 1] [--cases short-sft,short-dpo,commons-sft,...]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from sim.llm.models import alignsim_home, model_dir
from sim.runner import simulate
from sim.scenario import load_scenario
from sim.training.train import TrainSettings, train
from tests.fake_llm import FakeLLMClient
from tests.training.tiny_datasets import reply, sft_rows, write_dataset

MODEL = "smollm2-135m"
GOOD, BAD = '{"fish": 5}', '{"fish": 20}'


def commons_prompts(count: int) -> list[list[dict[str, str]]]:
    """The act prompts of a commons run (5 fishers a month), as many months as ``count`` needs."""
    scenario = load_scenario(Path(__file__).resolve().parents[1] / "scenarios" / "commons.yaml",
                             [f"steps={count // 5 + 1}", "llm.cache=null"])
    client = FakeLLMClient()
    simulate(scenario, llm=client, progress=False)
    acts = [r for batch in client.sent for r in batch if r.tag.get("phase") == "act"]
    return [list(r.messages) for r in acts[:count]]


def rows(kind: str, method: str, count: int) -> list[dict[str, Any]]:
    prompts = [r["prompt"] for r in sft_rows(count)] if kind == "short" else commons_prompts(count)
    if method == "sft":
        return [{"prompt": p, "completion": reply(GOOD)} for p in prompts]
    return [{"prompt": p, "chosen": reply(GOOD), "rejected": reply(BAD)} for p in prompts]


def prompt_tokens(prompts: list[list[dict[str, str]]]) -> float:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir(MODEL))
    lengths = [len(tokenizer.apply_chat_template(p, tokenize=True, add_generation_prompt=True)) for p in prompts]
    return sum(lengths) / len(lengths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=24)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--cases", default="short-sft,short-dpo,commons-sft,commons-dpo")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="train-bench-"))
    (home / "models").symlink_to((alignsim_home() / "models").resolve())
    os.environ["ALIGNSIM_HOME"] = str(home)
    print(f"{'case':<14}{'prompt tokens':>14}{'examples':>10}{'epochs':>7}{'train s':>9}{'examples/s':>12}"
          f"{'loss':>16}{'token acc.':>11}")
    for case in args.cases.split(","):
        kind, method = case.split("-")
        data = rows(kind, method, args.examples)
        folder = write_dataset(home / case, "sft" if method == "sft" else "preference", data)
        settings = TrainSettings(method=method, epochs=args.epochs)  # type: ignore[arg-type]
        metrics = train(folder, MODEL, case, settings, progress=False).lineage["metrics"]
        tokens = prompt_tokens([r["prompt"] for r in data])
        loss = f"{metrics['first_loss']:.3f}->{metrics['last_loss']:.3f}"
        accuracy = metrics.get("last_mean_token_accuracy")
        print(f"{case:<14}{tokens:14.0f}{metrics['examples']:10d}{args.epochs:7g}{metrics['train_s']:9.1f}"
              f"{metrics['examples_per_s']:12.3f}{loss:>16}{'' if accuracy is None else f'{accuracy:11.3f}'}",
              flush=True)


if __name__ == "__main__":
    main()
