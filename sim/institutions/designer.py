"""A designer who updates the specification periodically: after every ``every`` steps it surveys society and
rewrites the environment's ``parameter`` to what the survey finds (an amendment, ``who: designer``, in force
from the next step). Between updates the specification stays as written: the release cycle of a system whose
objective is revised by its developers, the middle ground between a fixed specification and an assembly."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import pandas as pd
from pydantic import Field

from sim.amendments import Amendment
from sim.component import Params
from sim.errors import UserError
from sim.institutions.base import Institution, register_institution

if TYPE_CHECKING:
    from sim.step import StepContext


@runtime_checkable
class Surveyed(Protocol):
    """An environment whose society can be asked what some of its parameters should be."""

    surveyed_parameters: tuple[str, ...]

    def surveyed(self, parameter: str) -> Any: ...


class DesignerParams(Params):
    every: int = Field(6, ge=1, description="Survey society and rewrite the specification after every this many "
                                            "steps.")
    parameter: str = Field("specification", description="The environment's parameter the designer rewrites.")


@register_institution("designer")
class Designer(Institution):
    """Rewrites the environment's specification to society's surveyed values every few steps."""

    Params = DesignerParams

    def configure(self) -> None:
        if not isinstance(self.model.environment, Surveyed):
            raise UserError(f"institutions: 'designer' needs an environment whose society can be surveyed "
                            f"(value_drift), not '{self.model.environment.kind}'")
        surveyable = self.model.environment.surveyed_parameters
        if self.params.parameter not in surveyable:
            raise UserError(f"institutions: 'designer' parameter '{self.params.parameter}': a survey of society can "
                            f"rewrite {', '.join(surveyable)}")

    def setup(self) -> None:
        self.updates = 0

    def rules(self) -> str:
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
