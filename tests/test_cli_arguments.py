"""Bad command-line arguments: a message and exit 2, never a traceback from deep inside Mesa or pyarrow."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.cli import main
from sim.errors import UserError
from sim.runner import run
from sim.scenario import load_scenario, scenario_from_dict

SCENARIO = Path(__file__).parent.parent / "scenarios" / "commons_rules.yaml"


@pytest.mark.parametrize("seed", ["-4", "1e3", "x", str(2**63)])
def test_a_bad_seed_is_refused_by_run_and_sweep(seed: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["run", str(SCENARIO), f"--seed={seed}", "--out", str(tmp_path / "r")]) == 2
    assert f"argument --seed: a seed is an integer from 0 to 2**63-1, got '{seed}'" in capsys.readouterr().err
    assert main(["sweep", str(SCENARIO), f"--seed={seed}", "--out", str(tmp_path / "s")]) == 2
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("flag", ["--workers", "--samples", "--replications"])
@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_sweep_counts_must_be_positive(flag: str, value: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["sweep", str(SCENARIO), f"{flag}={value}"]) == 2
    assert f"argument {flag}: expected an integer of at least 1, got '{value}'" in capsys.readouterr().err


def test_the_largest_seed_runs(tmp_path: Path) -> None:
    scenario = load_scenario(SCENARIO, ["steps=2", "population.2.policy=sustainable"])
    result = run(scenario, seed=2**63 - 1, out=tmp_path / "r", progress=False)
    assert result.seed == 2**63 - 1 and len(result.model) == 2


def test_a_seed_too_large_for_the_results_tables_is_a_scenario_error() -> None:
    data = load_scenario(SCENARIO).model_dump(mode="json")
    with pytest.raises(UserError, match=r"seed: Input should be less than or equal to 9223372036854775807"):
        scenario_from_dict({**data, "seed": 2**63})
    with pytest.raises(UserError, match=r"sweep\.seed: Input should be less than or equal to"):
        scenario_from_dict({**data, "sweep": {"replications": 2, "seed": 2**64}})


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_an_out_that_is_or_lies_under_a_file_is_refused(tmp_path: Path, capsys, overwrite: list[str]) -> None:
    """It was a NotADirectoryError traceback (and with --overwrite, after the whole run)."""
    file = tmp_path / "notes.txt"
    file.write_text("keep me")
    for out in (file, file / "run"):
        assert main(["run", str(SCENARIO), "--out", str(out), "-q", *overwrite]) == 2
        assert f"alignsim: error: run directory {out}: {file} is a file, not a folder" in capsys.readouterr().err
    assert file.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("command", [["dashboard", str(SCENARIO)], ["serve"]])
@pytest.mark.parametrize("port", ["99999", "65536", "0", "-1", "http"])
def test_a_port_out_of_range_is_refused_at_argument_parsing(command: list[str], port: str, capsys) -> None:
    """``dashboard --port 99999`` printed a URL and hung."""
    assert main([*command, "--port", port]) == 2
    err = capsys.readouterr().err
    assert f"argument --port: a port is an integer from 1 to 65535, got '{port}'" in err


def test_dashboard_seed_and_serve_sizes_are_checked_like_runs(capsys) -> None:
    assert main(["dashboard", str(SCENARIO), "--seed=-4"]) == 2
    assert "argument --seed: a seed is an integer from 0 to 2**63-1, got '-4'" in capsys.readouterr().err
    for flag, value in [("--max-model-len", "0"), ("--max-num-batched-tokens", "-5")]:
        assert main(["serve", flag, value]) == 2
        assert f"argument {flag}: expected an integer of at least 1, got '{value}'" in capsys.readouterr().err
    for value in ["0", "-1", "inf", "nan", "lots"]:
        assert main(["serve", "--kv-cache-gib", value]) == 2
        assert f"argument --kv-cache-gib: expected a number above 0, got '{value}'" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["dashboard", str(SCENARIO)], ["serve"]])
def test_a_taken_port_or_a_foreign_host_is_refused_before_anything_is_served(
    command: list[str], capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dashboard printed its URL, then uvicorn's bind error, and exited 3 (an LLM failure's status); serve
    started vLLM, whose health check could be answered by the server already on that port."""
    import socket

    from sim.llm import server

    monkeypatch.setattr(server, "start_guarded", lambda *a, **k: pytest.fail("vLLM was started"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main([*command, "--port", str(port)]) == 2
        out, err = capsys.readouterr()
        assert f"alignsim: error: 127.0.0.1:{port} is in use (another server or dashboard?): choose another --port" \
            in err and "http://" not in out
    assert main([*command, "--host", "192.0.2.1"]) == 2  # TEST-NET-1: no address of this machine
    assert "cannot be listened on here (Cannot assign requested address): check --host" in capsys.readouterr().err


def test_overwrite_replaces_only_a_run_directory(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--overwrite --out FOLDER`` deleted any folder (``--out .`` the current one); a dashboard's ``--out`` too."""
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "keep.txt").write_text("keep me")
    fast = ["-q", "--set", "output.plots=false", "--set", "steps=2"]
    assert main(["run", str(SCENARIO), "--out", str(notes), "--overwrite", *fast]) == 2
    assert (f"alignsim: error: run directory {notes}: --overwrite replaces a run directory, and this folder is not "
            "one (no manifest.json); nothing was deleted") in capsys.readouterr().err
    assert [p.name for p in notes.iterdir()] == ["keep.txt"]
    run_dir, empty = tmp_path / "run", tmp_path / "empty"
    empty.mkdir()
    for out in (run_dir, run_dir, empty):  # new, a run directory replaced, an empty folder filled
        assert main(["run", str(SCENARIO), "--out", str(out), "--overwrite", *fast]) == 0
        assert (out / "manifest.json").is_file()
    monkeypatch.chdir(run_dir)
    assert main(["run", str(SCENARIO), "--out", ".", "--overwrite", *fast]) == 2
    assert "run directory .: it holds the current folder, which a run cannot replace" in capsys.readouterr().err
    assert (run_dir / "manifest.json").is_file() and (notes / "keep.txt").read_text() == "keep me"


def test_a_reader_of_stdout_that_goes_away_is_not_a_traceback(tmp_path: Path) -> None:
    """``alignsim run ... | head -1`` printed a BrokenPipeError traceback; the run directory is complete anyway."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    process = subprocess.Popen([sys.executable, "-m", "sim.cli", "run", str(SCENARIO), "--out", str(tmp_path / "r"),
                                "-q", "--set", "output.plots=false"], cwd=root, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # the reader is gone before anything is printed
    assert process.wait(timeout=300) == 141
    assert process.stderr.read() == ""
    assert (tmp_path / "r" / "manifest.json").is_file()


@pytest.mark.parametrize(("url", "problem"), [
    ("http://127.0.0.1:99999", "Port out of range 0-65535 (expected a URL such as http://127.0.0.1:8000)"),
    ("http://127.0.0.1:0", "expected a URL such as http://127.0.0.1:8000"),
    ("http://:8000", "expected a URL such as http://127.0.0.1:8000"),
    ("127.0.0.1:8000", "expected a URL such as http://127.0.0.1:8000"),
])
def test_a_server_url_that_cannot_be_reached_by_its_form_is_a_user_error(url: str, problem: str, tmp_path: Path,
                                                                         capsys) -> None:
    """``--server http://127.0.0.1:99999`` was "LLM failure: ExceptionGroup: unhandled errors in a TaskGroup"."""
    commons = str(SCENARIO.parent / "commons.yaml")
    assert main(["run", commons, "--server", url, "--out", str(tmp_path / "r"), "-q", "--set", "steps=1"]) == 2
    assert f"alignsim: error: LLM server '{url}': {problem}" in capsys.readouterr().err
    assert main(["validate", commons, "--set", f"llm.base_url={url}"]) == 2  # validate refuses what run would
    assert f"llm.base_url: LLM server '{url}': {problem}" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(("name", "problem"), [
    ("/tmp/elsewhere", "'/tmp/elsewhere' cannot name a folder (runs/<name>/...): no '/' or '\\', not only dots"),
    ("..", "'..' cannot name a folder (runs/<name>/...): no '/' or '\\', not only dots"),
    ("a" * 300, "300 bytes long: a folder name is at most 200 here"),
])
def test_a_scenario_name_that_cannot_name_its_folder_is_refused(name: str, problem: str, capsys) -> None:
    """``name: /tmp/elsewhere`` wrote the run under /tmp, ``..`` beside runs/; 300 characters was a traceback."""
    assert main(["validate", str(SCENARIO), "--set", f"name={name}"]) == 2
    assert f"name: {problem}" in capsys.readouterr().err


def test_an_out_name_too_long_for_the_file_system_is_a_message(tmp_path: Path, capsys) -> None:
    out = tmp_path / "x" / ("b" * 300)
    for command in (["run", str(SCENARIO)], ["sweep", str(SCENARIO), "--replications", "2"]):
        assert main([*command, "--out", str(out), "-q"]) == 2
        assert "alignsim: error: a file or folder name is longer than the file system allows: " in \
            capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("flag", ["--bootstrap", "--permutations"])
def test_report_resample_counts_must_be_positive(flag: str, capsys) -> None:
    assert main(["report", "nowhere", "--table", "effect", flag, "0"]) == 2
    assert f"argument {flag}: expected an integer of at least 1, got '0'" in capsys.readouterr().err
