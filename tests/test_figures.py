"""Figures of a run: each environment's headline tells its story, on whole-step axes over the horizon; a run
that ended early says when and why; summary.md records how the run was made, without rounding noise."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection
from matplotlib.container import BarContainer

from sim.numbers import format_number
from sim.plots.run import plot_metrics
from sim.runner import run, simulate
from sim.scenario import load_scenario
from sim.theory.markets import LinearMarket

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def result_of(name: str, *overrides: str):
    return simulate(load_scenario(SCENARIOS / f"{name}.yaml", list(overrides)), progress=False)


def bars(ax) -> dict[str, list[float]]:
    """Bar heights by legend label."""
    return {c.get_label(): [p.get_height() for p in c.patches] for c in ax.containers if isinstance(c, BarContainer)}


def levels(ax, label: str) -> list[float]:
    """The y of every segment of an `hlines` collection with this label."""
    (collection,) = [c for c in ax.collections if isinstance(c, LineCollection) and c.get_label() == label]
    return [float(segment[0][1]) for segment in collection.get_segments()]


def line(ax, label: str):
    (found,) = [ln for ln in ax.get_lines() if ln.get_label() == label]
    return found


def texts(fig) -> str:
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts) + " " + " ".join(
        ax.get_title() for ax in fig.axes)


def assert_step_axis(ax, horizon: int) -> None:
    assert ax.get_xlim() == (0.5, horizon + 0.5)
    ticks = ax.get_xticks()
    assert np.all(ticks == np.round(ticks)) and ticks.min() >= 1 and ticks.max() <= horizon


# -- the commons ---------------------------------------------------------------------------------
def test_a_lake_emptied_in_month_one_is_one_clear_picture_that_says_so():
    result = result_of("commons_rules")  # the greedy fisher asks for the whole lake
    assert len(result.model) == 1
    fig = result.headline()
    (ax,) = fig.axes
    assert_step_axis(ax, 12)
    assert list(ax.get_xticks()) == list(range(1, 13))
    caught = [h for heights in bars(ax).values() for h in heights]
    month1 = result.agents[result.agents["step"] == 1].set_index("agent_id")["catch"]
    assert sorted(caught) == sorted(month1.astype(float))
    assert sum(caught) == 100
    assert levels(ax, "sustainability threshold (most the group may take)") == [50.0]
    assert list(line(ax, "stock at the start").get_ydata()) == [100.0]
    assert "ended in month 1 of 12" in texts(fig).replace("\n", " ")
    assert "the lake collapsed" in texts(fig).replace("\n", " ")
    assert ax.get_ylim()[0] >= 0 and ax.get_ylim()[1] <= 110

    metrics = result.plot()
    visible = [a for a in metrics.axes if a.get_visible()]
    assert len(visible) == 1 and visible[0].tables, "one step is one table, not seven panels of one dot"
    assert "ended in month 1 of 12: the lake collapsed" in visible[0].get_title()


def test_a_sustainable_lake_shows_every_month_under_the_threshold():
    result = result_of("commons_rules", "population.2.policy=sustainable")
    fig = result.headline()
    (ax,) = fig.axes
    assert_step_axis(ax, 12)
    totals = np.sum(list(bars(ax).values()), axis=0)
    assert list(totals) == list(result.model["total_catch"].astype(float))
    assert levels(ax, "sustainability threshold (most the group may take)") == [50.0] * 12
    assert "ended" not in texts(fig)


# -- metrics and agents of any run -----------------------------------------------------------------
def test_metrics_have_whole_step_ticks_and_name_the_constant_columns():
    result = result_of("commons_rules", "population.2.policy=conditional")
    fig = result.plot()
    panels = [a for a in fig.axes if a.get_visible()]
    varying = [c for c in result.model.columns if c != "step" and result.model[c].nunique() > 1]
    assert [a.get_title() for a in panels] == [c.replace("_", " ") for c in varying]
    for ax in panels:
        assert_step_axis(ax, 12)
    footer = fig.get_supxlabel()
    assert "active agents = 5" in footer and "collapsed = 0" in footer


def test_metrics_of_many_steps_thin_the_ticks_but_keep_them_whole():
    table = pd.DataFrame({"step": range(1, 61), "x": np.sin(np.arange(60))})
    from sim.plots.frame import RunFrame

    (ax,) = [a for a in plot_metrics(table, RunFrame("t", 60)).axes if a.get_visible()]
    ticks = ax.get_xticks()
    assert len(ticks) < 15 and np.all(ticks == np.round(ticks))


def test_large_groups_are_drawn_as_a_median_and_a_band():
    result = result_of("commons_rules", "population.0.count=30")
    fig = result.plot_agents()
    labels = [ln.get_label() for ln in fig.axes[0].get_lines()]
    assert "sustainable (median)" in labels
    assert len(fig.axes[0].get_lines()) == 3  # one per group, not one per agent


def test_groups_with_equal_values_are_not_drawn_on_top_of_each_other():
    fig = result_of("commons_rules", "population.2.policy=sustainable").plot_agents()
    xs = {ln.get_label(): ln.get_xdata()[0] for ln in fig.axes[0].get_lines() if not ln.get_label().startswith("_")}
    markers = {ln.get_marker() for ln in fig.axes[0].get_lines()}
    assert len(set(xs.values())) == len(xs) == 3 and len(markers) == 3


# -- the other environments ------------------------------------------------------------------------
def test_public_goods_shows_contributions_and_every_punishment_point():
    result = result_of("public_goods_rules")
    fig = result.headline()
    top, bottom = fig.axes
    assert top.get_ylim()[0] >= -1 and top.get_ylim()[1] <= 20 * 1.1
    labels = {ln.get_label() for ln in top.get_lines()}
    assert {"selfish (mean)", "conditional (mean)", "punishers (mean)", "everyone (mean)"} <= labels
    everyone = line(top, "everyone (mean)").get_ydata()
    assert list(everyone) == list(result.model["mean_contribution"])
    points = result.events[result.events["kind"] == "sanction"].groupby("step")["value"].sum()
    drawn = np.sum(list(bars(bottom).values()), axis=0)
    assert list(drawn) == list(points.reindex(result.model["step"]).fillna(0))
    for ax in fig.axes:
        assert_step_axis(ax, 10)


def test_public_goods_without_punishment_has_one_panel_that_says_so():
    fig = result_of("public_goods_rules", "institutions=[]").headline()
    (ax,) = fig.axes
    assert "no punishment stage" in ax.get_title()


def test_market_is_drawn_against_the_textbook_equilibrium_and_optimum():
    result = result_of("market_rules")
    top, bottom = result.headline().axes
    theory = LinearMarket(100, 10, 10, 10, 25)  # the market_rules schedules: continuous Q* = 4.5, Q° = 3.25
    assert levels(top, "competitive equilibrium") == [5.0] * 10  # unit steps: the 5th buyer (60) >= 5th seller (50)
    assert levels(top, "social optimum (counts the harm)") == [4.0] * 10
    assert theory.optimal_quantity() < 4 <= theory.equilibrium_quantity() < 5
    assert levels(bottom, "competitive equilibrium") == [55.0] * 10
    assert levels(bottom, "at the optimum (tax = damage)") == [67.5] * 10
    assert list(bars(top)["units traded"]) == list(result.model["quantity"].astype(float))


def test_contracts_show_each_contractors_reward_against_its_true_utility():
    result = result_of("contracts_rules", "institutions=[]")
    left, right = result.headline().axes
    paid = [p.get_width() for p in left.containers[0].patches]
    worth = [p.get_width() for p in left.containers[1].patches]
    contractors = result.agents[result.agents["role"] == "contractor"].groupby("agent_id")
    assert paid == list(contractors["specified_reward"].sum())
    assert worth == list(contractors["true_utility"].sum())
    assert any(t < p for p, t in zip(paid, worth, strict=True)), "the literal contractors exploit gaps"
    stacked = np.sum(list(bars(right).values()), axis=0)
    assert list(stacked) == list(result.model["tasks"].astype(float))
    assert list(bars(right)["gap exploited"]) == list(result.model["exploited_gaps"].astype(float))


def test_proxy_task_marks_each_shift_of_the_proxy():
    top, bottom = result_of("proxy_task_rules", "environment.rotate_every=3").headline().axes
    shifts = [ln.get_xdata()[0] for ln in bottom.get_lines() if ln.get_linestyle() == ":"]
    assert shifts == [3.5, 6.5, 9.5, 12.5]
    assert {ln.get_label() for ln in top.get_lines()} >= {"optimisers", "balanced"}


def test_silly_rules_shade_the_collapse_and_draw_the_leaving_threshold():
    result = result_of("silly_rules_rules")
    environment = result.environment
    _, bottom = result.headline().axes
    threshold = line(bottom, "belief above which leaving pays").get_ydata()[0]
    assert threshold == pytest.approx(environment.theory.threshold())
    collapsed = int((result.model["enforcement"] < 0.9).sum())
    assert collapsed == 20 - 11  # the scenario's collapse comes at step 12
    assert len(bottom.patches) == collapsed


# -- summary.md ------------------------------------------------------------------------------------
def test_numbers_lose_their_rounding_noise():
    assert format_number(-5.7e-14) == "0"
    assert format_number(-0.0) == "0"
    assert format_number(0.16666666) == "0.1667"
    assert format_number(float("nan")) == "nan"
    assert format_number(-100) == "-100"


def test_summary_records_seed_and_overrides_without_noise(tmp_path: Path):
    overrides = ["steps=4", "environment.mpcr=0.5"]
    scenario = load_scenario(SCENARIOS / "public_goods_rules.yaml", overrides)
    result = run(scenario, seed=9, out=tmp_path / "r", progress=False)
    text = (tmp_path / "r" / "summary.md").read_text()
    assert "- seed: 9" in text
    assert "- overrides: `--set steps=4` `--set environment.mpcr=0.5`" in text
    assert "e-1" not in text  # no -2.3e-13 for an alignment gap that is zero
    assert "| alignment_gap | 0 |" in text
    assert {p.name for p in (tmp_path / "r" / "plots").iterdir()} == {"headline.png", "metrics.png", "agents.png"}
    assert "![headline](plots/headline.png)" in text
    assert result.manifest["overrides"] == overrides
