"""`alignsim train`: argparse wiring for sim/cli.py."""

from __future__ import annotations

import argparse
from typing import Any


def add_train_parser(subparsers: Any) -> None:
    """`alignsim train DATASET --method sft|dpo --base MODEL --out NAME [hyperparameters]`."""
    from sim.cli import positive_int, seed_argument
    from sim.llm.config import LLMConfig
    from sim.training.train import TrainSettings

    defaults = TrainSettings()
    parser = subparsers.add_parser(
        "train", help="fine-tune a LoRA adapter on an exported dataset (TRL + PEFT) and register it",
        description="Fine-tune a LoRA adapter of the base model on a dataset folder (alignsim export) and register "
        "it under --out with its lineage; scenarios then name it as population[i].llm.adapter.",
    )
    parser.add_argument("dataset", help="dataset folder written by `alignsim export`")
    parser.add_argument("--method", choices=("sft", "dpo"), required=True,
                        help="sft: supervised on the best replies (an sft dataset); dpo: on (best, worst) pairs "
                        "(a preference dataset)")
    parser.add_argument("--base", default=LLMConfig().model, help="base model: registry name, Hugging Face id or "
                        "folder (default: %(default)s)")
    parser.add_argument("--out", required=True, metavar="NAME", help="name to register the adapter under")
    parser.add_argument("--epochs", type=float, default=defaults.epochs, help="passes over the data (default: "
                        "%(default)s)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="default: 5e-4 for sft, 1e-4 for dpo")
    parser.add_argument("--batch-size", type=positive_int, default=defaults.batch_size)
    parser.add_argument("--lora-rank", type=positive_int, default=defaults.lora_rank,
                        help="LoRA rank on every linear layer (default: %(default)s)")
    parser.add_argument("--max-length", type=positive_int, default=defaults.max_length,
                        help="longest prompt + reply in tokens; longer ones are cut (default: %(default)s)")
    parser.add_argument("--max-examples", type=positive_int, default=None,
                        help="train on at most this many rows, drawn with --seed (default: all)")
    parser.add_argument("--beta", type=float, default=defaults.beta, help="dpo: strength of the pull towards the "
                        "base model (default: %(default)s)")
    parser.add_argument("--seed", type=seed_argument, default=defaults.seed)
    parser.add_argument("--overwrite", action="store_true", help="replace an adapter registered under --out")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    from sim.errors import UserError
    from sim.training.train import TrainSettings, train

    if args.epochs <= 0:
        raise UserError(f"--epochs must be positive, got {args.epochs:g}")
    settings = TrainSettings(
        method=args.method, epochs=args.epochs, learning_rate=args.learning_rate, batch_size=args.batch_size,
        lora_rank=args.lora_rank, max_length=args.max_length, max_examples=args.max_examples, beta=args.beta,
        seed=args.seed,
    )
    adapter = train(args.dataset, args.base, args.out, settings, overwrite=args.overwrite, progress=not args.quiet)
    metrics = adapter.lineage["metrics"]
    print(f"adapter {adapter.name} registered at {adapter.path}")
    print(f"  {metrics['examples']} examples x {settings.epochs:g} epoch(s) in {metrics['train_s']} s "
          f"({metrics['examples_per_s']} examples/s on {metrics['device']}); loss {metrics['first_loss']:.4f} -> "
          f"{metrics.get('last_loss', float('nan')):.4f}")
    print(f"  use it: population[i].llm.adapter: {adapter.name}  (or alignsim serve --adapter {adapter.name})")
    return 0
