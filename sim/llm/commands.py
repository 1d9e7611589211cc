"""`alignsim models ...` and `alignsim serve`: argparse wiring for sim/cli.py."""

from __future__ import annotations

import argparse
from typing import Any

from sim.cli import port_argument, positive_int, positive_number
from sim.llm.config import LLMConfig
from sim.llm.hardware import ENGINE_MODES


def add_models_parser(subparsers: Any) -> None:
    """`alignsim models list` (models and adapters) and `alignsim models prepare NAME [--force]`."""
    models = subparsers.add_parser("models", help="list or prepare the packaged models")
    actions = models.add_subparsers(dest="models_command", required=True)
    listing = actions.add_parser("list", help="show registry models (prepared here or not) and trained adapters")
    listing.set_defaults(func=_models_list)
    prepare = actions.add_parser("prepare", help="convert a packaged model into a folder vLLM can load (once)")
    prepare.add_argument("name", help="registry name, e.g. smollm2-135m")
    prepare.add_argument("--force", action="store_true", help="convert again even if already prepared")
    prepare.set_defaults(func=_models_prepare)


def add_serve_parser(subparsers: Any) -> None:
    """`alignsim serve [--model NAME] [--port N] [--host H] [--engine-mode MODE] [--adapter NAME ...]`."""
    defaults = LLMConfig()
    serve = subparsers.add_parser("serve", help="start vLLM's OpenAI-compatible server for runs and sweeps to share")
    serve.add_argument("--model", default=defaults.model, help="registry name, Hugging Face id or folder")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: loopback only)")
    serve.add_argument("--port", type=port_argument, default=8000, help="TCP port (default 8000)")
    serve.add_argument("--max-num-batched-tokens", type=positive_int, default=defaults.max_num_batched_tokens)
    serve.add_argument("--max-model-len", type=positive_int, default=defaults.max_model_len)
    serve.add_argument("--kv-cache-gib", type=positive_number, default=defaults.kv_cache_gib, help="CPU KV cache size")
    serve.add_argument("--engine-mode", choices=ENGINE_MODES, default="auto",
                       help="compiled: slower start, faster decoding; auto (default): compiled where the CPU "
                       "has AVX-512 or on a GPU, else eager (docs/llm.md, 'Engine mode')")
    serve.add_argument("--log", default=None, help="server log file (default: a file in the temp folder)")
    serve.add_argument("--adapter", dest="adapters", action="append", default=[], metavar="NAME",
                       help="also serve this registered LoRA adapter, under its name (repeatable; requests choose "
                       "it by naming it as their model)")
    serve.set_defaults(func=_serve)


def _models_list(args: argparse.Namespace) -> int:
    from sim.llm.models import list_models

    for info in list_models():
        state = f"prepared at {info.path}" if info.prepared else "not prepared"
        print(f"{info.name}\t{state}\t{info.description}")
    from sim.training.adapters import list_adapters

    for adapter in list_adapters():
        print(f"{adapter.name}\t{adapter.path}\t{adapter.describe()}")
    return 0


def _models_prepare(args: argparse.Namespace) -> int:
    from sim.llm.models import prepare_model

    print(prepare_model(args.name, force=args.force))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from sim.llm.hardware import engine_settings
    from sim.llm.models import check_model
    from sim.llm.server import VLLMServer, serve_forever
    from sim.training.adapters import resolve_adapter

    check_model(args.model, "--model")
    adapters = [resolve_adapter(name, args.model).ref() for name in dict.fromkeys(args.adapters)]
    settings = engine_settings(args.engine_mode, expected_decisions=None, lora=bool(adapters))
    server = VLLMServer(
        args.model,
        host=args.host,
        port=args.port,
        max_num_batched_tokens=args.max_num_batched_tokens,
        max_model_len=args.max_model_len,
        kv_cache_gib=args.kv_cache_gib,
        log_path=args.log,
        settings=settings,
        adapters=adapters,
    )
    served = "".join(f" + adapter {a.name}" for a in adapters)
    print(f"starting vLLM for {args.model}{served} ({settings.describe()}; log: {server.log_path}) ...", flush=True)
    return serve_forever(server, lambda url: print(f"serving {args.model} at {url}  (Ctrl-C stops)", flush=True))
