"""Components are found without import lists, register once, and describe themselves: `alignsim kinds`,
`alignsim describe` and docs/components.md come from the same declarations."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sim.cli import main
from sim.environments.base import ENVIRONMENTS
from sim.institutions.base import INSTITUTIONS
from sim.reference import DOC_PAGE, markdown, parameters
from sim.registry import Registry

ROOT = Path(__file__).resolve().parent.parent


def test_a_new_module_is_found_without_an_import_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "toys"
    package.mkdir()
    (package / "__init__.py").write_text('"""Toys: nothing is imported here."""\n')
    (tmp_path / "toy_registry.py").write_text("from sim.registry import Registry\nTOYS = Registry('toy', ('toys',))\n")
    (package / "blocks.py").write_text("from toy_registry import TOYS\n\n\n@TOYS.register('block')\nclass Block:\n"
                                       "    pass\n")
    (package / "balls.py").write_text("from toy_registry import TOYS\n\n\n@TOYS.register('ball')\nclass Ball:\n"
                                      "    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from toy_registry import TOYS

    assert TOYS.names() == ["ball", "block"]
    assert TOYS.get("ball").kind == "ball"
    for name in ("toys", "toys.blocks", "toys.balls", "toy_registry"):
        sys.modules.pop(name, None)


def test_registering_two_classes_under_one_name_is_an_error() -> None:
    things: Registry[type] = Registry("thing")
    things.register("a")(type("A", (), {}))
    with pytest.raises(ValueError, match="thing 'a' is registered twice"):
        things.register("a")(type("B", (), {}))


def test_the_packages_import_no_component_lists() -> None:
    for init in ("sim/environments/__init__.py", "sim/institutions/__init__.py", "agents/scripted/__init__.py"):
        assert "import" not in (ROOT / init).read_text()
    assert "court" in INSTITUTIONS and "commons" in ENVIRONMENTS


def test_kinds_lists_what_works_with_an_environment(capsys) -> None:
    assert main(["kinds", "--environment", "commons"]) == 0
    out = capsys.readouterr().out
    names = {line.split()[0] for line in out.splitlines() if line.startswith("  ")}
    assert {"commons", "norms", "sanctions", "monitoring", "greedy", "llm", "random"} <= names
    assert not names & {"court", "tax", "market", "truthful", "selfish"}
    assert main(["kinds"]) == 0
    everything = capsys.readouterr().out
    assert "court" in everything and "environment principal_agent; decision phase 'sue'" in everything


def test_describe_prints_every_parameter_with_type_and_default(capsys) -> None:
    assert main(["describe", "monitoring"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("monitoring (institution, sim.institutions.monitoring)")
    assert "works with: any environment; needs norms listed before it" in out
    assert "observers    'neighbours' | 'everyone' | 'official'  'neighbours'  Who sees an observed act" in out
    assert "probability  float, ≥ 0, ≤ 1" in out
    assert main(["describe", "norms"]) == 0
    assert "each Norm:" in capsys.readouterr().out
    assert main(["describe", "sanction"]) == 2
    assert "no component of kind 'sanction' (did you mean 'sanctions'?)" in capsys.readouterr().err


def test_types_show_their_bounds() -> None:
    rows = {p.name: p for p in parameters(ENVIRONMENTS.get("commons").Params)}
    assert (rows["capacity"].type, rows["capacity"].default) == ("int, > 0", "100")
    assert (rows["initial_stock"].type, rows["initial_stock"].default) == ("int | null, ≥ 0", "null")


def test_every_component_parameter_is_described() -> None:
    from agents.policy import POLICIES

    for registry in (ENVIRONMENTS, INSTITUTIONS, POLICIES):
        for name in registry.names():
            undescribed = [p.name for p in parameters(registry.get(name).Params) if not p.description]
            assert not undescribed, f"{registry.what} '{name}': give these parameters a description: {undescribed}"


def test_the_components_page_is_up_to_date() -> None:
    assert DOC_PAGE.read_text(encoding="utf-8") == markdown(), (
        "docs/components.md is out of date: run `python -m sim.reference` to rewrite it from the code")
