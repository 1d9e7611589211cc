"""Sweeps under process faults: a killed worker costs no cell, a killed sweep takes its workers with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from sim.processes import descendants
from sim.sweeps.api import sweep
from sim.sweeps.results import TIMING_COLUMNS, read_results
from tests.faults.fakes import ROOT
from tests.faults.helpers import alive, wait_gone

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process checks read Linux /proc"),
]
CONTRACTS = ROOT / "scenarios" / "contracts_rules.yaml"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def sweep_command(out: Path, steps: int) -> list[str]:
    return [sys.executable, "-m", "sim.cli", "sweep", str(CONTRACTS), "--set", f"steps={steps}", "--grid",
            "environment.completeness=0.25,0.5,0.75", "--replications", "2", "--workers", "2", "-q", "--out",
            str(out)]


def workers(sweep_pid: int, count: int = 2, timeout_s: float = 120.0) -> list[int]:
    """The sweep's pool workers (spawned ``multiprocessing`` children running cells), once ``count`` exist."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = []
        for pid in descendants(sweep_pid):
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in command:
                found.append(pid)
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"the sweep did not start {count} workers")


def cells_in_flight(out: Path, count: int, timeout_s: float = 120.0) -> None:
    """Wait until ``count`` cells are being written (their hidden partial run directories exist)."""
    deadline = time.monotonic() + timeout_s
    while len(list((out / "runs").glob(".*.partial-*"))) < count:
        assert time.monotonic() < deadline, f"{count} cells did not start"
        time.sleep(0.05)


def test_a_killed_worker_costs_no_cell(tmp_path: Path) -> None:
    """SIGKILL of one worker mid-sweep: its cells run again in a new pool; the table equals an unbroken sweep."""
    out = tmp_path / "sweep"
    process = subprocess.Popen(sweep_command(out, 100), cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    victim = workers(process.pid)[0]
    cells_in_flight(out, 1)
    os.kill(victim, signal.SIGKILL)
    assert process.wait(timeout=600) == 0, process.stderr.read()
    broken, _ = read_results(out)
    assert (broken["status"] == "ok").all() and len(broken) == 6
    whole = sweep(CONTRACTS, overrides=["steps=100"], grid={"environment.completeness": [0.25, 0.5, 0.75]},
                  replications=2, out=tmp_path / "whole", progress=False)
    drop = list(TIMING_COLUMNS)
    pd.testing.assert_frame_equal(broken.drop(columns=drop), whole.drop(columns=drop), check_dtype=False)


def test_kill_9_of_the_sweep_takes_its_workers_with_it(tmp_path: Path) -> None:
    """Cells far longer than the wait: a worker still alive after the sweep's death would be an orphan."""
    process = subprocess.Popen(sweep_command(tmp_path / "sweep", 10**5), cwd=ROOT, env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pool = workers(process.pid)
    try:
        cells_in_flight(tmp_path / "sweep", 2)
        assert all(alive(p) for p in pool)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert wait_gone(pool) == []
    finally:
        for pid in pool:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
