"""Ctrl-C and SIGTERM stop a command even when they arrive while Python runs a finalizer."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.helpers import main_running


class SignalsItselfWhenCollected:
    """An object whose ``__del__`` signals this process: the handler then runs inside the finalizer."""

    def __init__(self, sig: int) -> None:
        self.sig = sig

    def __del__(self) -> None:
        os.kill(os.getpid(), self.sig)
        sum(range(1000))  # the handler runs at the next bytecode boundary, still inside __del__


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_swallowed_by_a_finalizer_is_delivered_again(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, sig: int, status: int
) -> None:
    def body() -> None:
        SignalsItselfWhenCollected(sig)  # collected at once; its exception can only be "ignored"
        time.sleep(5)  # where the command would go on if the signal stayed lost

    # Ctrl-C as in a terminal: a shell's background job (a CI script's `cmd &`) starts with SIGINT ignored
    interrupts = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        exit_status, cleaned = main_running(body, monkeypatch)
    finally:
        signal.signal(signal.SIGINT, interrupts)
    assert exit_status == status
    assert cleaned == ["engine closed"]
