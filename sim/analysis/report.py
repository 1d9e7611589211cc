"""``alignsim report SWEEP --table NAME``: an experiment's table from a finished (or partial) sweep.

Tables: ``govsim`` (GovSim's Table 1 beside the published rows); ``effect`` (each case's effect on the action
distribution against a baseline case: Jensen-Shannon or Wasserstein-1, bootstrap CI, permutation p-value);
``bon`` (best-of-n: proxy and true utility against d = sqrt(KL_bon), the fit d(α − β d) and its peak);
``collusion`` (the oligopoly's arms: profit gain Δ, prices, consumer surplus, colluding and punished shares over
sessions, beside Calvano et al.'s and Institutional AI's published values).
Printed as Markdown; the figure goes to ``<sweep>/plots/report_<table>.png`` (or ``--figure FILE``); ``--csv FILE``
also writes the numbers.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from sim.analysis.runs import sweep_dir
from sim.cli import positive_int

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Report = tuple[pd.DataFrame, str, Callable[[], "Figure"]]


def _govsim(args: argparse.Namespace) -> Report:
    from sim.analysis.govsim import format_govsim, govsim_table, plot_govsim

    table = govsim_table(args.sweep)
    return table, format_govsim(table), lambda: plot_govsim(table)


def _effect(args: argparse.Namespace) -> Report:
    from sim.analysis.effect import effect_table, format_effect, plot_arms, sweep_arms

    table = effect_table(args.sweep, args.baseline, args.group or (), bootstrap=args.bootstrap,
                         permutations=args.permutations)

    def figure() -> Figure:
        import matplotlib.pyplot as plt

        actions = list(dict.fromkeys(table["action"]))
        fig, axes = plt.subplots(1, max(1, len(actions)), figsize=(5 * max(1, len(actions)), 3.6), squeeze=False)
        arms = sweep_arms(args.sweep, args.group or ())
        for ax, action in zip(axes[0], actions, strict=False):
            plot_arms(arms, action, table, ax=ax)
        fig.tight_layout()
        return fig

    return table, format_effect(table), figure


def _bon(args: argparse.Namespace) -> Report:
    from sim.analysis.bestofn import bon_table, format_bon, plot_bon

    curve, fits = bon_table(args.sweep)
    return curve, format_bon(curve, fits), lambda: plot_bon(curve, fits)


def _collusion(args: argparse.Namespace) -> Report:
    from sim.analysis.collusion import collusion_table, format_collusion, legend, plot_collusion

    table = collusion_table(args.sweep)
    return table, format_collusion(table, legend(args.sweep)), lambda: plot_collusion(table)


TABLES: dict[str, Callable[[argparse.Namespace], Report]] = {
    "govsim": _govsim, "effect": _effect, "bon": _bon, "collusion": _collusion,
}


def add_report_parser(commands: Any) -> None:
    parser = commands.add_parser("report", help="print an experiment's table from a sweep (e.g. --table govsim)")
    parser.add_argument("sweep", help="a sweep directory (or its results.parquet)")
    parser.add_argument("--table", required=True, choices=sorted(TABLES), help="which table to compute")
    parser.add_argument("--csv", metavar="FILE", help="also write the table's numbers to this CSV file")
    parser.add_argument("--figure", metavar="FILE", help="where to draw the figure (default: "
                                                          "<sweep>/plots/report_<table>.png)")
    parser.add_argument("--no-figure", action="store_true", help="print the table only")
    parser.add_argument("--baseline", metavar="CASE", help="effect: the case the others are compared with "
                                                            "(default: the sweep's first)")
    parser.add_argument("--group", action="append", metavar="NAME",
                        help="effect: only these population groups' actions (repeatable; default: every agent)")
    parser.add_argument("--bootstrap", type=positive_int, default=1000, metavar="N", help="effect: bootstrap resamples")
    parser.add_argument("--permutations", type=positive_int, default=2000, metavar="N",
                        help="effect: permutations (all of them when there are fewer)")
    parser.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    table, text, figure = TABLES[args.table](args)
    print(text)
    if args.csv:
        _atomic(Path(args.csv), lambda path: table.to_csv(path, index=False))
    if not args.no_figure:
        import matplotlib.pyplot as plt

        target = Path(args.figure) if args.figure else sweep_dir(args.sweep) / "plots" / f"report_{args.table}.png"
        fig = figure()
        _atomic(target, lambda path: fig.savefig(path, dpi=110, format=target.suffix.lstrip(".") or "png"))
        plt.close(fig)
        print(f"\nfigure: {target}")
    return 0


def _atomic(target: Path, write: Callable[[Path], object]) -> None:
    """Write beside ``target`` and rename into place: a reader never sees half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        write(partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
