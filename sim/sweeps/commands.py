"""``alignsim sweep`` and ``alignsim plot``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sim.cli import add_cache_from_argument, cache_from_overrides, positive_int, seed_argument
from sim.errors import UserError
from sim.yaml_loader import parse_yaml_value


def add_sweep_parser(commands: Any) -> None:
    parser = commands.add_parser("sweep", help="run a parameter sweep (grid, samples, replications), resumable")
    parser.add_argument("scenario", help="scenario YAML file (its sweep: block says what to vary)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                        help="override a field of the base scenario (repeatable)")
    parser.add_argument("--grid", action="append", default=[], metavar="PATH=V1,V2,...",
                        help="add a grid axis, e.g. --grid environment.completeness=0.25,0.5,1 (repeatable)")
    parser.add_argument("--range", dest="ranges", action="append", default=[], metavar="PATH=LOW,HIGH",
                        help="sample this field from [LOW, HIGH] (with --samples; repeatable)")
    parser.add_argument("--samples", type=positive_int, metavar="N", help="number of sampled points")
    parser.add_argument("--method", choices=["lhs", "random"], help="sampling: Latin hypercube (default) or random")
    parser.add_argument("--replications", type=positive_int, metavar="N",
                        help="runs per point, each with its own seed")
    parser.add_argument("--seed", type=seed_argument,
                        help="base seed of replications and samples (default: the scenario's)")
    parser.add_argument("--workers", type=positive_int, metavar="N",
                        help="cells run at once (default: the CPU count; 1 runs them in this process)")
    parser.add_argument("--executor", choices=["local", "ray"], default="local",
                        help="local processes (default) or Ray tasks")
    parser.add_argument("--address", help="Ray cluster address (with --executor ray); default: a local Ray")
    parser.add_argument("--server", metavar="URL", help="the vLLM server every cell shares (several: URL,URL,...)")
    parser.add_argument("--out", metavar="DIR", help="sweep directory (default: <sweep.dir>/<scenario name>)")
    add_cache_from_argument(parser)
    parser.add_argument("--retry-failed", action="store_true", help="rerun the cells that failed before")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=cmd_sweep)


def add_plot_parser(commands: Any) -> None:
    parser = commands.add_parser("plot", help="plot a sweep's results: metrics against parameters, heatmaps")
    parser.add_argument("results", help="a sweep's results.parquet, or its sweep directory")
    parser.add_argument("--metric", dest="metrics", action="append", metavar="NAME",
                        help="metric to plot (repeatable; default: every metric that varies)")
    parser.add_argument("--out", metavar="DIR", help="folder for the PNGs (default: plots/ beside the results)")
    parser.set_defaults(func=cmd_plot)


def _split(flag: str, text: str) -> tuple[str, list[Any]]:
    """``PATH=V1,V2`` -> (PATH, [V1, V2]); the values are read as YAML (``[...]`` is accepted too)."""
    path, sep, raw = text.partition("=")
    if not sep or not path.strip() or not raw.strip():
        raise UserError(f"{flag} {text}: expected PATH=V1,V2,... e.g. environment.completeness=0.25,0.5")
    raw = raw.strip()
    values = parse_yaml_value(raw if raw.startswith("[") else f"[{raw}]", f"{flag} {text}")
    return path.strip(), values


def sweep_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The sweep spec parts given on the command line, as `sim.sweeps.api.sweep` takes them."""
    grid = dict(_split("--grid", g) for g in args.grid)
    ranges = dict(_split("--range", r) for r in args.ranges)
    if ranges and args.samples is None:
        raise UserError("--range needs --samples N (how many points to sample)")
    sample = {k: v for k, v in (("n", args.samples), ("method", args.method)) if v is not None}
    if ranges:
        sample["ranges"] = ranges
    return {"grid": grid or None, "sample": sample or None, "replications": args.replications, "seed": args.seed}


def cmd_sweep(args: argparse.Namespace) -> int:
    from sim.sweeps.api import sweep

    table = sweep(
        args.scenario, **sweep_arguments(args), overrides=[*args.overrides, *cache_from_overrides(args)],
        workers=args.workers,
        executor=args.executor, address=args.address, server=args.server, out=args.out,
        retry_failed=args.retry_failed, progress=not args.quiet,
    )
    failed = table[table["status"] == "error"]
    folder = table.attrs.get("sweep_dir", "")
    print(f"sweep directory: {folder}")
    print(f"  {len(table) - len(failed)} runs ok, {len(failed)} failed; results: {folder}/results.parquet")
    for _, row in failed.head(5).iterrows():
        print(f"  failed {row['cell_id']}: {row['error']}", file=sys.stderr)
    return 1 if len(failed) else 0


def cmd_plot(args: argparse.Namespace) -> int:
    import warnings

    from sim.sweeps.plots import FewReplicationsWarning, plot_results

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FewReplicationsWarning)
        written = plot_results(args.results, args.out, args.metrics)
    for path in written:
        print(path)
    for warning in caught:
        print(f"alignsim: warning: {warning.message}", file=sys.stderr)
    return 0
