"""GovSim's Table 1 from a sweep of the commons (Piatti et al. 2024, "Cooperate or Collapse", arXiv 2404.16698).

One row per case of the sweep (default, universalization, no communication, greedy newcomer, ...): survival
rate, survival time, gain, efficiency, equality and over-usage as the mean and its 95% bootstrap interval over
the runs of that case (`sim.sweeps.plots.summarize`: none under 3 runs), in the paper's columns and units
(percentages where the paper gives them), with the paper's published rows below for comparison. The per-run
metrics are the commons' summary (sim/environments/commons.py), whose definitions follow the paper's: survival
time m = max{t | h(t) > C}; survival rate q = share of runs with m = T; gain R_i = Σ_t r_i^t (mean over agents);
efficiency u = 1 − max(0, T·f(0) − Σ_i R_i)/(T·f(0)); equality e = 1 − Gini(R); over-usage o = share of
actions with r_i^t > f(t)/N.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from sim.analysis.runs import deciders, ok_runs, run_manifest
from sim.errors import UserError
from sim.sweeps.plots import summarize

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# (column, summary metric, scale): the paper gives rates in percent.
COLUMNS = (
    ("survival rate %", "survived", 100.0),
    ("survival time", "survival_time", 1.0),
    ("gain", "gain", 1.0),
    ("efficiency %", "efficiency", 100.0),
    ("equality %", "equality", 100.0),
    ("over-usage %", "over_usage", 100.0),
)

# Piatti et al. (2024), Table 1, default condition: mean over 3 scenarios x 5 runs (published values).
PUBLISHED = {
    "GPT-4o": (53.3, 9.3, 66.0, 55.0, 94.4, 10.8),
    "Llama-3-70B": (0.0, 1.0, 20.0, 16.7, 90.7, 38.7),
    "Llama-3-8B": (0.0, 1.0, 20.0, 16.7, 57.3, 20.0),
}

# What the paper reports of its interventions, against the default (published, in words).
PUBLISHED_INTERVENTIONS = {
    "universalization": "about 4 more months of survival",
    "no_communication": "over-usage about 21% higher",
    "newcomer": "lower survival and equality",
}


def govsim_table(path: str | Path) -> pd.DataFrame:
    """The table: one row per case (or one row, for a sweep without cases), then the published rows.

    Columns: ``model`` (the LLM, or the rule-based policies), ``case``, ``runs``, and for each metric its mean
    and 95% bootstrap interval (``<column>``, ``<column> low``, ``<column> high``); published rows have no
    interval (NaN) and ``runs`` 15.
    """
    frame, _ = ok_runs(path)
    missing = [metric for _, metric, _ in COLUMNS if metric not in frame.columns]
    if missing:
        raise UserError(f"{path}: not a commons sweep (no {', '.join(missing)} in its results)")
    if "case" not in frame.columns:
        frame = frame.assign(case="default")
    frame = frame.assign(model=[deciders(run_manifest(path, row)["scenario"]) for _, row in frame.iterrows()])
    cases = list(dict.fromkeys(frame["case"]))
    rows = []
    for (model, case), group in frame.groupby(["model", "case"], sort=False):
        row: dict[str, object] = {"model": model, "case": case, "runs": len(group)}
        for column, metric, scale in COLUMNS:
            stats = summarize(group, ["case"], metric).iloc[0]
            row[column] = scale * stats["mean"]
            row[f"{column} low"], row[f"{column} high"] = scale * stats["low"], scale * stats["high"]
        rows.append(row)
    rows.sort(key=lambda r: (str(r["model"]), cases.index(str(r["case"]))))
    for model, values in PUBLISHED.items():
        row = {"model": f"{model} (published)", "case": "default", "runs": 15}
        for (column, _, _), value in zip(COLUMNS, values, strict=True):
            row[column], row[f"{column} low"], row[f"{column} high"] = value, float("nan"), float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def format_govsim(table: pd.DataFrame) -> str:
    """The table as Markdown, each measured cell ``mean [low, high]``, with the paper's interventions as notes."""
    header = ["model", "case", "runs", *(c for c, _, _ in COLUMNS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in table.iterrows():
        cells = [str(row["model"]), str(row["case"]), str(int(row["runs"]))]
        for column, _, _ in COLUMNS:
            low, high = row[f"{column} low"], row[f"{column} high"]
            cells.append(f"{row[column]:.1f}" if pd.isna(low) else f"{row[column]:.1f} [{low:.1f}, {high:.1f}]")
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"- {case} (published): {effect}" for case, effect in PUBLISHED_INTERVENTIONS.items()
             if case in set(table["case"])]
    caption = ("GovSim Table 1 (Piatti et al. 2024): mean [95% bootstrap interval] over runs (none under 3 runs); "
               "published rows are the paper's default condition (3 scenarios x 5 runs).")
    return "\n".join([caption, "", *lines, *(["", *notes] if notes else [])])


def plot_govsim(table: pd.DataFrame) -> Figure:
    """Each metric of `govsim_table` by case, the mean with its 95% interval as an error bar, one colour per model, and
    the published default-condition values as dashed lines."""
    import matplotlib.pyplot as plt

    published = table["model"].str.endswith("(published)")
    measured, reference = table[~published], table[published]
    cases = list(dict.fromkeys(measured["case"]))
    fig, axes = plt.subplots(2, 3, figsize=(12, 6))
    for ax, (column, _, _) in zip(axes.flat, COLUMNS, strict=True):
        for k, (model, rows) in enumerate(measured.groupby("model", sort=False)):
            x = [cases.index(c) + 0.1 * k for c in rows["case"]]
            spread = [rows[column] - rows[f"{column} low"], rows[f"{column} high"] - rows[column]]
            ax.errorbar(x, rows[column], yerr=spread, fmt="o", capsize=3, label=model)
        for j, (_, row) in enumerate(reference.iterrows()):
            ax.axhline(row[column], color=f"C{j + 3}", linestyle="--", linewidth=1, label=row["model"])
        ax.set_xticks(range(len(cases)), cases, rotation=20, fontsize=8)
        ax.set_title(column, fontsize=10)
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("GovSim Table 1 metrics by case (mean, 95% CI over runs) and the published rows")
    fig.tight_layout()
    return fig
