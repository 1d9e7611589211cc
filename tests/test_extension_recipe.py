"""The extension recipe of docs/architecture.md, proved: a new institution is one module and nothing else.

The toy institution below lives only in this test. Written to a folder of its own and imported before the CLI
(the way a module of `sim/institutions/` is discovered), it needs no import list, no registry edit and no schema
edit: `alignsim describe` prints its parameters, `alignsim validate` refuses it under an environment it does not
declare, with the file and line, and a run records its metric and the payoffs it changed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
TITHE = '''
"""A tithe: every agent gives a share of its reward to a pot shared out equally among all (a toy)."""

from pydantic import Field

from sim.component import Params
from sim.institutions.base import INSTITUTIONS, Institution


class TitheParams(Params):
    rate: float = Field(0.1, ge=0, le=1, description="Share of each agent's reward given to the pot.")


@INSTITUTIONS.register("tithe")
class Tithe(Institution):
    """Pools a share of every reward and shares the pot out equally."""

    Params = TitheParams
    environments = ("commons",)

    def setup(self) -> None:
        self.collected = 0.0

    def briefing(self) -> str:
        return f"A tithe of {self.params.rate:.0%} of every catch is shared out equally among all fishers."

    def enforce(self, ctx) -> None:
        rewards = dict(ctx.outcome.specified)
        pot = self.params.rate * sum(rewards.values())
        for agent_id, reward in rewards.items():
            ctx.outcome.adjust(agent_id, "tithe", specified=pot / len(rewards) - self.params.rate * reward)
        self.collected = pot

    def model_reporters(self):
        return {"tithe_collected": lambda model: self.collected}
'''
# imports the toy module first, as discovery imports each module of sim/institutions/, then runs the CLI
CLI = "import sys, tithe; from sim.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture()
def alignsim(tmp_path: Path):
    (tmp_path / "tithe.py").write_text(TITHE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(tmp_path), str(ROOT)))}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True, env=env,
                              cwd=tmp_path)

    return run


def scenario(path: Path, environment: str, rate: float | None) -> Path:
    institutions = f"institutions:\n  - kind: tithe\n    rate: {rate}\n" if rate is not None else ""
    policies = ("sustainable", "greedy") if environment == "commons" else ("selfish", "selfish")
    population = "".join(f"  - name: g{i}\n    count: {3 - 2 * i}\n    policy: {p}\n" for i, p in enumerate(policies))
    path.write_text(f"name: toy\nseed: 3\nsteps: 4\npopulation:\n{population}"
                    f"environment:\n  kind: {environment}\n{institutions}output:\n  plots: false\n")
    return path


def test_describe_prints_the_new_institution_from_its_module_alone(alignsim) -> None:
    described = alignsim("describe", "tithe")
    assert described.returncode == 0, described.stderr
    assert "Share of each agent's reward given to the pot." in described.stdout
    assert "commons" in described.stdout  # what it works with, from `environments`


@pytest.mark.slow
def test_validate_refuses_it_under_an_environment_it_does_not_declare(alignsim, tmp_path: Path) -> None:
    refused = alignsim("validate", str(scenario(tmp_path / "pg.yaml", "public_goods", 0.5)))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "institutions[0].kind: 'tithe' works with environment 'commons', not 'public_goods'" in refused.stderr
    assert "pg.yaml, line " in refused.stderr
    assert alignsim("validate", str(scenario(tmp_path / "ok.yaml", "commons", 0.5))).returncode == 0


@pytest.mark.slow
def test_a_run_records_its_metric_and_pools_the_rewards_exactly(alignsim, tmp_path: Path) -> None:
    runs = {}
    for name, rate in (("without", None), ("tithe", 0.5)):
        out = tmp_path / name
        done = alignsim("run", str(scenario(tmp_path / f"{name}.yaml", "commons", rate)), "--out", str(out), "-q")
        assert done.returncode == 0, done.stderr
        runs[name] = (pd.read_parquet(out / "agents.parquet"), pd.read_parquet(out / "model.parquet"))
    (plain, _), (tithed, model) = runs["without"], runs["tithe"]
    # the same catches (scripted fishers read no rule text), then reward = (1 - r) x + r * mean(x)
    pd.testing.assert_series_equal(plain["catch"], tithed["catch"])
    mean = plain.groupby("step")["specified_reward"].transform("mean")
    expected = 0.5 * plain["specified_reward"] + 0.5 * mean
    assert (expected != plain["specified_reward"]).any()  # the greedy fisher catches more: there is something to pool
    pd.testing.assert_series_equal(tithed["specified_reward"], expected, check_names=False)
    assert model["tithe_collected"].tolist() == pytest.approx(
        (0.5 * plain.groupby("step")["specified_reward"].sum()).tolist())
