"""The collusion experiment's table from a sweep of the oligopoly: each arm's profit gain Δ, prices, consumer
surplus, share of colluding markets and of markets whose rivals punished the forced deviation, as means with 95%
bootstrap intervals over sessions, beside the published values.

A session is one market of one run (`sim.environments.collusion`): Q-learning markets train apart from each other,
and LLM firms of different markets never see each other, so sessions are the independent units, as in Calvano et
al. (2020, 1,000 sessions per experiment). Rows: one per model (the LLM, or the rule-based policies), case (the
arm), and value of any other swept parameter (the persona: P1 or P2 in scenarios/collusion.yaml).

Published values to set beside them:
- Calvano, Calzolari, Denicolò & Pastorello (2020, AER 110(10)), Q-learning duopoly at α = 0.15, β = 4e-6:
  average profit gain Δ ≈ 0.85 over 1,000 sessions; a forced deviation is punished, then prices return.
- Institutional AI (Bracale Syrnikov et al. 2026, arXiv 2601.11369), LLM Cournot duopolies, 90 runs per regime:
  severe collusion in 50% of ungoverned runs and 5.6% under the institutional regime (monitoring and sanctions);
  a prompt-only constitution gave no reliable improvement.
- Fish, Gonczarowski & Shorrer (2024, arXiv 2404.00806): GPT-4 pricing agents reach supra-competitive prices
  within a few hundred periods; with prompt prefix P1 prices settle higher than with P2.
Their "severe collusion" is a tier of the authors' own; here a market colludes when its Δ is at least
`COLLUSION_THRESHOLD` (0.5).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sim.analysis.runs import agent_table, deciders, ok_runs, run_manifest
from sim.environments.collusion import COLLUSION_THRESHOLD, deviation_outcomes, sessions
from sim.environments.oligopoly import OligopolyParams
from sim.errors import UserError
from sim.sweeps.plots import summarize

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# (column, session measure, scale)
COLUMNS = (
    ("Δ", "profit_gain", 1.0),
    ("price", "price", 1.0),
    ("consumer surplus", "consumer_surplus", 1.0),
    ("colluding %", "collusive", 100.0),
    ("punished %", "punished", 100.0),
)
# (model, case, {column: value}): the published numbers, in the columns they belong to.
PUBLISHED = (
    ("Calvano et al. 2020, Q-learning (published)", "baseline", {"Δ": 0.85}),
    ("Institutional AI 2026, LLM Cournot (published)", "ungoverned", {"colluding %": 50.0}),
    ("Institutional AI 2026, LLM Cournot (published)", "institutional", {"colluding %": 5.6}),
)
NOTES = (
    "Institutional AI 2026 (published): a prompt-only constitution gave no reliable improvement over ungoverned runs.",
    "Fish et al. 2024 (published): with prefix P1 prices settle higher than with P2, both above the Nash price.",
)
LONG = 24  # a swept value longer than this is shown by a label (persona #1) and listed under the table


def session_frame(path: str | Path) -> pd.DataFrame:
    """One row per session (run and market) of an oligopoly sweep: its arm, variant and measures."""
    frame, meta = ok_runs(path)
    swept = [p for p in meta.get("parameters", []) if p != "case" and p in frame.columns]
    labels = {p: variant_labels(frame[p]) for p in swept}
    rows = []
    for _, row in frame.iterrows():
        scenario = run_manifest(path, row)["scenario"]
        environment = scenario["environment"]
        if environment.get("kind") != "oligopoly":
            raise UserError(f"{path}: run {row['cell_id']} is not of the oligopoly; this is not a collusion sweep")
        params = OligopolyParams.model_validate({k: v for k, v in environment.items() if k != "kind"})
        agents = agent_table(path, row)
        markets = sessions(agents, params).merge(deviation_outcomes(agents, params), on="market", how="left")
        variant = ", ".join(labels[p][row[p]] for p in swept)
        rows.append(markets.assign(model=deciders(scenario), case=row.get("case", "default"), variant=variant,
                                   seed=int(row["seed"])))
    return pd.concat(rows, ignore_index=True)


def variant_labels(values: pd.Series) -> dict[object, str]:
    """How each value of a swept parameter reads in the table: itself, or ``<name> #k`` if it is long."""
    name = str(values.name).rsplit(".", 1)[-1]
    distinct = list(dict.fromkeys(values))
    return {v: (f"{name} #{k + 1}" if len(str(v)) > LONG else f"{name}={v}") for k, v in enumerate(distinct)}


def collusion_table(path: str | Path) -> pd.DataFrame:
    """The table: one row per (model, case, variant) with ``sessions`` and, per column, the mean and its 95%
    bootstrap interval over sessions (``<column> low``/``high``), then the published rows (no interval)."""
    markets = session_frame(path)
    markets["collusive"] = markets["collusive"].astype(float)
    markets["punished"] = markets["punished"].astype(float)
    by = ["model", "case", "variant"]
    order = {key: k for k, key in enumerate(dict.fromkeys(map(tuple, markets[by].to_numpy().tolist())))}
    table = summarize(markets, by, "profit_gain")[by].assign(sessions=summarize(markets, by, "profit_gain")["n"])
    for column, measure, scale in COLUMNS:
        stats = summarize(markets, by, measure)
        table[column] = scale * stats["mean"]
        table[f"{column} low"], table[f"{column} high"] = scale * stats["low"], scale * stats["high"]
    table = table.iloc[np.argsort([order[tuple(k)] for k in table[by].to_numpy().tolist()])].reset_index(drop=True)
    published = []
    for model, case, values in PUBLISHED:
        row: dict[str, object] = {"model": model, "case": case, "variant": "", "sessions": np.nan}
        for column, _, _ in COLUMNS:
            row[column] = values.get(column, np.nan)
            row[f"{column} low"] = row[f"{column} high"] = np.nan
        published.append(row)
    return pd.concat([table, pd.DataFrame(published)], ignore_index=True)


def format_collusion(table: pd.DataFrame, legend: dict[str, str] | None = None) -> str:
    """The table as Markdown, each measured cell ``mean [low, high]``; ``legend`` lists what long labels stand
    for."""
    header = ["model", "case", "variant", "sessions", *(c for c, _, _ in COLUMNS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in table.iterrows():
        cells = [str(row["model"]), str(row["case"]), str(row["variant"]),
                 "" if pd.isna(row["sessions"]) else str(int(row["sessions"]))]
        for column, _, scale in COLUMNS:
            digits = 1 if scale > 1 else 3
            value, low, high = row[column], row[f"{column} low"], row[f"{column} high"]
            if pd.isna(value):
                cells.append("")
            elif pd.isna(low):
                cells.append(f"{value:.{digits}f}")
            else:
                cells.append(f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]")
        lines.append("| " + " | ".join(cells) + " |")
    caption = (f"Collusion by arm: mean [95% bootstrap interval] over sessions (markets); Δ = (π − π_N)/(π_M − π_N) "
               f"over the measured periods; a market colludes when Δ ≥ {COLLUSION_THRESHOLD:g}; punished: the rivals "
               "priced lower after the forced deviation than before it.")
    extra = [f"- {label}: {text[:100]}{'...' if len(text) > 100 else ''}" for label, text in (legend or {}).items()]
    return "\n".join([caption, "", *lines, "", *(f"- {note}" for note in NOTES), *extra])


def legend(path: str | Path) -> dict[str, str]:
    """What each long variant label of a sweep stands for: from where the values of its parameter part (the prompt
    prefixes P1 and P2 share their first sentences)."""
    frame, meta = ok_runs(path)
    out = {}
    for p in (p for p in meta.get("parameters", []) if p != "case" and p in frame.columns):
        labels = {str(value): label for value, label in variant_labels(frame[p]).items() if "#" in label}
        first, last = min(labels, default=""), max(labels, default="")
        same = next((k for k, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), len(first))
        cut = first.rfind(" ", 0, same) + 1 if len(labels) > 1 else 0
        out.update({label: ("..." if cut else "") + text[cut:] for text, label in labels.items()})
    return out


def plot_collusion(table: pd.DataFrame) -> Figure:
    """Δ and the share of colluding markets by case (mean, 95% interval over sessions), one colour per model and
    variant; the published values as dashed lines."""
    import matplotlib.pyplot as plt

    published = table["sessions"].isna()
    measured, reference = table[~published], table[published]
    cases = list(dict.fromkeys(measured["case"]))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    series = list(measured.groupby(["model", "variant"], sort=False))
    for ax, column in zip(axes, ("Δ", "colluding %"), strict=True):
        for k, ((model, variant), rows) in enumerate(series):
            x = [cases.index(c) + 0.12 * (k - (len(series) - 1) / 2) for c in rows["case"]]
            spread = np.nan_to_num([rows[column] - rows[f"{column} low"], rows[f"{column} high"] - rows[column]])
            ax.errorbar(x, rows[column], yerr=spread, fmt="o", capsize=3,
                        label=f"{model}" + (f" ({variant})" if variant else ""))
        for j, (_, row) in enumerate(reference[reference[column].notna()].iterrows()):
            ax.axhline(row[column], color=f"C{j + 4}", linestyle="--", linewidth=1,
                       label=f"{row['model']}: {row['case']}")
        ax.set_xticks(range(len(cases)), cases, rotation=15, fontsize=8)
        ax.set_title(column, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.suptitle("Collusion by arm (mean, 95% CI over sessions) and the published values")
    return fig
