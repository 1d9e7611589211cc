"""SIGTERM unwinds a command like Ctrl-C, so engines and servers it started are shut down, not orphaned."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.faults.fakes import ROOT
from tests.faults.helpers import wait_gone
from tests.helpers import main_running


def test_sigterm_runs_cleanup_and_exits_143(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    def body() -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)

    before = signal.getsignal(signal.SIGTERM)
    exit_status, cleaned = main_running(body, monkeypatch)
    assert exit_status == 143
    assert cleaned == ["engine closed"]
    assert "alignsim: terminated" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) == before


STUCK_CLEANUP = """
import argparse, subprocess, sys, time
from sim import cli

def command(args):
    child = subprocess.Popen(["sleep", "600"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        print(child.pid, flush=True)  # inside the try: the test's SIGTERM may come before the sleep below
        time.sleep(600)
    finally:
        time.sleep(600)  # a cleanup that never ends

parser = argparse.ArgumentParser()
parser.set_defaults(func=command)
cli.build_parser = lambda: parser
cli.TERMINATE_GRACE_S = 1.0
sys.exit(cli.main())
"""


def test_sigterm_exits_143_by_the_deadline_when_cleanup_hangs() -> None:
    process = subprocess.Popen([sys.executable, "-c", STUCK_CLEANUP], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    child = None
    try:
        child = int(process.stdout.readline())
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 143
        assert "cleanup did not finish" in process.stderr.read().decode()
        assert wait_gone([child], timeout_s=10) == []
    finally:
        process.kill()
        process.wait()
        if child is not None:  # a failed test leaves no sleeping child behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
