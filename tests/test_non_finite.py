"""inf, -inf and NaN are refused in every float field a user fills in, with the field's path.

Bounds alone refused NaN but let inf through (``ge=0`` holds for inf): ``--set environment.regrowth=.inf`` ran.
One base model (`sim.scenario_files.StrictModel`) refuses all three everywhere; the first test says that every
model reachable from a scenario file or an amendments file has it, the second tries every float field.
"""

from __future__ import annotations

import math
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from sim.amendments import AmendmentsFile
from sim.cli import main
from sim.errors import UserError
from sim.scenario import Scenario, load_scenario, scenario_from_dict

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
COMMONS = SCENARIOS / "commons_rules.yaml"
NON_FINITE = [math.inf, -math.inf, math.nan]
NOTHING = object()


def user_models() -> list[type[BaseModel]]:
    """Every pydantic model a scenario file or an amendments file is validated by, each component's included."""
    found: list[type[BaseModel]] = []

    def walk(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation not in found:
                found.append(annotation)
                for info in annotation.model_fields.values():
                    walk(info.annotation)
            return
        for argument in typing.get_args(annotation):
            walk(argument)

    walk(Scenario)
    walk(AmendmentsFile)
    return found


def holding(annotation: Any, value: float) -> Any:
    """A value of ``annotation`` with ``value`` in a float's place (NOTHING where it holds no float of its own)."""
    if annotation is float:
        return value
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        return next((v for a in arguments if (v := holding(a, value)) is not NOTHING), NOTHING)
    if origin in (list, tuple, set, frozenset) and arguments:
        inner = holding(arguments[0], value)
        return NOTHING if inner is NOTHING else [inner]
    if origin is dict and len(arguments) == 2:
        inner = holding(arguments[1], value)
        return NOTHING if inner is NOTHING else {"k": inner}
    return NOTHING


FLOAT_FIELDS = [(model, name) for model in user_models() for name, info in model.model_fields.items()
                if holding(info.annotation, 1.0) is not NOTHING]


def test_every_model_a_user_fills_in_refuses_non_finite_floats() -> None:
    models = user_models()
    assert len(models) > 40 and len(FLOAT_FIELDS) > 60  # every component's parameters were walked
    assert [m.__name__ for m in models if m.model_config.get("allow_inf_nan", True)] == []


@pytest.mark.parametrize("value", NON_FINITE, ids=["inf", "-inf", "nan"])
@pytest.mark.parametrize(("model", "name"), FLOAT_FIELDS, ids=[f"{m.__name__}.{n}" for m, n in FLOAT_FIELDS])
def test_each_float_field_refuses_inf_minus_inf_and_nan_at_its_path(model: type[BaseModel], name: str,
                                                                      value: float) -> None:
    data = {name: holding(model.model_fields[name].annotation, value)}
    with pytest.raises(Exception) as refused:
        model.model_validate(data)
    errors = refused.value.errors()
    assert any(e["type"] == "finite_number" and e["loc"][0] == name for e in errors), errors


@pytest.mark.parametrize("text", [".inf", "-.inf", ".nan", "inf", "-Infinity", "1e999"])
def test_a_non_finite_override_is_refused_naming_the_field(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    for path, shown in [("environment.regrowth", "environment.regrowth"), ("llm.temperature", "llm.temperature"),
                        ("population.0.sampling.temperature", "population[0].sampling.temperature"),
                        ("network.p", "network.p")]:
        assert main(["validate", str(COMMONS), "--set", f"{path}={text}"]) == 2
        err = capsys.readouterr().err
        assert f"--set {path}={text}: {shown}: Input should be a finite number" in err, err


def test_a_non_finite_number_in_a_scenario_file_is_refused_with_its_line(tmp_path: Path) -> None:
    text = COMMONS.read_text().replace("regrowth: 2.0", "regrowth: .inf")
    assert "regrowth: .inf" in text
    (tmp_path / "s.yaml").write_text(text)
    line = text.splitlines().index("  regrowth: .inf") + 1
    with pytest.raises(UserError, match=rf"s\.yaml, line {line}: environment\.regrowth: Input should be a finite"):
        load_scenario(tmp_path / "s.yaml")
    data = load_scenario(COMMONS).model_dump(mode="json")
    with pytest.raises(UserError, match=r"environment\.capacity: Input should be a finite number"):
        scenario_from_dict({**data, "environment": {**data["environment"], "capacity": math.inf}})


@pytest.mark.parametrize(("arguments", "message"), [
    (["--grid", "environment.regrowth=1.5,.inf"],
     "grid 'environment.regrowth': value Infinity: environment.regrowth: Input should be a finite number"),
    (["--range", "environment.regrowth=1,.inf", "--samples", "3"],
     "sample.ranges.environment.regrowth.high: Input should be a finite number"),
    (["--range", "environment.regrowth=-.inf,3", "--samples", "3"],
     "sample.ranges.environment.regrowth.low: Input should be a finite number"),
    (["--set", "sweep={replications: 2, sample: {n: 2, ranges: {environment.regrowth: [.nan, 3]}}}"],
     "sweep.sample.ranges.environment.regrowth.low: Input should be a finite number"),
])
def test_a_sweep_over_non_finite_values_is_refused_before_any_cell(
    arguments: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sweep", str(COMMONS), *arguments, "--out", str(tmp_path / "sweep"), "-q"]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "sweep").exists()
