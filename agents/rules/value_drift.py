"""Workers of the value-drift task: they do exactly what the specification rewards."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from agents.policy import RulePolicy, register_policy
from sim.step import Decision
from sim.theory.contracts import weighted_optimum


@register_policy("spec_optimiser", environments=("value_drift",))
class SpecOptimiser(RulePolicy):
    """Heads for the optimum of the specification it is rewarded by, s*_r, as fast as the task allows: it
    proposes s*_r − min_level, which the environment maps exactly onto s*_r. A citizen abstains."""

    def on_act(self, decision: Decision) -> BaseModel:
        if "allocation" not in decision.schema.model_fields:
            return decision.fallback
        public = decision.observation.public
        floor = public["min_level"]
        best = weighted_optimum(np.asarray(public["specification"], dtype=float), public["budget"], floor)
        return decision.schema(allocation=[float(x) for x in best - floor])
