"""Schemas are built once per distinct set of bounds: agents share classes, changed bounds get their own."""

from __future__ import annotations

import pytest
from pydantic import Field, ValidationError, create_model

from sim.institutions.sanctions import punishment_json_schema, punishment_schema
from sim.model import SocietyModel
from sim.scenario import load_scenario
from sim.step import StepContext
from tests.helpers import commons

PUBLIC_GOODS = "scenarios/public_goods_rules.yaml"


def per_agent_punishment(max_points: int, targets: list[int]) -> type:
    """The class a punisher got before punishment schemas were shared: one field per target."""
    fields = {f"agent_{t}": (int, Field(0, ge=0, le=max_points, description=f"Punishment points you give agent {t}."))
              for t in targets}
    return create_model("Punishment", __doc__="Punishment points for each agent you may punish (0: none).", **fields)


@pytest.mark.parametrize(("max_points", "targets"), [(10, [2, 3, 4]), (3, [17, 1205, 9]), (1, [])])
def test_an_agents_json_schema_is_the_one_its_own_class_had(max_points: int, targets: list[int]) -> None:
    assert punishment_json_schema(max_points, targets) == per_agent_punishment(max_points, targets).model_json_schema()


def test_the_shared_punishment_class_bounds_points_and_ignores_other_keys() -> None:
    schema = punishment_schema(4)
    assert schema(agent_3=2, reason="they gave little").model_dump() == {"agent_3": 2}
    with pytest.raises(ValidationError):
        schema(agent_3=5)
    assert punishment_schema(4) is schema and punishment_schema(5) is not schema


def test_every_agent_of_a_phase_shares_one_schema_class() -> None:
    model = SocietyModel(load_scenario(PUBLIC_GOODS, ["population.1.count=40"]))
    schema_of = model.act_schemas()
    assert len({schema_of(a) for a in model.active_agents()}) == 1
    model.step()
    sanctions = model.institutions[0]
    asked = sanctions.open_phase(model.active_agents())
    assert len({sanctions.phase_schema(a) for a in asked}) == 1
    first = asked[0].unique_id
    properties = sanctions.phase_json_schema(asked[0])["properties"]
    assert properties.keys() == {f"agent_{t}" for t in sanctions.may_punish[first]}
    assert first not in sanctions.may_punish[first] and len(properties) == 3  # the rest of a group of four


def test_points_for_an_agent_one_may_not_punish_are_void() -> None:
    model = SocietyModel(load_scenario(PUBLIC_GOODS))
    model.step()
    sanctions = model.institutions[0]
    punisher = sanctions.open_phase(model.active_agents())[0].unique_id
    stranger = next(a.unique_id for a in model.active_agents()
                    if a.unique_id != punisher and a.unique_id not in sanctions.may_punish[punisher])
    void = punishment_schema(10)(**{f"agent_{stranger}": 5})
    ctx = StepContext(model.steps, {}, model.last_outcome, {"sanction": {punisher: void}})
    sanctions.enforce(ctx)
    assert ctx.events == [] and sanctions.step["points"] == 0


def test_a_changed_bound_builds_another_schema_and_the_old_one_is_reused() -> None:
    model = SocietyModel(commons([("sustainable", 4)], capacity=60))
    agent = model.active_agents()[0]
    at_60 = model.environment.action_schema(agent)
    assert at_60.model_json_schema()["properties"]["fish"]["maximum"] == 60
    model.environment.stock = 30
    at_30 = model.environment.action_schema(agent)
    assert at_30 is not at_60 and at_30.model_json_schema()["properties"]["fish"]["maximum"] == 30
    model.environment.stock = 60
    assert model.environment.action_schema(agent) is at_60
