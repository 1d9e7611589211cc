"""Workers of the value-drift task: they do exactly what the specification rewards."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from agents.policy import POLICIES, ScriptedPolicy
from sim.step import Decision
from sim.theory.contracts import weighted_optimum


@POLICIES.register("spec_optimiser")
class SpecOptimiser(ScriptedPolicy):
    """A worker that heads for the optimum of the specification it is paid by.

    It proposes s*_r − min_level, which the environment maps exactly onto s*_r, so it gets there as fast as
    max_change allows. A citizen abstains."""

    environments = ("value_drift",)

    def on_act(self, decision: Decision) -> BaseModel:
        if "allocation" not in decision.schema.model_fields:
            return decision.fallback
        public = decision.observation.public
        floor = public["min_level"]
        best = weighted_optimum(np.asarray(public["specification"], dtype=float), public["budget"], floor)
        return decision.schema(allocation=[float(x) for x in best - floor])
