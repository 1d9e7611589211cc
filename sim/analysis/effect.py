"""A treatment's effect on what agents do: the distance between two arms' action distributions.

The seed paper proposes measuring a constitution's effect as a distance between output distributions (Stańczak
et al. 2025, claim C7). Each arm is a set of runs (one per seed); an action field's distribution in an arm pools
every decision of its runs. The distance is Jensen-Shannon (base 2, in [0, 1]) for discrete actions (yes/no,
choices) and Wasserstein-1 (in the action's units) for numeric ones. Decisions within a run are not
independent, so uncertainty is over runs: a bootstrap that resamples each arm's runs with replacement gives the
confidence interval, and a permutation test that reassigns whole runs between the arms gives the p-value of the
null "the treatment changes nothing" (exact over every reassignment when there are few enough). Arms that ran on
the same seeds (a sweep's common random numbers) are paired: the bootstrap resamples seeds, and the permutation
swaps a seed's two runs between the arms or not.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon

from sim.analysis.runs import agent_table, ok_runs
from sim.errors import UserError
from sim.registry import closest

if TYPE_CHECKING:
    from matplotlib.axes import Axes

Arm = Sequence[np.ndarray]  # one array of action values per run


def js_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Jensen-Shannon divergence (base 2) between the empirical distributions of two samples of labels."""
    labels = sorted(set(a.tolist()) | set(b.tolist()), key=str)
    p = np.array([np.sum(a == v) for v in labels], dtype=float)
    q = np.array([np.sum(b == v) for v in labels], dtype=float)
    return float(jensenshannon(p / p.sum(), q / q.sum(), base=2) ** 2)


def w1_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Wasserstein-1 (earth mover's) distance between two samples of numbers, in their units: the area between
    their empirical CDFs (what `scipy.stats.wasserstein_distance` computes, a few times faster in 1-D)."""
    u, v = np.sort(a.astype(float)), np.sort(b.astype(float))
    points = np.sort(np.concatenate([u, v]))
    cdf_u = np.searchsorted(u, points[:-1], side="right") / len(u)
    cdf_v = np.searchsorted(v, points[:-1], side="right") / len(v)
    return float(np.sum(np.abs(cdf_u - cdf_v) * np.diff(points)))


DISTANCES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {"js": js_distance, "w1": w1_distance}


def kind_of(values: np.ndarray) -> str:
    """``w1`` for numbers, ``js`` for anything discrete (booleans, labels)."""
    if values.dtype == bool or not np.issubdtype(values.dtype, np.number):
        return "js"
    return "w1"


@dataclass(frozen=True)
class Effect:
    """The distance between two arms, its bootstrap interval over runs, and its permutation p-value."""

    metric: str
    distance: float
    low: float
    high: float
    p_value: float
    runs: tuple[int, int]
    decisions: tuple[int, int]


def _pooled(arm: Arm, picks: Sequence[int] | None = None) -> np.ndarray:
    runs = arm if picks is None else [arm[i] for i in picks]
    return np.concatenate(list(runs)) if len(runs) else np.array([])


def compare(
    baseline: Arm, treatment: Arm, metric: str | None = None, bootstrap: int = 1000, permutations: int = 2000,
    level: float = 0.95, seed: int = 0, paired: bool = False,
) -> Effect:
    """The effect of the treatment on one action field: distance, bootstrap CI over runs, permutation p-value.

    ``paired``: run i of each arm ran on the same seed (a sweep's common random numbers), so the bootstrap
    resamples seeds, keeping both arms' runs of a seed together; otherwise it resamples each arm on its own.
    """
    if not baseline or not treatment:
        raise ValueError("each arm needs at least one run")
    n_a, n_b = len(baseline), len(treatment)
    if paired and n_a != n_b:
        raise ValueError("paired arms need the same number of runs")
    both = np.concatenate([*baseline, *treatment])
    metric = metric or kind_of(both)
    distance = DISTANCES[metric]
    observed = distance(_pooled(baseline), _pooled(treatment))
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(bootstrap):
        picks_a = rng.integers(n_a, size=n_a)
        picks_b = picks_a if paired else rng.integers(n_b, size=n_b)
        boot.append(distance(_pooled(baseline, picks_a), _pooled(treatment, picks_b)))
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2]) if boot else (math.nan, math.nan)
    as_extreme, splits, exact = _permutation_null(baseline, treatment, distance, observed, permutations, paired, rng)
    p_value = as_extreme / splits if exact else (1 + as_extreme) / (1 + splits)
    return Effect(metric, observed, float(low), float(high), float(p_value), (n_a, n_b),
                  (sum(len(r) for r in baseline), sum(len(r) for r in treatment)))


def _permutation_null(
    baseline: Arm, treatment: Arm, distance: Callable[[np.ndarray, np.ndarray], float], observed: float,
    permutations: int, paired: bool, rng: np.random.Generator,
) -> tuple[int, int, bool]:
    """How many reassignments of runs to arms give a distance at least the observed one, out of how many, and
    whether those were all of them. Paired: a seed's two runs swap arms or not (2^n reassignments); unpaired:
    any split of all runs into arms of the given sizes."""
    runs, n_a, n_b = [*baseline, *treatment], len(baseline), len(treatment)
    if paired:
        exact = 2 ** n_a <= permutations
        flips = itertools.product((False, True), repeat=n_a) if exact else (
            tuple(rng.integers(2, size=n_a).astype(bool)) for _ in range(permutations))
        firsts = ([i + n_a if flip else i for i, flip in enumerate(pattern)] for pattern in flips)
    else:
        exact = math.comb(n_a + n_b, n_a) <= permutations
        firsts = (list(c) for c in itertools.combinations(range(n_a + n_b), n_a)) if exact else (
            list(rng.permutation(n_a + n_b)[:n_a]) for _ in range(permutations))
    as_extreme = splits = 0
    for first in firsts:
        chosen = set(first)
        rest = [i for i in range(n_a + n_b) if i not in chosen]
        as_extreme += distance(_pooled(runs, first), _pooled(runs, rest)) >= observed - 1e-12
        splits += 1
    return as_extreme, splits, exact


def effect_frame(
    arms: dict[str, dict[str, dict[int, np.ndarray]]], baseline: str, metrics: dict[str, str] | None = None,
    **options: object,
) -> pd.DataFrame:
    """One row per (treatment arm, action field): ``arms`` maps arm name -> field -> seed -> that run's values.
    Two arms that ran on the same seeds are compared seed by seed (a paired bootstrap)."""
    rows = []
    for arm, fields in arms.items():
        if arm == baseline:
            continue
        for field, runs in fields.items():
            if field not in arms[baseline]:
                continue
            base = arms[baseline][field]
            paired = set(base) == set(runs)
            seeds = sorted(runs)
            first = [base[s] for s in seeds] if paired else list(base.values())
            effect = compare(first, [runs[s] for s in seeds], (metrics or {}).get(field), paired=paired,
                             **options)  # type: ignore[arg-type]
            rows.append({
                "baseline": baseline, "treatment": arm, "action": field, "distance": effect.metric,
                "value": effect.distance, "ci_low": effect.low, "ci_high": effect.high, "p_value": effect.p_value,
                "runs_baseline": effect.runs[0], "runs_treatment": effect.runs[1],
                "decisions_baseline": effect.decisions[0], "decisions_treatment": effect.decisions[1],
            })
    return pd.DataFrame(rows)


def sweep_arms(path: str | Path, groups: Sequence[str] = ()) -> dict[str, dict[str, dict[int, np.ndarray]]]:
    """Every case of a sweep as an arm: action field (``act_*`` columns, without the prefix) -> run seed -> the
    run's values, over the active agents (of ``groups`` only, if given)."""
    frame, _ = ok_runs(path)
    if "case" not in frame.columns:
        raise UserError(f"{path}: the sweep has no cases to compare (give its sweep: block cases, e.g. "
                        "without: {} and with: {institutions: [...]})")
    arms: dict[str, dict[str, dict[int, np.ndarray]]] = {}
    for _, row in frame.iterrows():
        agents = agent_table(path, row)
        agents = agents[agents["active"]]
        if groups:
            agents = agents[agents["group"].isin(groups)]
        fields = arms.setdefault(str(row["case"]), {})
        for column in (c for c in agents.columns if c.startswith("act_")):
            values = agents[column].dropna().to_numpy()
            if len(values):
                fields.setdefault(column.removeprefix("act_"), {})[int(row["seed"])] = values
    return arms


def effect_table(path: str | Path, baseline: str | None = None, groups: Sequence[str] = (),
                 **options: object) -> pd.DataFrame:
    """Each case's effect against ``baseline`` (default: the sweep's first case), per action field."""
    arms = sweep_arms(path, groups)
    baseline = baseline or next(iter(arms))
    if baseline not in arms:
        raise UserError(f"--baseline {baseline}: no such case{closest(baseline, list(arms))}; "
                        f"the sweep has: {', '.join(arms)}")
    return effect_frame(arms, baseline, **options)


def format_effect(table: pd.DataFrame) -> str:
    """The effect table as Markdown."""
    header = "| treatment | baseline | action | distance | value | 95% CI | p (permutation) | runs | decisions |"
    lines = [header, "|" + "---|" * 9]
    for _, r in table.iterrows():
        name = "Jensen-Shannon" if r["distance"] == "js" else "Wasserstein-1"
        lines.append(f"| {r['treatment']} | {r['baseline']} | {r['action']} | {name} | {r['value']:.4g} | "
                     f"[{r['ci_low']:.3g}, {r['ci_high']:.3g}] | {r['p_value']:.3g} | "
                     f"{r['runs_treatment']} vs {r['runs_baseline']} | "
                     f"{r['decisions_treatment']} vs {r['decisions_baseline']} |")
    caption = ("Effect on the action distribution: distance between the arms (Jensen-Shannon, base 2, for discrete "
               "actions; Wasserstein-1 in the action's units for numeric ones), bootstrap CI over runs, permutation "
               "p-value of no effect (runs reassigned between arms).")
    return "\n".join([caption, "", *lines])


def plot_arms(arms: dict[str, dict[str, dict[int, np.ndarray]]], action: str, table: pd.DataFrame | None = None,
              ax: Axes | None = None) -> Axes:
    """Each arm's distribution of one action (empirical CDF for numbers, bar shares for labels), with each
    treatment's distance and p-value from `effect_table` in the legend."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(5, 3.4))[1]
    rows = {} if table is None else {r["treatment"]: r for _, r in table[table["action"] == action].iterrows()}
    pooled = {arm: np.concatenate(list(fields[action].values())) for arm, fields in arms.items() if action in fields}
    discrete = kind_of(np.concatenate(list(pooled.values()))) == "js"
    labels = sorted(set(np.concatenate(list(pooled.values())).tolist()), key=str) if discrete else []
    for k, (arm, values) in enumerate(pooled.items()):
        row = rows.get(arm)
        note = "" if row is None else f" ({row['distance']} {row['value']:.3g}, p {row['p_value']:.2g})"
        if discrete:
            shares = [float(np.mean(values == v)) for v in labels]
            ax.bar(np.arange(len(labels)) + 0.8 * k / len(pooled), shares, width=0.8 / len(pooled), label=arm + note)
        else:
            x = np.sort(values.astype(float))
            ax.step(x, np.arange(1, len(x) + 1) / len(x), where="post", label=arm + note)
    if discrete:
        ax.set_xticks(np.arange(len(labels)) + 0.4 - 0.4 / len(pooled), [str(v) for v in labels])
    ax.set_xlabel(action)
    ax.set_ylabel("share" if discrete else "cumulative share")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return ax
