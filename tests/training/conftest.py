"""Every training test gets its own $ALIGNSIM_HOME (adapters registered there), beside the prepared models."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.llm.models import alignsim_home


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ALIGNSIM_HOME whose models/ is the real one (the prepared SmolLM2 folder is not converted again)."""
    models = alignsim_home() / "models"
    folder = tmp_path / "alignsim-home"
    folder.mkdir()
    if models.is_dir():
        (folder / "models").symlink_to(models.resolve())
    monkeypatch.setenv("ALIGNSIM_HOME", str(folder))
    return folder
