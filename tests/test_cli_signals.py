"""SIGTERM unwinds a command like Ctrl-C, so engines and servers it started are shut down, not orphaned."""

from __future__ import annotations

import os
import signal
import time

import pytest

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
