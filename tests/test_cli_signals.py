"""SIGTERM unwinds a command like Ctrl-C, so engines and servers it started are shut down, not orphaned."""

from __future__ import annotations

import argparse
import os
import signal
import time

import pytest

from sim import cli


def test_sigterm_runs_cleanup_and_exits_143(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    cleaned: list[str] = []

    def command(args: argparse.Namespace) -> int:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)
            return 0
        finally:
            cleaned.append("engine closed")

    parser = argparse.ArgumentParser()
    parser.set_defaults(func=command)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    before = signal.getsignal(signal.SIGTERM)
    assert cli.main([]) == 143
    assert cleaned == ["engine closed"]
    assert "alignsim: terminated" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) == before
