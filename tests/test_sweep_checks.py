"""A sweep checks every cell before it starts any, and refuses (exit 2, nothing written) what would fail.

Before, a cross-component error surfaced only when each cell built its model: the sweep ran every cell, then
reported "0 runs ok, N failed" and exit 1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sim import resources
from sim.cli import main

COMMONS = """\
name: t
steps: 2
population:
  - {name: fishers, count: 4, policy: sustainable}
environment:
  kind: commons
institutions:
  - {kind: reputation}
sweep:
  grid:
    institutions.0.kind: [court, ratings, tax]
"""

PUBLIC_GOODS = """\
name: t
steps: 2
population:
  - {name: a, count: 8, policy: selfish}
environment:
  kind: public_goods
  group_size: 4
sweep:
  grid:
    environment.group_size: [4, 8]
    population.0.count: [4, 8]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def test_a_sweep_whose_every_cell_fails_is_refused_before_any_runs(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, COMMONS)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("alignsim: error: 3 of 3 swept values are refused (no cell has run):\n")
    for kind, works in (("court", "principal_agent"), ("ratings", "principal_agent"), ("tax", "market")):
        assert (f"{path}, line 11: sweep.grid 'institutions.0.kind': value \"{kind}\": institutions[0].kind: "
                f"'{kind}' works with environment '{works}', not 'commons'") in err
    assert not out.exists()


def test_a_combination_that_fails_is_named_though_each_value_alone_is_valid(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, PUBLIC_GOODS)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1", "-q"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: sweep point environment.group_size=8, population.0.count=4" in err
    assert "the population (4 agents, all present from step 1) must split into groups of 8" in err
    assert not out.exists()


def test_a_population_far_too_large_is_refused_with_the_numbers(tmp_path: Path, capsys) -> None:
    """A billion agents: refused at once, before a single agent is built (it used to run out of memory)."""
    path = write(tmp_path, COMMONS.split("sweep:")[0].replace("count: 4", "count: 1000000000"))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}, line 3: population: about " in err
    assert " TiB of memory is needed (1,000,000,000 agents for 2 steps), but " in err and " is available" in err
    assert main(["run", str(path), "--out", str(tmp_path / "run"), "-q"]) == 2
    assert capsys.readouterr().err == err
    assert not (tmp_path / "run").exists()


def test_the_estimate_grows_with_agents_steps_and_links() -> None:
    from sim.scenario import load_scenario

    base = Path(__file__).resolve().parent.parent / "scenarios" / "commons_rules.yaml"
    def estimate(*sets: str) -> int:
        return resources.estimate_bytes(load_scenario(base, list(sets)))

    # linear in agents (5 agents in the file; group 0 is 3 of them), and growing with steps
    assert estimate("population.0.count=2003") - estimate("population.0.count=1003") == estimate(
        "population.0.count=1003") - estimate("population.0.count=3")
    assert estimate("steps=120") > estimate()
    dense = load_scenario(base, ["population.0.count=995", "network.kind=erdos_renyi", "network.p=0.5"])
    assert resources.expected_links(dense.network, 1000) == pytest.approx(0.5 * 1000 * 999 / 2)
    complete = load_scenario(base, ["population.0.count=995"])
    assert resources.expected_links(complete.network, 1000) == 0  # implicit: nothing stored


def test_a_sweep_counts_the_runs_its_workers_hold_at_once(tmp_path: Path, capsys,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from sim.scenario import load_scenario

    text = COMMONS.replace("institutions.0.kind: [court, ratings, tax]", "steps: [2, 3, 4]")
    path = write(tmp_path, text)
    largest = resources.estimate_bytes(load_scenario(path, ["steps=4"]))
    monkeypatch.setattr(resources, "available_bytes", lambda: int(2.5 * largest))  # room for two runs, not three
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "3", "-q"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: a sweep of 3 runs: about " in err and " of memory is needed for 3 runs at once " in err
    assert err.rstrip().endswith("or fewer workers")
    assert not out.exists()
    assert main(["sweep", str(path), "--out", str(out), "--workers", "2", "-q"]) == 0
