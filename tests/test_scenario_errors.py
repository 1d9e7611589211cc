"""A new user's mistakes: each gives one clear message naming the place and what was expected."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sim.errors import UserError
from sim.scenario import load_scenario

GOOD = """\
name: t
steps: 3
population:
  - name: fishers
    count: 5
    policy: sustainable
environment:
  kind: commons
  regrowth: 2.0
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def error_of(path: Path, overrides: tuple[str, ...] = ()) -> str:
    with pytest.raises(UserError) as caught:
        load_scenario(path, overrides)
    return str(caught.value)


def test_a_good_file_loads(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, GOOD))
    assert scenario.environment.regrowth == 2.0
    assert scenario.population[0].policy.kind == "sustainable"


def test_misspelled_key_suggests_the_closest(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD.replace("regrowth", "regrowh")))
    assert "line 9" in message and "environment.regrowh" in message and "did you mean 'regrowth'" in message


def test_string_where_a_number_goes(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD.replace("count: 5", "count: five")))
    assert "line 5" in message and "population[0].count" in message and "integer" in message


def test_negative_count(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD.replace("count: 5", "count: -2")))
    assert "population[0].count" in message and "greater than or equal to 1" in message and "-2" in message


def test_missing_required_field(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD.replace("steps: 3\n", "")))
    assert "steps" in message and "required" in message


def test_missing_file() -> None:
    assert "not found" in error_of(Path("no/such/scenario.yaml"))


def test_missing_referenced_file(tmp_path: Path) -> None:
    text = GOOD + "network:\n  kind: edgelist\n  path: edges.txt\n"
    message = error_of(write(tmp_path, text))
    assert "network.path" in message and "edges.txt" in message and "line 12" in message


def test_broken_yaml(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD + "  - [unclosed\n"))
    assert "invalid YAML" in message and "line" in message


def test_unknown_policy_and_environment(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD.replace("policy: sustainable", "policy: sustainabel")))
    assert "population[0].policy" in message and "did you mean 'sustainable'" in message
    message = error_of(write(tmp_path, GOOD.replace("kind: commons", "kind: comons")))
    assert "environment" in message and "did you mean 'commons'" in message


def test_overrides_are_validated_like_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    assert load_scenario(path, ["environment.regrowth=1.5"]).environment.regrowth == 1.5
    assert load_scenario(path, ["population.0.count=7"]).population[0].count == 7
    message = error_of(path, ("environment.regrowth=-1",))
    assert "--set environment.regrowth=-1" in message and "greater than or equal to 1" in message
    assert "did you mean 'steps'" in error_of(path, ("stepz=4",))
    assert "dotted.path=value" in error_of(path, ("steps",))
    assert "index" in error_of(path, ("population.3.count=1",))


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("count: 5", "count: 0").replace("regrowth: 2.0", "regrowth: 0.5")
    message = error_of(write(tmp_path, text))
    assert "2 problems" in message and "population[0].count" in message and "environment.regrowth" in message


@pytest.mark.parametrize(
    "replace",
    [("regrowth", "regrowh"), ("count: 5", "count: x"), ("count: 5", "count: -1"), ("kind: commons", "kind: x")],
)
@pytest.mark.slow
def test_cli_exits_2_without_traceback(tmp_path: Path, replace: tuple[str, str]) -> None:
    path = write(tmp_path, GOOD.replace(*replace))
    for command in (["validate"], ["run", "--out", str(tmp_path / "run")]):
        done = subprocess.run(
            [sys.executable, "-m", "sim.cli", command[0], str(path), *command[1:]],
            capture_output=True, text=True,
        )
        assert done.returncode == 2
        assert "Traceback" not in done.stderr and done.stderr.startswith("alignsim: error:")
        assert not (tmp_path / "run").exists()
