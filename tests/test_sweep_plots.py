"""Sweep figures: intervals within the metric's range, few replications warned about, undefined and constant
metrics handled and named, titles that do not collide, and no group's line hidden under another's."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim.sweeps.plots import (
    FewReplicationsWarning,
    choose_metrics,
    heatmaps_figure,
    left_out_metrics,
    metrics_figure,
    plot_metric,
    plot_results,
    summarize,
)
from sim.sweeps.results import write_results

SURVIVAL = [1.0, 1.0, 12.0, 1.0, 12.0]  # months a lake lasted in five runs: 1 (collapse) or 12 (all of them)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def table(replications: int = 5) -> pd.DataFrame:
    """A results table: parameter ``env.x`` in 1, 2, 3 and ``env.g`` in a, b; per run a survival time (1 or
    12), a rate undefined in most runs, a constant and a metric undefined everywhere."""
    rows = []
    for x in (1.0, 2.0, 3.0):
        for g in ("a", "b"):
            for r in range(replications):
                rows.append({"env.x": x, "env.g": g, "replication": r, "status": "ok",
                             "survival_time": SURVIVAL[r % len(SURVIVAL)],
                             "exploitation": 0.5 if (x == 1.0 and r < 3) else float("nan"),
                             "steps_run": 12.0, "exit_delay": float("nan"), "same": 2.0 * x})
    return pd.DataFrame(rows)


def errorbar_extent(ax) -> list[tuple[float, float]]:
    """(low, high) of every drawn interval."""
    spans = []
    for container in ax.containers:
        for collection in container.lines[2]:
            spans += [(min(s[0][1], s[1][1]), max(s[0][1], s[1][1])) for s in collection.get_segments()
                      if len(s) and not np.isnan(s).any()]
    return spans


def test_bootstrap_intervals_stay_within_the_values_runs_took():
    summary = summarize(table(), ["env.x"], "survival_time")
    assert (summary["low"] >= 1).all() and (summary["high"] <= 12).all()
    assert (summary["low"] < summary["mean"]).all() and (summary["mean"] < summary["high"]).all()
    t_low = np.mean(SURVIVAL) - stats.t.ppf(0.975, 4) * np.std(SURVIVAL, ddof=1) / np.sqrt(5)
    assert t_low < 0, "the t-interval this replaces ran below zero months"
    assert summarize(table(), ["env.x"], "survival_time").equals(summary), "seeded: the same table, the same interval"
    ax = plot_metric(table(), "env.x", "survival_time")
    spans = errorbar_extent(ax)
    assert len(spans) == 3 and all(low >= 1 and high <= 12 for low, high in spans)


def test_fewer_than_three_replications_warn_and_draw_no_interval():
    with pytest.warns(FewReplicationsWarning, match="fewer than 3 runs"):
        ax = plot_metric(table(replications=2), "env.x", "survival_time", by="env.g")
    assert errorbar_extent(ax) == []
    assert any("no interval" in t.get_text() for t in ax.texts)
    summary = summarize(table(replications=2), ["env.x", "env.g"], "survival_time")
    assert summary["low"].isna().all() and (summary["n"] == 2).all()
    pooled = summarize(table(replications=2), ["env.x"], "survival_time")  # 4 runs a point once groups pool
    assert pooled["low"].notna().all()
    with warnings.catch_warnings():
        warnings.simplefilter("error", FewReplicationsWarning)
        plot_metric(table(replications=3), "env.x", "survival_time", by="env.g")


def test_a_mostly_undefined_metric_is_plotted_where_defined_and_says_how_often():
    frame = table()
    ax = plot_metric(frame, "env.x", "exploitation")
    assert "undefined in 24 of 30 runs" in ax.get_title()
    (line,) = ax.get_lines()[:1]
    y = line.get_ydata()
    assert y[0] == 0.5 and np.isnan(y[1:]).all()
    summary = summarize(frame, ["env.x"], "exploitation")
    assert list(summary["n"]) == [6, 0, 0] and list(summary["undefined"]) == [4, 10, 10]


def test_constant_and_undefined_metrics_are_left_out_and_named():
    frame = table()
    parameters = ["env.x", "env.g"]
    assert left_out_metrics(frame, parameters) == {"steps_run": "12", "exit_delay": "undefined"}
    assert choose_metrics(frame, None, parameters) == ["survival_time", "exploitation", "same"]
    fig = metrics_figure(frame, "env.x", ["survival_time"], None, "t",
                         footer="not shown: constant in every run: steps_run = 12; undefined in every run: exit_delay")
    assert "steps_run = 12" in fig.get_supxlabel() and "exit_delay" in fig.get_supxlabel()


def test_the_figure_title_sits_above_every_panel_title():
    frame = table()
    for fig in (metrics_figure(frame, "env.x", ["survival_time", "same"], "env.g", "a sweep: metrics against env.x"),
                heatmaps_figure(frame, "env.x", "env.g", ["survival_time", "same"], "a sweep: env.g by env.x")):
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        top = fig._suptitle.get_window_extent(renderer)
        for ax in fig.axes:
            if ax.get_title():
                assert ax.title.get_window_extent(renderer).y1 <= top.y0


def test_equal_groups_are_drawn_side_by_side_with_their_own_markers():
    frame = table()  # "same" is equal for both groups
    ax = plot_metric(frame, "env.x", "same", by="env.g")
    first, second = (c.lines[0] for c in ax.containers)
    assert list(first.get_ydata()) == list(second.get_ydata())
    assert (np.asarray(first.get_xdata()) < np.asarray(second.get_xdata())).all()
    assert first.get_marker() != second.get_marker() and first.get_linestyle() != second.get_linestyle()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["env.g = a", "env.g = b"]


def test_plot_results_warns_once_and_names_every_metric_it_concerns(tmp_path: Path):
    frame = table(replications=2)
    frame.insert(0, "cell_id", [f"c{i}" for i in range(len(frame))])
    write_results(frame, tmp_path / "results.parquet", {"name": "t", "parameters": ["env.x", "env.g"],
                                                        "grid": ["env.x", "env.g"]})
    with pytest.warns(FewReplicationsWarning) as caught:
        written = plot_results(tmp_path)  # against env.x, one line per env.g: 2 runs a point
    assert len(caught) == 1 and "of exploitation, same:" in str(caught[0].message)  # survival_time: constant
    assert {p.name for p in written} == {"env.x.png", "env.g.png", "heatmap_env.x_env.g.png"}
