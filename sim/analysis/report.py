"""``alignsim report SWEEP --table NAME``: an experiment's table from a finished (or partial) sweep.

Tables: ``govsim`` (GovSim's Table 1 beside the published rows); ``effect`` (each case's effect on the action
distribution against a baseline case: Jensen-Shannon or Wasserstein-1, bootstrap CI, permutation p-value).
Printed as Markdown; ``--csv FILE`` also writes the numbers.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd


def _govsim(args: argparse.Namespace) -> tuple[pd.DataFrame, str]:
    from sim.analysis.govsim import format_govsim, govsim_table

    table = govsim_table(args.sweep)
    return table, format_govsim(table)


def _effect(args: argparse.Namespace) -> tuple[pd.DataFrame, str]:
    from sim.analysis.effect import effect_table, format_effect

    table = effect_table(args.sweep, args.baseline, args.group or (), bootstrap=args.bootstrap,
                         permutations=args.permutations)
    return table, format_effect(table)


TABLES: dict[str, Callable[[argparse.Namespace], tuple[pd.DataFrame, str]]] = {"govsim": _govsim, "effect": _effect}


def add_report_parser(commands: Any) -> None:
    parser = commands.add_parser("report", help="print an experiment's table from a sweep (e.g. --table govsim)")
    parser.add_argument("sweep", help="a sweep directory (or its results.parquet)")
    parser.add_argument("--table", required=True, choices=sorted(TABLES), help="which table to compute")
    parser.add_argument("--csv", metavar="FILE", help="also write the table's numbers to this CSV file")
    parser.add_argument("--baseline", metavar="CASE", help="effect: the case the others are compared with "
                                                            "(default: the sweep's first)")
    parser.add_argument("--group", action="append", metavar="NAME",
                        help="effect: only these population groups' actions (repeatable; default: every agent)")
    parser.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="effect: bootstrap resamples")
    parser.add_argument("--permutations", type=int, default=2000, metavar="N",
                        help="effect: permutations (all of them when there are fewer)")
    parser.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    table, text = TABLES[args.table](args)
    print(text)
    if args.csv:
        Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.csv, index=False)
    return 0
