"""A designer who updates the specification periodically: after every ``every`` steps it surveys society and
rewrites the environment's ``parameter`` to what the survey finds (an amendment, ``who: designer``, in force
from the next step). Between updates the specification stays as written: the release cycle of a system whose
objective is revised by its developers, the middle ground between a fixed specification and an assembly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pandas as pd
from pydantic import Field

from sim.amendments import Amendment
from sim.component import Params, Problem
from sim.environments.base import ENVIRONMENTS
from sim.institutions.base import INSTITUTIONS, Institution

if TYPE_CHECKING:
    from sim.scenario import Scenario
    from sim.step import StepContext


class DesignerParams(Params):
    every: int = Field(6, ge=1, description="Survey society and rewrite the specification after every this many "
                                            "steps.")
    parameter: str = Field("specification", description="The environment's parameter the designer rewrites.")


@INSTITUTIONS.register("designer")
class Designer(Institution):
    """Rewrites the environment's specification to society's surveyed values every few steps."""

    Params = DesignerParams
    environments = ("value_drift",)  # whose society can be surveyed (`surveyed`, `surveyed_parameters`)

    @classmethod
    def check(cls, params: DesignerParams, scenario: Scenario) -> Iterator[Problem]:
        surveyable = ENVIRONMENTS.get(scenario.environment.kind).surveyed_parameters
        if params.parameter not in surveyable:
            yield Problem(("parameter",), f"a survey of society can rewrite {', '.join(surveyable)}, not "
                          f"'{params.parameter}'")

    def setup(self) -> None:
        self.updates = 0

    def briefing(self) -> str:
        return (f"Designer: after every {self.params.every} step(s) the designers survey society and rewrite the "
                f"{self.params.parameter} to what society values then.")

    def enforce(self, ctx: StepContext) -> None:
        if ctx.step % self.params.every:
            return
        surveyed = self.model.environment.surveyed(self.params.parameter)
        if surveyed != self.model.amendments.setting("environment", self.params.parameter):
            self.model.amendments.apply(Amendment(step=ctx.step + 1, who="designer", target="environment",
                                                  set={self.params.parameter: surveyed}), record=False)
            self.updates += 1

    def summary(self, model_table: pd.DataFrame, agent_table: pd.DataFrame) -> dict[str, float]:
        return {"designer_updates": float(self.updates)}
