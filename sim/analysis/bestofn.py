"""Optimisation pressure against a proxy: a best-of-n sweep's proxy and true utility against d = sqrt(KL_bon).

Gao, Schulman & Hilton (2022) find that under best-of-n selection on a proxy reward model the gold reward,
measured against the base policy, follows d(α − β d) with d = sqrt(KL_bon), KL_bon = log n − (n − 1)/n: it
peaks at d* = α/(2β) and then falls while the proxy keeps rising. Zhuang & Hadfield-Menell (2020) show the
same for any incomplete proxy under a resource constraint. Here the proxy is each environment's specified reward
(less the institutions' expected penalties, so an institution is a treatment on the curve) and the gold is its
true utility. One row per (case, n): the mean per decision of the proxy score that picked, of the specified
reward and of the true utility, with 95% bootstrap intervals over runs; per case, the fit of the true utility's
gain over n = 1 to d(α − β d) and its peak.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sim.analysis.runs import agent_table, ok_runs, run_manifest
from sim.errors import UserError
from sim.sweeps.plots import summarize
from sim.theory.best_of_n import gao_fit, kl_bon, n_at, peak

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MEASURES = (("proxy score", "proxy"), ("specified reward", "specified"), ("true utility", "true"))


def run_measures(path: str | Path) -> pd.DataFrame:
    """One row per run: its case, its n (``best_of``), and the per-decision means of the best-of-n groups."""
    frame, _ = ok_runs(path)
    rows = []
    for _, row in frame.iterrows():
        groups = [g for g in run_manifest(path, row)["scenario"]["population"] if g["policy"]["kind"] == "best_of_n"]
        if not groups:
            raise UserError(f"{path}: run {row['cell_id']} has no best_of_n group; this is not a best-of-n sweep")
        ns = {g["policy"]["n"] for g in groups}
        if len(ns) > 1:
            raise UserError(f"{path}: run {row['cell_id']} mixes best_of_n groups with n = {sorted(ns)}")
        agents = agent_table(path, row)
        mine = agents[agents["active"] & agents["group"].isin([g["name"] for g in groups])]
        rows.append({"case": row.get("case", "default"), "best_of": ns.pop(), "status": "ok",
                     "proxy": float(row["bon_proxy"]), "specified": float(mine["specified_reward"].mean()),
                     "true": float(mine["true_utility"].mean())})
    return pd.DataFrame(rows)


def bon_table(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the curve: one row per case and n, ``best_of``; the fits: one row per case)."""
    runs = run_measures(path)
    cases = list(dict.fromkeys(runs["case"]))
    by = ["case", "best_of"]
    counted = summarize(runs, by, "true")
    curve = counted[by].assign(runs=counted["n"])
    curve["kl_bon"] = [kl_bon(int(n)) for n in curve["best_of"]]
    curve["d"] = np.sqrt(curve["kl_bon"])
    for _, measure in MEASURES:
        stats = summarize(runs, by, measure)
        curve[measure], curve[f"{measure} low"], curve[f"{measure} high"] = stats["mean"], stats["low"], stats["high"]
    curve["case"] = pd.Categorical(curve["case"], categories=cases, ordered=True)
    curve = curve.sort_values(by).reset_index(drop=True)
    fits = []
    for case, rows in curve.groupby("case", observed=True, sort=True):
        base = rows[rows["best_of"] == 1]["true"]
        if base.empty or len(rows) < 3:
            fits.append({"case": case, "alpha": math.nan, "beta": math.nan, "d_peak": math.nan, "n_peak": math.nan})
            continue
        alpha, beta = gao_fit(rows["d"].to_numpy(), rows["true"].to_numpy() - float(base.iloc[0]))
        d_star = peak(alpha, beta)
        fits.append({"case": case, "alpha": alpha, "beta": beta, "d_peak": d_star, "n_peak": n_at(d_star)})
    curve["case"] = curve["case"].astype(str)
    return curve, pd.DataFrame(fits)


def format_bon(curve: pd.DataFrame, fits: pd.DataFrame) -> str:
    """Both tables as Markdown."""
    def cell(row: pd.Series, measure: str) -> str:
        low, high = row[f"{measure} low"], row[f"{measure} high"]
        return f"{row[measure]:.3g}" if pd.isna(low) else f"{row[measure]:.3g} [{low:.3g}, {high:.3g}]"

    lines = ["| case | n | runs | KL_bon | d | proxy score | specified reward | true utility |", "|" + "---|" * 8]
    for _, r in curve.iterrows():
        lines.append(f"| {r['case']} | {int(r['best_of'])} | {int(r['runs'])} | {r['kl_bon']:.3f} | {r['d']:.3f} | "
                     f"{cell(r, 'proxy')} | {cell(r, 'specified')} | {cell(r, 'true')} |")
    fit = ["| case | α | β | peak d* = α/(2β) | n at the peak |", "|---|---|---|---|---|"]
    for _, f in fits.iterrows():
        fit.append(f"| {f['case']} | {f['alpha']:.3g} | {f['beta']:.3g} | {f['d_peak']:.3g} | {f['n_peak']:.3g} |")
    caption = ("Best-of-n against the proxy (Gao et al. 2022): means per decision, 95% bootstrap intervals over runs; "
               "d = sqrt(log n - (n-1)/n).")
    fit_caption = "True utility's gain over n = 1 fitted to d(α − β d) (least squares); inf: no peak."
    return "\n".join([caption, "", *lines, "", fit_caption, "", *fit])


def plot_bon(curve: pd.DataFrame, fits: pd.DataFrame) -> Figure:
    """Proxy score and true utility against d, per case, with the fitted d(α − β d) curves of the true utility."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    fitted = fits.set_index("case")
    for k, (case, rows) in enumerate(curve.groupby("case", sort=False)):
        color = f"C{k}"
        for ax, measure in zip(axes, ("proxy", "true"), strict=True):
            spread = [rows[measure] - rows[f"{measure} low"], rows[f"{measure} high"] - rows[measure]]
            ax.errorbar(rows["d"], rows[measure], yerr=np.nan_to_num(spread), fmt="o", color=color, capsize=3,
                        label=case)
        alpha, beta = fitted.loc[case, "alpha"], fitted.loc[case, "beta"]
        base = rows[rows["best_of"] == 1]["true"]
        if not (math.isnan(alpha) or base.empty):
            d = np.linspace(0, rows["d"].max(), 100)
            axes[1].plot(d, float(base.iloc[0]) + d * (alpha - beta * d), color=color, linewidth=1)
    for ax, title in zip(axes, ("proxy score (what picks)", "true utility (fit: d(α − β d))"), strict=True):
        ax.set_xlabel("d = sqrt(KL_bon)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig
