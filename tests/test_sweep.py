"""Sweeps: the spec and its errors, the plan, resumable runs, failures, reproducibility, executors, plots."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.cli import main
from sim.errors import UserError
from sim.sweeps.api import merge_spec, sweep
from sim.sweeps.plan import build_plan, replication_seed, sample_points
from sim.sweeps.plots import plot_results
from sim.sweeps.results import TIMING_COLUMNS, read_results
from sim.sweeps.source import ScenarioSource
from sim.sweeps.spec import SampleSpec, SweepSpec

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = ROOT / "scenarios" / "contracts_rules.yaml"
SWEEP_FILE = ROOT / "scenarios" / "contracts_sweep.yaml"
ALIGNSIM = [sys.executable, "-m", "sim.cli"]
COSTLY_COURT = ["institutions.0.filing_cost=10"]
GRID = {"environment.completeness": [0.25, 1.0], "institutions.1.visibility": [0.0, 1.0]}


def _comparable(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=list(TIMING_COLUMNS)).reset_index(drop=True)


def _scenario_with_sweep(tmp_path: Path, block: str) -> Path:
    path = tmp_path / "swept.yaml"
    path.write_text(CONTRACTS.read_text() + "sweep:\n" + block)
    return path


# --- the spec ---------------------------------------------------------------------------------------------


def test_scenario_file_sweep_block_is_typed():
    scenario = sim.load_scenario(SWEEP_FILE)
    assert isinstance(scenario.sweep, SweepSpec)
    assert scenario.sweep.grid["environment.completeness"] == [0.25, 0.5, 0.75, 1.0]
    plan = build_plan(ScenarioSource.load(SWEEP_FILE), scenario.sweep)
    assert len(plan.cells) == 4 * 2 * 3
    assert len({c.cell_id for c in plan.cells}) == len(plan.cells)


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ("  grid:\n    environment.completeness: []\n", "sweep.grid: grid 'environment.completeness' has no values"),
        ("  grid:\n    seed: [1, 2]\n", "cannot be swept: set sweep.replications"),
        ("  replications: 0\n", "sweep.replications: Input should be greater than or equal to 1"),
        ("  sample:\n    n: 4\n    ranges:\n      environment.price: [5, 5]\n", "low must be below high"),
        ("  grids: {}\n", "unknown key 'grids' (did you mean 'grid'?)"),
    ],
)
def test_bad_sweep_block_is_located(tmp_path: Path, block: str, expected: str):
    with pytest.raises(UserError) as info:
        sim.load_scenario(_scenario_with_sweep(tmp_path, block))
    assert "swept.yaml, line " in str(info.value) and expected in str(info.value)


def test_unknown_or_invalid_swept_path_names_the_sweep_entry(tmp_path: Path):
    path = _scenario_with_sweep(tmp_path, "  grid:\n    environment.completness: [0.5]\n")
    source = ScenarioSource.load(path)
    with pytest.raises(UserError) as info:
        build_plan(source, source.base().sweep)
    message = str(info.value)
    assert re.search(r"swept.yaml, line \d+: sweep.grid 'environment.completness': value 0.5: ", message)
    assert "unknown key 'completness' (did you mean 'completeness'?)" in message
    path = _scenario_with_sweep(tmp_path, "  grid:\n    environment.completeness: [0.5, 2]\n")
    source = ScenarioSource.load(path)
    with pytest.raises(UserError, match=r"value 2: environment.completeness: Input should be less than or equal"):
        build_plan(source, source.base().sweep)


def test_merge_spec_adds_command_line_parts_and_rejects_an_empty_sweep():
    base = SweepSpec(grid={"a.b": [1]}, sample=SampleSpec(n=2, ranges={"c.d": [0, 1]}))
    merged = merge_spec(base, grid={"e.f": [1, 2]}, sample={"ranges": {"g.h": [1.0, 2.0]}}, replications=3)
    assert list(merged.grid) == ["a.b", "e.f"] and set(merged.sample.ranges) == {"c.d", "g.h"}
    assert merged.sample.n == 2 and merged.replications == 3
    with pytest.raises(UserError, match="nothing to sweep"):
        merge_spec(None)
    with pytest.raises(UserError, match=r"grid 'x\.y' repeats 1"):
        merge_spec(None, grid={"x.y": [1, 1]})


# --- the plan ---------------------------------------------------------------------------------------------


def test_replication_seeds_are_derived_from_the_base_seed():
    assert replication_seed(11, 0) == 11
    seeds = [replication_seed(11, r) for r in range(5)]
    assert len(set(seeds)) == 5 and seeds == [replication_seed(11, r) for r in range(5)]
    assert seeds[1:] != [replication_seed(12, r) for r in range(1, 5)]


def test_latin_hypercube_hits_every_stratum_once_and_is_seeded():
    spec = SampleSpec(method="lhs", n=10, ranges={"a.x": [0.0, 1.0], "a.k": [1, 10], "a.l": {"low": 1, "high": 100,
                                                                                              "log": True}})
    points = sample_points(spec, seed=5)
    assert points == sample_points(spec, seed=5) and points != sample_points(spec, seed=6)
    strata = sorted(int(p["a.x"] * 10) for p in points)
    assert strata == list(range(10))
    assert sorted(p["a.k"] for p in points) == list(range(1, 11))
    assert all(isinstance(p["a.k"], int) for p in points)
    assert sorted(int(np.log10(p["a.l"]) * 5) for p in points) == list(range(10))
    uniform = sample_points(SampleSpec(method="random", n=50, ranges={"a.x": [2.0, 3.0]}), seed=1)
    assert all(2.0 <= p["a.x"] <= 3.0 for p in uniform)


def test_cell_identity_follows_the_base_scenario(tmp_path: Path):
    spec = SweepSpec(grid={"environment.completeness": [0.5]}, replications=2)
    ids = [c.cell_id for c in build_plan(ScenarioSource.load(CONTRACTS), spec).cells]
    assert ids == [c.cell_id for c in build_plan(ScenarioSource.load(CONTRACTS), spec).cells]
    changed = build_plan(ScenarioSource.load(CONTRACTS, ["steps=5"]), spec).cells
    assert not set(ids) & {c.cell_id for c in changed}
    elsewhere = build_plan(ScenarioSource.load(CONTRACTS, ["output.dir=elsewhere", "description=new"]), spec).cells
    assert ids == [c.cell_id for c in elsewhere]


# --- running ----------------------------------------------------------------------------------------------


def test_sweep_runs_every_cell_reproducibly_and_resumes(tmp_path: Path):
    table = sweep(CONTRACTS, overrides=COSTLY_COURT, grid=GRID, replications=2, out=tmp_path / "a", progress=False)
    assert len(table) == 8 and (table["status"] == "ok").all()
    assert list(table.columns[:5]) == ["cell_id", *GRID, "replication", "seed"]
    assert set(table["seed"]) == {11, replication_seed(11, 1)}
    assert {"alignment_gap", "gap_exploitation_rate", "elapsed_s"} <= set(table.columns)
    assert sorted(p.name for p in (tmp_path / "a" / "runs").iterdir()) == sorted(table["cell_id"])
    # the table on disk is the table returned; its metadata names the parameters
    on_disk, meta = read_results(tmp_path / "a")
    pd.testing.assert_frame_equal(_comparable(on_disk), _comparable(table), check_dtype=False)
    assert meta["parameters"] == list(GRID) and "alignment_gap" in meta["metrics"]
    # the same sweep elsewhere gives the same table
    again = sweep(CONTRACTS, overrides=COSTLY_COURT, grid=GRID, replications=2, out=tmp_path / "b", progress=False)
    pd.testing.assert_frame_equal(_comparable(again), _comparable(table))
    # visible ratings shrink the exploitation of an incomplete contract (the court is too costly here)
    gaps = table[table["environment.completeness"] == 0.25].groupby("institutions.1.visibility")["alignment_gap"]
    assert gaps.mean()[1.0] > gaps.mean()[0.0]
    # rerunning runs nothing; one more replication runs only the new cells
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "a" / "runs").iterdir()}
    sweep(CONTRACTS, overrides=COSTLY_COURT, grid=GRID, replications=2, out=tmp_path / "a", progress=False)
    more = sweep(CONTRACTS, overrides=COSTLY_COURT, grid=GRID, replications=3, out=tmp_path / "a", progress=False)
    assert len(more) == 12
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "a" / "runs").iterdir() if p.name in stamps} == stamps


def test_a_failing_cell_is_recorded_and_does_not_stop_the_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import sim.runner

    real_run = sim.runner.run

    def flaky(scenario, **kwargs):
        if scenario.environment.completeness == 1.0:
            raise RuntimeError("the court burned down")
        return real_run(scenario, **kwargs)

    monkeypatch.setattr(sim.runner, "run", flaky)
    grid = {"environment.completeness": [0.5, 1.0, 0.25]}
    table = sweep(CONTRACTS, grid=grid, out=tmp_path, progress=False)
    assert list(table["status"]) == ["ok", "error", "ok"]
    assert table["error"][1] == "RuntimeError: the court burned down"
    assert (tmp_path / "errors" / f"{table['cell_id'][1]}.json").is_file()
    monkeypatch.setattr(sim.runner, "run", real_run)
    assert list(sweep(CONTRACTS, grid=grid, out=tmp_path, progress=False)["status"]) == ["ok", "error", "ok"]
    fixed = sweep(CONTRACTS, grid=grid, out=tmp_path, progress=False, retry_failed=True)
    assert (fixed["status"] == "ok").all()
    assert not list((tmp_path / "errors").glob("*.json"))


@pytest.mark.slow
def test_killed_sweep_resumes_with_each_cell_exactly_once(tmp_path: Path):
    """Kill the CLI (two worker processes) after a few cells, rerun it: the result equals an uninterrupted sweep."""
    args = [*ALIGNSIM, "sweep", str(CONTRACTS), "--set", "steps=60", "--grid",
            "environment.completeness=0.25,0.5,0.75", "--replications", "2", "--workers", "2", "-q"]
    runs = tmp_path / "killed" / "runs"
    process = subprocess.Popen([*args, "--out", str(tmp_path / "killed")], cwd=ROOT, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(runs.glob("[!.]*"))) < 1:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished_before = {p.name: p.stat().st_mtime_ns for p in runs.glob("[!.]*")}
    assert 1 <= len(finished_before) < 6
    rerun = subprocess.run([*args, "--out", str(tmp_path / "killed")], cwd=ROOT, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert {p.name: p.stat().st_mtime_ns for p in runs.iterdir() if p.name in finished_before} == finished_before
    assert not list(runs.glob(".*")), "half-written run directories were left behind"
    resumed, _ = read_results(tmp_path / "killed")
    whole = sweep(CONTRACTS, overrides=["steps=60"], grid={"environment.completeness": [0.25, 0.5, 0.75]},
                  replications=2, out=tmp_path / "whole", progress=False)
    assert len(resumed) == 6 and resumed["cell_id"].is_unique
    pd.testing.assert_frame_equal(_comparable(resumed), _comparable(whole), check_dtype=False)


@pytest.mark.slow
def test_ray_executor_gives_the_same_table(tmp_path: Path):
    pytest.importorskip("ray")
    grid = {"environment.completeness": [0.25, 1.0]}
    local = sweep(CONTRACTS, grid=grid, out=tmp_path / "inline", progress=False)
    on_ray = sweep(CONTRACTS, grid=grid, out=tmp_path / "ray", executor="ray", workers=2, progress=False)
    pd.testing.assert_frame_equal(_comparable(on_ray), _comparable(local))


# --- the command line -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--grid", "environment.completeness=0.5,1", "--workers", "0"],
         "argument --workers: expected an integer of at least 1, got '0'"),
        (["--grid", "environment.nope=1,2"], "unknown key 'nope'"),
        (["--grid", "environment.completeness"], "--grid environment.completeness: expected PATH=V1,V2"),
        (["--range", "environment.completeness=0,1"], "--range needs --samples N"),
        (["--grid", "environment.completeness=0.5,1", "--address", "1.2.3.4:6379"], "--address names a Ray cluster"),
        ([], "nothing to sweep"),
    ],
)
def test_bad_arguments_exit_2_and_write_nothing(tmp_path: Path, capsys, extra: list[str], expected: str):
    out = tmp_path / "out"
    assert main(["sweep", str(CONTRACTS), "--out", str(out), *extra]) == 2
    assert expected in capsys.readouterr().err
    assert not out.exists()


def test_unreachable_server_exits_2_and_writes_nothing(tmp_path: Path, capsys):
    out = tmp_path / "out"
    code = main(["sweep", str(ROOT / "scenarios" / "commons.yaml"), "--grid", "llm.temperature=0,0.5",
                 "--server", "http://127.0.0.1:9", "--out", str(out)])
    assert code == 2
    assert "--server http://127.0.0.1:9: not reachable" in capsys.readouterr().err
    assert not out.exists()


def test_cli_sweep_and_plot(tmp_path: Path, capsys):
    out = tmp_path / "sweep"
    assert main(["sweep", str(SWEEP_FILE), "--set", "steps=5", "--replications", "2", "--workers", "1", "--out",
                 str(out), "-q"]) == 0
    assert "16 runs ok, 0 failed" in capsys.readouterr().out
    assert main(["plot", str(out / "results.parquet"), "--metric", "alignment_gap"]) == 0
    written = capsys.readouterr().out.split()
    assert {Path(p).name for p in written} == {
        "environment.completeness.png", "institutions.1.visibility.png",
        "heatmap_environment.completeness_institutions.1.visibility.png",
    }
    assert all(Path(p).stat().st_size > 10_000 for p in written)
    assert main(["plot", str(out), "--metric", "alignment_gap_x"]) == 2
    assert "no such metric (did you mean 'alignment_gap'?)" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "missing")]) == 2


def test_sampled_sweep_plots_every_run(tmp_path: Path):
    table = sweep(CONTRACTS, sample={"n": 14, "ranges": {"environment.completeness": [0.1, 1.0]}},
                  out=tmp_path, progress=False)
    assert len(table) == 14 and table["environment.completeness"].nunique() == 14
    assert [p.name for p in plot_results(tmp_path)] == ["environment.completeness.png"]


def test_sweep_is_exported_from_sim():
    assert sim.sweep is sweep and callable(sim.read_results)


# --- LLM --------------------------------------------------------------------------------------------------

COMMONS_LLM = ROOT / "scenarios" / "commons.yaml"
TINY_LLM = ["steps=1", "talk.rounds=0", "llm.max_tokens=64"]


@pytest.mark.slow
def test_llm_cells_share_one_server_and_one_cache(tmp_path: Path):
    """Two cells in two processes send to one (fake) server; a second sweep is answered from the shared cache."""
    from tests.llm.fakes import FakeChatServer

    kwargs = {"grid": {"llm.temperature": [0.0, 0.7]}, "overrides": [*TINY_LLM, f"llm.cache={tmp_path / 'c.sqlite'}"],
              "workers": 2, "progress": False}
    with FakeChatServer().running() as server:
        first = sweep(COMMONS_LLM, server=server.url, out=tmp_path / "first", **kwargs)
        asked = len(server.bodies)
        second = sweep(COMMONS_LLM, server=server.url, out=tmp_path / "second", **kwargs)
        assert len(server.bodies) == asked
    assert (first["status"] == "ok").all() and (second["status"] == "ok").all(), first["error"].tolist()
    assert asked >= 2 * 5 and {b["temperature"] for b in server.bodies} == {0.0, 0.7}
    pd.testing.assert_frame_equal(_comparable(first), _comparable(second))


def test_an_llm_sweep_without_a_server_starts_one_for_all_cells(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from sim.llm import server as launcher
    from tests.llm.fakes import FakeChatServer

    fake = FakeChatServer()
    started: list[tuple[str, dict]] = []

    class FakeLauncher:
        def __init__(self, model: str, **kwargs: object) -> None:
            started.append((model, kwargs))
            self.url = fake.url
            self._running = fake.running()

        def __enter__(self) -> FakeLauncher:
            self._running.__enter__()
            return self

        def __exit__(self, *exc: object) -> None:
            self._running.__exit__(*exc)

    monkeypatch.setattr(launcher, "VLLMServer", FakeLauncher)
    table = sweep(COMMONS_LLM, grid={"llm.temperature": [0.0, 0.7]}, overrides=[*TINY_LLM, "llm.cache=null"],
                  out=tmp_path, progress=False)
    assert (table["status"] == "ok").all() and len(fake.bodies) >= 10
    assert [m for m, _ in started] == ["smollm2-135m"]
    assert started[0][1]["log_path"] == tmp_path.resolve() / "vllm-server.log"
    with pytest.raises(UserError, match=r"llm\.model varies: a, b"):
        sweep(COMMONS_LLM, grid={"llm.model": ["a", "b"]}, overrides=TINY_LLM, out=tmp_path / "two", progress=False)
    assert not (tmp_path / "two").exists()


@pytest.mark.llm
def test_llm_sweep_shares_one_server_and_one_cache(vllm_server: str, tmp_path: Path):
    """Two LLM cells at once on one server; a second sweep over the same cells answers only from the cache."""
    overrides = ["steps=1", "talk.rounds=0", "llm.max_tokens=64", f"llm.cache={tmp_path / 'cache.sqlite'}"]
    kwargs = {"grid": {"llm.temperature": [0.0, 0.7]}, "overrides": overrides, "server": vllm_server,
              "workers": 2, "progress": False}
    first = sweep(ROOT / "scenarios" / "commons.yaml", out=tmp_path / "first", **kwargs)
    assert (first["status"] == "ok").all(), first["error"].tolist()
    second = sweep(ROOT / "scenarios" / "commons.yaml", out=tmp_path / "second", **kwargs)
    import json

    for cell_id in second["cell_id"]:
        stats = json.loads((tmp_path / "second" / "runs" / cell_id / "manifest.json").read_text())["llm"]
        assert stats["requests"] > 0 and stats["cache_hits"] == stats["requests"]
    pd.testing.assert_frame_equal(_comparable(first), _comparable(second))
