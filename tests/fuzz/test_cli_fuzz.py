"""Whatever a user hands the command line: exit 0 or 2, never a traceback, never a partial run directory.

Scenario files are drawn from the schema (`strategies.scenarios`), then mutated, broken or replaced by random
bytes; `--set` overrides are drawn from real and invented paths. `alignsim validate` runs on every example,
in-process (`sim.cli.main`), and `alignsim run` on every one it accepts that needs no LLM. Anything but a
`UserError` escaping the CLI fails the test with its traceback. The examples are derandomised, so CI sees the
same ones every time; ``HYPOTHESIS_PROFILE=explore`` draws many more, at random.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sim.cli import main
from sim.errors import UserError
from sim.scenario import load_scenario
from tests.fuzz.strategies import file_contents, mutated, overrides, scenarios

settings.register_profile("ci", max_examples=150, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("explore", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parent.parent.parent
pytestmark = pytest.mark.slow  # each example runs the CLI; a test is 10-15 s
RULE_SCENARIOS = [p for p in sorted((ROOT / "scenarios").glob("*_rules.yaml"))]


def cli(argv: list[str]) -> tuple[int, str]:
    """Run ``alignsim ARGV`` in this process: (exit status, what it printed on stderr)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(argv)
    return status, err.getvalue()


def check_exit(status: int, err: str) -> None:
    event(f"exit {status}")
    assert status in (0, 2), f"exit {status}: {err}"
    assert "Traceback" not in err
    if status == 2:
        assert err.startswith("alignsim: error: ") or err.startswith("usage: alignsim"), err


def runnable(path: Path, sets: list[str]) -> bool:
    """Small enough to run here, and asks no LLM (an engine per example would take minutes)."""
    try:
        scenario = load_scenario(path, sets)
    except UserError:
        return False
    return not scenario.uses_llm() and scenario.agent_count() <= 40 and scenario.steps <= 5


def check_run(folder: Path, path: Path, sets: list[str]) -> None:
    """`alignsim run` exits 0 with a complete run directory, or 2 with none; nothing else is left behind."""
    out = folder / "out" / "run"
    args = ["run", str(path), "--out", str(out), "-q", *[a for s in sets for a in ("--set", s)]]
    status, err = cli(args)
    event(f"run exit {status}")
    check_exit(status, err)
    left = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.parent == folder / "out")
    if status == 0:
        assert left == ["out/run"], left
        assert json.loads((out / "manifest.json").read_text())["complete"] is True
    else:
        assert left == [], left


@given(content=file_contents())
def test_any_file_exits_0_or_2(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "scenario.yaml"
        path.write_bytes(content)
        check_exit(*cli(["validate", str(path)]))
        if runnable(path, []):
            check_run(folder, path, [])


@given(data=st.one_of(scenarios(llm=False), scenarios(llm=False).flatmap(mutated)))
def test_schema_drawn_scenarios_run_or_are_refused_before_the_first_step(data: dict) -> None:
    """What validate accepts runs to the end; what it refuses, run refuses alike, writing nothing."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "scenario.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        status, err = cli(["validate", str(path)])
        check_exit(status, err)
        if status == 0 and runnable(path, []):
            check_run(folder, path, [])
        elif status == 2:
            run_status, run_err = cli(["run", str(path), "--out", str(folder / "out" / "run"), "-q"])
            assert (run_status, run_err) == (2, err)
            assert not (folder / "out").exists()


@given(base=st.sampled_from(RULE_SCENARIOS), data=st.data())
def test_random_overrides_exit_0_or_2(base: Path, data: st.DataObject) -> None:
    sets = data.draw(overrides(yaml.safe_load(base.read_text())))
    flags = [a for s in sets for a in ("--set", s)]
    check_exit(*cli(["validate", str(base), *flags]))
    quick = [*sets, "steps=2", "output.plots=false"]
    if runnable(base, quick):
        with tempfile.TemporaryDirectory() as tmp:
            check_run(Path(tmp), base, quick)
