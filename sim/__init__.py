"""alignsim's engine: scenarios, the Mesa model, environments, institutions, metrics, runs and sweeps.

    from sim import load_scenario, run
    result = run(load_scenario("scenarios/commons_rules.yaml"))
    result.model        # a pandas DataFrame, one row per step

Names are imported lazily so that ``import sim`` stays fast and never loads vLLM.
"""

from __future__ import annotations

from sim.lazy import lazy_exports

_EXPORTS = {
    "load_scenario": "sim.scenario",
    "scenario_from_dict": "sim.scenario",
    "Scenario": "sim.scenario",
    "SocietyModel": "sim.model",
    "run": "sim.runner",
    "simulate": "sim.runner",
    "RunResult": "sim.runner",
    "UserError": "sim.errors",
    "sweep": "sim.sweeps.api",
    "read_results": "sim.sweeps.results",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
