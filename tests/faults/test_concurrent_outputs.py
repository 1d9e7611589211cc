"""Two commands writing one folder at once, as two real processes: exactly one writes it, the other exits 2 and
nothing of the first is lost. Before, two runs given one ``--out`` both printed "run directory: ..." and exited 0,
and the later rename replaced the first run's folder.

The first process is held, once it has claimed the folder, until the test lets it go, so that the second one
certainly arrives while the first is writing (a run of this scenario is shorter than Python's start).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.faults.fakes import ROOT

SCENARIO = ROOT / "scenarios" / "commons_rules.yaml"
FAST = ["--set", "output.plots=false", "--set", "steps=3", "-q"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

HELD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from sim import cli
    module, name, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    owner = __import__(module, fromlist=["_"])
    owner, attribute = (getattr(owner, name.split(".")[0]), name.split(".")[1]) if "." in name else (owner, name)
    original = getattr(owner, attribute)
    def held(*args, **kwargs):
        while not go.exists():
            time.sleep(0.05)
        return original(*args, **kwargs)
    setattr(owner, attribute, held)
    sys.exit(cli.main(sys.argv[4:]))
    """
)


def start_held(hold: tuple[str, str], go: Path, *argv: str) -> subprocess.Popen[str]:
    """``alignsim ARGV`` in a process whose ``hold`` (module, function) waits until ``go`` exists."""
    return subprocess.Popen([sys.executable, "-c", HELD, *hold, str(go), *argv], cwd=ROOT, env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def alignsim(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim.cli", *argv], cwd=ROOT, env=ENV, text=True,
                          capture_output=True, timeout=300)


def wait_for(condition, process: subprocess.Popen[str], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the first process never got there"
        time.sleep(0.05)


def test_two_runs_given_one_out_at_once_one_writes_it_and_the_other_exits_2(tmp_path: Path) -> None:
    out, go = tmp_path / "runs" / "same", tmp_path / "go"
    first = start_held(("sim.runner", "simulate"), go, "run", str(SCENARIO), "--out", str(out), "--seed", "1", *FAST)
    try:
        wait_for(lambda: any(out.parent.glob(".same.partial-*")), first)  # it has claimed the folder and runs
        second = alignsim("run", str(SCENARIO), "--out", str(out), "--seed", "2", "--overwrite", *FAST)
        assert second.returncode == 2, second.stdout + second.stderr
        assert f"alignsim: error: run directory {out}: another run is writing it now" in second.stderr
        assert "run directory:" not in second.stdout and "Traceback" not in second.stderr
        go.touch()
        stdout, stderr = first.communicate(timeout=300)
    finally:
        first.kill()
    assert first.returncode == 0 and f"run directory: {out}" in stdout, stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 1 and manifest["complete"]
    assert sorted(os.listdir(out.parent)) == ["same"]  # no claim, no partial folder left


def test_a_run_after_one_that_was_killed_claims_its_folder(tmp_path: Path) -> None:
    """The kernel drops a killed run's claim: the next run there is not refused, and the stale claim goes."""
    out, go = tmp_path / "runs" / "same", tmp_path / "go"
    first = start_held(("sim.runner", "simulate"), go, "run", str(SCENARIO), "--out", str(out), *FAST)
    wait_for(lambda: any(out.parent.glob(".same.partial-*")), first)
    first.kill()
    first.wait()
    assert (out.parent / ".same.lock").exists()
    second = alignsim("run", str(SCENARIO), "--out", str(out), *FAST)
    assert second.returncode == 0, second.stderr
    assert sorted(os.listdir(out.parent)) == ["same"]


def test_two_sweeps_on_one_folder_at_once_one_runs_and_the_other_exits_2(tmp_path: Path) -> None:
    out, go = tmp_path / "sweep", tmp_path / "go"
    argv = ["sweep", str(SCENARIO), "--out", str(out), "--workers", "1", "--set", "steps=3", "-q"]
    first = start_held(("sim.sweeps.api", "SweepRun._execute"), go, *argv, "--replications", "3")
    try:
        wait_for(lambda: (out / "sweep.json").exists(), first)  # it holds the sweep folder
        second = alignsim(*argv, "--replications", "4")
        assert second.returncode == 2, second.stdout + second.stderr
        assert f"alignsim: error: another sweep is running in {out}" in second.stderr
        assert "Traceback" not in second.stderr
        go.touch()
        stdout, stderr = first.communicate(timeout=300)
    finally:
        first.kill()
    assert first.returncode == 0 and "3 runs ok, 0 failed" in stdout, stderr
    assert len(json.loads((out / "sweep.json").read_text())["cells"]) == 3
    assert len(list((out / "runs").iterdir())) == 3
