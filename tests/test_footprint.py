"""The memory estimate is an upper bound of what a run really takes, and stays close to it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sim.footprint import scenario_peak_bytes
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
# VmHWM: the peak RSS of this program alone (getrusage's ru_maxrss would include the forking test process's)
RUN = """
import sys
from sim.runner import simulate
from sim.scenario import load_scenario
overrides = sys.argv[2:]
simulate(load_scenario(sys.argv[1], overrides), progress=False)
print(int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM:")).split()[1]) * 1024)
"""


@pytest.mark.slow
@pytest.mark.parametrize(("scenario", "overrides"), [
    ("public_goods_rules.yaml", ["population.0.count=5000", "population.1.count=10000", "population.2.count=5000",
                                 "steps=5"]),
    ("commons_rules.yaml", ["population.0.count=12000", "population.1.count=4000", "population.2.count=4000",
                            "population.2.policy=sustainable", "environment.capacity=400000", "steps=8"]),
    ("norms_rules.yaml", ["population.0.count=5000", "population.1.count=10000", "population.2.count=5000",
                          "steps=4"]),
])
def test_a_runs_peak_memory_is_within_the_estimate(scenario: str, overrides: list[str]) -> None:
    path = ROOT / "scenarios" / scenario
    command = [sys.executable, "-c", RUN, str(path), *overrides, "output.plots=false"]
    peak = int(subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout.split()[-1])
    estimate = scenario_peak_bytes(load_scenario(path, overrides))
    assert peak <= estimate
    assert estimate - peak < 0.5 * estimate  # an estimate, not a blanket refusal
