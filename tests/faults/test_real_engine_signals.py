"""SIGTERM during a run on the in-process vLLM engine: exit 143, and the engine's processes are gone (by pid).

`alignsim run` here starts its own engine (about 2 minutes on 2 cores), since the point is the run's own
child processes; that is the one extra engine of this module.
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


def test_sigterm_during_an_in_process_run_stops_the_engine_and_leaves_no_litter(tmp_path: Path) -> None:
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
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=300) == 143
        assert wait_gone(tree, timeout_s=60) == [], [command_line(p) for p in tree]
        assert "alignsim: terminated" in stderr.read_text()
        assert not (tmp_path / "runs").exists()
    finally:
        run.kill()
        run.wait()
