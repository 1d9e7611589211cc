"""A full disk and a read-only output folder: exit status 4, one message, nothing half-written or corrupted.

Each test runs its commands inside private user and mount namespaces (``unshare``), where a small tmpfs is
mounted and filled, or a folder is bind-mounted read-only; nothing outside the test's namespace sees them.
Where namespaces are not allowed the tests skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sim.errors import EXIT_OUTPUT
from tests.faults.fakes import ROOT, commons_args, fisher_server

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("unshare") is None,
                                reason="needs Linux namespaces (unshare)")
ALIGNSIM = f"{sys.executable} -m sim.cli"
RULES = ROOT / "scenarios" / "commons_rules.yaml"


def in_namespace(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run a shell script as root of a new user and mount namespace; skip if the system forbids it."""
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                            f"mount -t tmpfs tmpfs {tmp_path}"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount in a user namespace here: {probe.stderr.decode().strip()}")
    return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})


def quoted(args: list[str]) -> str:
    return " ".join(f"'{a}'" for a in args)


FILL = "dd if=/dev/zero of={disk}/filler bs=4k 2>/dev/null; true"
LEFT = "find {disk} -mindepth 1 -not -name filler | sort > {report}"


@pytest.mark.slow
def test_a_full_disk_fails_the_run_with_exit_4_and_leaves_nothing(tmp_path: Path) -> None:
    disk, report = tmp_path / "disk", tmp_path / "left.txt"
    disk.mkdir()
    run = quoted([str(RULES), "--set", "steps=3", "--set", "output.plots=false", "--set", f"output.dir={disk}/runs"])
    script = "\n".join([
        f"mount -t tmpfs -o size=256k tmpfs {disk}", FILL.format(disk=disk),
        f"{ALIGNSIM} run {run} -q; echo \"exit=$?\"", LEFT.format(disk=disk, report=report),
    ])
    done = in_namespace(script, tmp_path)
    assert f"exit={EXIT_OUTPUT}" in done.stdout, done.stderr
    assert "alignsim: error: cannot write the run directory" in done.stderr
    assert "No space left on device" in done.stderr and "Traceback" not in done.stderr
    assert report.read_text() == ""  # no partial folder, no runs/commons_rules/


@pytest.mark.slow
def test_a_full_disk_under_the_reply_cache_keeps_it_intact_and_the_rerun_continues(tmp_path: Path) -> None:
    """The cache's disk fills mid-run: exit 4 (SQLite reports a full disk under WAL as "disk I/O error"). Once
    space is freed, the cache checks out, holds what it held, and the same command continues from it."""
    disk, report = tmp_path / "disk", tmp_path / "cache.json"
    disk.mkdir()
    cache = disk / "cache.sqlite"
    check = (f"{sys.executable} -c \"import json, sqlite3; db = sqlite3.connect('{cache}'); "
             f"print(json.dumps([db.execute('PRAGMA integrity_check').fetchone()[0], "
             f"db.execute('SELECT COUNT(*) FROM replies').fetchone()[0]]))\" > {report}")
    with fisher_server().running() as server:
        first = quoted([*commons_args(tmp_path / "a", 1, f"llm.cache={cache}"), "--server", server.url, "-q"])
        longer = quoted([*commons_args(tmp_path / "b", 3, f"llm.cache={cache}"), "--server", server.url, "-q",
                         "--out", str(tmp_path / "longer")])
        script = "\n".join([
            f"mount -t tmpfs -o size=1m tmpfs {disk}",
            f"{ALIGNSIM} run {first} || exit 1",
            FILL.format(disk=disk),
            f"{ALIGNSIM} run {longer}; echo \"full=$?\"",
            f"rm {disk}/filler",
            check,
            f"{ALIGNSIM} run {longer}; echo \"freed=$?\"",
        ])
        done = in_namespace(script, tmp_path)
    assert f"full={EXIT_OUTPUT}" in done.stdout and "freed=0" in done.stdout, done.stdout + done.stderr
    assert re.search(f"alignsim: error: cannot write the LLM reply cache {cache}: "
                     "(database or disk is full|disk I/O error)", done.stderr)
    integrity, rows = json.loads(report.read_text())
    assert integrity == "ok" and rows >= 5
    stats = json.loads((tmp_path / "longer" / "manifest.json").read_text())["llm"]
    assert stats["requests"] == 15 and stats["cache_hits"] == rows


@pytest.mark.slow
def test_a_read_only_output_folder_fails_with_exit_4_and_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "readonly"
    folder.mkdir()
    (folder / "earlier.txt").write_text("kept")
    run = quoted([str(RULES), "--set", "steps=2", "--set", f"output.dir={folder}"])
    script = "\n".join([
        f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} || exit 1",
        f"{ALIGNSIM} run {run} -q; echo \"exit=$?\"",
    ])
    done = in_namespace(script, tmp_path)
    assert f"exit={EXIT_OUTPUT}" in done.stdout, done.stderr
    assert "cannot write the run directory" in done.stderr and "Read-only file system" in done.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["earlier.txt"]
