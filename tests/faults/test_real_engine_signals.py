"""SIGTERM or SIGKILL during a run on the in-process vLLM engine: the engine's processes are gone (by pid).

SIGTERM unwinds the run (exit 143), which shuts the engine down; after SIGKILL the run's watchdog does it.
`alignsim run` starts its own engine here (about 2 minutes on 2 cores, once per signal), since the point is
the run's own child processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim.processes import descendants
from tests.faults.fakes import ROOT, commons_args
from tests.faults.helpers import cached_replies, command_line, wait_gone

pytestmark = [
    pytest.mark.llm,
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process checks read Linux /proc"),
]


# each signal its own xdist group: the two runs (each starting its own engine) may run at once on two workers
@pytest.mark.parametrize("sig", [pytest.param(s, marks=pytest.mark.xdist_group(f"signal-{s.name}"))
                                 for s in (signal.SIGTERM, signal.SIGKILL)])
def test_a_signal_during_an_in_process_run_stops_the_engine(tmp_path: Path, sig: signal.Signals) -> None:
    from tests.conftest import require_vllm

    require_vllm()
    cache = tmp_path / "cache.sqlite"
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as sink:
        run = subprocess.Popen([sys.executable, "-m", "sim.cli", "run", *commons_args(tmp_path, 4), "-q"],
                               stdout=subprocess.DEVNULL, stderr=sink, cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 1200
        while cached_replies(cache) < 5 and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert run.poll() is None, stderr.read_text()[-3000:]
        tree = descendants(run.pid)
        assert any("EngineCore" in command_line(p) for p in tree), [command_line(p) for p in tree]
        run.send_signal(sig)
        assert run.wait(timeout=300) == (143 if sig == signal.SIGTERM else -signal.SIGKILL)
        assert wait_gone(tree, timeout_s=60) == [], [command_line(p) for p in tree]
        if sig == signal.SIGTERM:
            assert "alignsim: terminated" in stderr.read_text()
            assert not (tmp_path / "runs").exists()
    finally:
        run.kill()
        run.wait()
