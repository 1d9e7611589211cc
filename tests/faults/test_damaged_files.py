"""Files alignsim wrote, later damaged or lost (a disk fault, an edit, a copy cut short): the command that reads them
names the file and exits 2. Each was a traceback from json or pyarrow.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sim.cli import main
from tests.faults.fakes import ROOT

SCENARIO = ROOT / "scenarios" / "commons_rules.yaml"
FAST = ["--set", "output.plots=false", "--set", "steps=3", "-q"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "r"
    assert main(["run", str(SCENARIO), "--out", str(out), *FAST]) == 0
    return out


@pytest.mark.parametrize(("damage", "message"), [
    (lambda r: (r / "manifest.json").write_text("{truncated"), "manifest.json: damaged (Expecting property name"),
    (lambda r: (r / "manifest.json").write_text("[1, 2]"), "manifest.json: damaged (not a JSON object)"),
    (lambda r: (r / "agents.parquet").unlink(), "agents.parquet: missing; the run directory is incomplete"),
    (lambda r: (r / "model.parquet").write_bytes(b"\0" * 100), "model.parquet: not a readable Parquet file"),
], ids=["manifest-cut", "manifest-not-an-object", "table-missing", "table-garbage"])
def test_the_dashboard_on_a_damaged_run_directory_names_the_file(
    run_dir: Path, tmp_path: Path, damage, message: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sim.dashboard import server

    monkeypatch.setattr(server, "serve", lambda *a, **k: pytest.fail("the page was served"))
    copy = tmp_path / "r"
    shutil.copytree(run_dir, copy)
    damage(copy)
    assert main(["dashboard", str(copy)]) == 2
    err = capsys.readouterr().err
    assert f"alignsim: error: {copy}/{message}" in err and "Traceback" not in err


def test_a_sweep_whose_cell_manifest_is_damaged_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["sweep", str(SCENARIO), "--out", str(tmp_path / "s"), "--replications", "2", "--workers", "1", *FAST]
    assert main(args) == 0
    manifest = next((tmp_path / "s" / "runs").iterdir()) / "manifest.json"
    manifest.write_text(manifest.read_text()[:40])
    capsys.readouterr()
    assert main(args) == 2
    assert f"alignsim: error: {manifest}: damaged (" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "s"), "--table", "govsim", "--no-figure"]) == 2
    assert f"alignsim: error: {manifest}: damaged (" in capsys.readouterr().err


def test_a_damaged_transcript_line_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "transcript.jsonl").write_text('{"agent": 1, "step": 1}\n{"agent": 2, "st\n')
    assert main(["transcript", str(tmp_path), "--agent", "1"]) == 2
    assert f"alignsim: error: {tmp_path / 'transcript.jsonl'}, line 2: damaged, not a JSON record" in \
        capsys.readouterr().err
